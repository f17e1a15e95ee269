//! What is released about many subjects at once, k-anonymous, and its
//! one way back: re-identifying a reversible token, in the home region,
//! with a justification logged as a keyed digest.

use policy::{Action, DecisionRequest};
use pseudo::Transform;
use store::Backend;

use super::entries::{justification_digest, openings};
use super::release::{Naming, datasets_of};
use super::{AggregateAnswer, AggregateRequest, Now, Region, Reidentified, ReidentifyRequest};
use crate::Error;

impl<B: Backend> Region<B> {
    /// Counts of subjects grouped by fields of one dataset, k-anonymous.
    /// Every member's latest record is opened: the entry names them all
    /// (allowed or denied), so each one's export lists it.
    pub async fn aggregate(
        &self,
        principal: &str,
        req: AggregateRequest,
    ) -> Result<AggregateAnswer, Error> {
        let who = self.principal(principal)?;
        let datasets = datasets_of(&req.group_by);
        let [dataset] = datasets.as_slice() else {
            return Err(Error::BadRequest(
                "group_by needs fields of exactly one dataset".into(),
            ));
        };
        let now = Now::read();
        // Select: every subject of the dataset.
        let subjects = self.store.subjects_with(dataset).await?;
        // Decide.
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Aggregate,
            region: self.id.clone(),
            fields: req.group_by.clone(),
            purpose: req.purpose.clone(),
            destination: None,
            legal_basis: None,
            subject_count: subjects.len().max(1),
        };
        let d = self.decide(&dreq, now.date)?;
        let e = self.access_entry(&who, &dreq, &d, &now);
        if !d.allow {
            return Err(self.deny(e, &openings(subjects, 0)?).await);
        }
        // Read sealed, log, then open and transform.
        let payload = self.read_sealed(subjects, &e.datasets).await?;
        let logged = self
            .log_allowed(e, payload.openings, Some(&payload.sealed))
            .await?;
        let mut rows = Vec::with_capacity(payload.sealed.len());
        for (subject, mut records) in self.open_logged(&logged, payload.sealed).await? {
            // A subject counts once, with its latest record.
            let Some(latest) = records.pop() else {
                continue;
            };
            let mut withheld = 0;
            let r = self.transform(&d.plan, &subject, latest, &Naming::clear(), &mut withheld);
            let key: Vec<String> = req
                .group_by
                .iter()
                .map(|f| {
                    r.fields
                        .get(f.field())
                        .cloned()
                        .unwrap_or_else(|| "(none)".into())
                })
                .collect();
            rows.push(key);
        }
        let k = d.k.unwrap_or(pseudo::kanon::MIN_K);
        let table = pseudo::kanon::count_groups(rows, k)
            .map_err(|e| Error::Internal(format!("aggregate: {e}")))?;
        Ok(AggregateAnswer {
            log_index: logged.seq.index(),
            receipt: self.receipt(&logged.seq).await?,
            group_by: req.group_by,
            k: table.k,
            groups: table.groups,
            suppressed_groups: table.suppressed_groups,
            suppressed_subjects: table.suppressed_rows,
        })
    }

    /// Reverses a reversible token, with a justification, in-region only.
    pub async fn reidentify(
        &self,
        principal: &str,
        req: ReidentifyRequest,
    ) -> Result<Reidentified, Error> {
        let who = self.principal(principal)?;
        if req.justification.trim().is_empty() {
            return Err(Error::BadRequest(
                "a re-identification needs a justification".into(),
            ));
        }
        let field = self
            .bundle
            .catalog
            .field(req.field.dataset(), req.field.field())
            .ok_or_else(|| {
                Error::BadRequest("the field to re-identify is not in the catalog".into())
            })?;
        let domain = [
            &field.egress.same,
            &field.egress.adequate,
            &field.egress.other,
        ]
        .into_iter()
        .find_map(|t| match t {
            Transform::Reversible { domain } => Some(domain.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            Error::BadRequest("the field to re-identify never leaves as a reversible token".into())
        })?;
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Reidentify,
            region: self.id.clone(),
            fields: vec![req.field.clone()],
            purpose: policy::purpose::REIDENTIFICATION.into(),
            destination: None,
            legal_basis: None,
            subject_count: 1,
        };
        let now = Now::read();
        let d = self.decide(&dreq, now.date)?;
        let mut e = self.access_entry(&who, &dreq, &d, &now);
        e.justification_digest = Some(justification_digest(
            &self.justification_key,
            &req.justification,
        ));
        if !d.allow {
            return Err(self.deny(e, &[]).await);
        }
        let s = self.log_allowed(e, Vec::new(), None).await?.seq;
        let value = self.egress.siv.open(&domain, &req.token).map_err(|_| {
            Error::BadRequest("the token does not open with this region's key".into())
        })?;
        Ok(Reidentified {
            log_index: s.index(),
            receipt: self.receipt(&s).await?,
            value,
        })
    }
}
