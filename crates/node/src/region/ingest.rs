//! Ingest: events are checked against the catalog whole, stored in their
//! home region — here, or forwarded to the peer that homes them — and the
//! answer says exactly which parts were stored.

use std::collections::{BTreeMap, BTreeSet};

use policy::{Action, DecisionRequest, FieldRef};
use store::{Backend, Event};

use super::{IncomingEvent, IngestOutcome, NotStored, Region};
use crate::Error;
use crate::auth::Caller;

impl<B: Backend> Region<B> {
    /// Stores events homed here and forwards the others to their home
    /// regions; returns once every part is durably stored in its home or
    /// known not to be. Every part is checked against the catalog before
    /// any is stored or forwarded, so a batch with a bad event is refused
    /// whole; a part its home then refuses or cannot take is named in the
    /// outcome's `not_stored`, beside the parts that were stored. A
    /// forwarding peer may only send events homed here, and names the
    /// principal it forwards for (`on_behalf_of`): this region decides
    /// that principal's ingest under its own policy, as if it had been
    /// asked directly — a peer's credential is no licence to write here.
    pub async fn ingest(
        &self,
        caller: &Caller,
        on_behalf_of: Option<&str>,
        events: Vec<IncomingEvent>,
    ) -> Result<IngestOutcome, Error> {
        if events.is_empty() {
            return Err(Error::BadRequest("no events".into()));
        }
        let mut homes = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let home = self.home_of(&e.country).ok_or_else(|| {
                Error::BadRequest(format!("event {i}: country is homed by no region"))
            })?;
            homes.push(home.to_owned());
        }
        // The whole batch is checked against the catalog (which every
        // region shares) before anything is decided, stored or forwarded:
        // a bad event anywhere refuses the batch whole, naming its index.
        let events: Vec<Event> = events
            .into_iter()
            .map(|e| Event {
                user_id: e.user_id,
                country: e.country,
                dataset: e.dataset,
                record_id: e.record_id,
                time: e.time,
                fields: e.fields,
            })
            .collect();
        self.store.check(&events).map_err(rejected)?;
        if let Caller::Region(from) = caller
            && let Some(other) = homes.iter().find(|h| **h != self.id)
        {
            return Err(Error::BadRequest(format!(
                "region {from} forwarded events homed in {other}, not here"
            )));
        }
        let principal = self.acting_principal(caller, on_behalf_of)?;
        // The catalog check above knows every name.
        let fields: BTreeSet<FieldRef> = events
            .iter()
            .flat_map(|e| e.fields.keys().map(|f| FieldRef::new(&e.dataset, f)))
            .collect::<Result<_, _>>()
            .map_err(|e| Error::BadRequest(format!("an event's field: {e}")))?;
        self.decide_unlogged(&DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Ingest,
            region: self.id.clone(),
            fields: fields.into_iter().collect(),
            purpose: String::new(),
            destination: None,
            legal_basis: None,
            subject_count: 1,
        })?;
        let mut local = Vec::new();
        let mut remote: BTreeMap<String, Vec<IncomingEvent>> = BTreeMap::new();
        for (e, home) in events.into_iter().zip(homes) {
            if home == self.id {
                local.push(e);
            } else {
                remote.entry(home).or_default().push(IncomingEvent {
                    user_id: e.user_id,
                    country: e.country,
                    dataset: e.dataset,
                    record_id: e.record_id,
                    time: e.time,
                    fields: e.fields,
                });
            }
        }
        let mut outcome = IngestOutcome::default();
        // The local part first: if it cannot be stored, nothing is
        // forwarded.
        if !local.is_empty() {
            self.store
                .ingest(&self.id, &local)
                .await
                .map_err(rejected)?;
            outcome.regions.insert(self.id.clone(), local.len());
            outcome.accepted += local.len();
        }
        // One peer after another: a cluster has a handful of regions, and a
        // peer that is down must not keep the others from their events.
        for (home, events) in remote {
            let n = events.len();
            match self.forward(&home, principal, &events).await {
                Ok(()) => {
                    outcome.regions.insert(home, n);
                    outcome.accepted += n;
                }
                Err(e) => {
                    let refused = matches!(e, Error::BadRequest(_));
                    let outcome_of = if refused { "refused" } else { "unavailable" };
                    outcome.not_stored.insert(
                        home,
                        NotStored {
                            events: n,
                            outcome: outcome_of.into(),
                            detail: e.to_string(),
                        },
                    );
                }
            }
        }
        Ok(outcome)
    }

    /// Sends a part of an ingest to its home region, for `principal`.
    async fn forward(
        &self,
        home: &str,
        principal: &str,
        events: &[IncomingEvent],
    ) -> Result<(), Error> {
        let body = serde_json::json!({ "events": events });
        let (status, detail) = self.post_home(home, "/v1/ingest", principal, &body).await?;
        if status == 202 {
            return Ok(());
        }
        let detail = problem_detail(&detail);
        // Only a refusal of the events themselves is the caller's to fix;
        // a rate limit, or a peer that does not accept this node's
        // credential, is the cluster's state.
        if status == 400 || status == 413 {
            Err(Error::BadRequest(format!(
                "region {home} refused the events: {detail}"
            )))
        } else {
            Err(Error::PeerUnavailable {
                region: home.to_owned(),
                why: format!("answered {status}: {detail}"),
            })
        }
    }

    /// Posts `body` to the peer region `home` at `path` with this node's
    /// credential, on behalf of `principal` (whom the peer decides for
    /// under its own policy); returns the answer's status and body.
    pub(super) async fn post_home(
        &self,
        home: &str,
        path: &str,
        principal: &str,
        body: &impl serde::Serialize,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), Error> {
        let peer = self.peers.get(home).ok_or_else(|| Error::PeerUnavailable {
            region: home.to_owned(),
            why: "not in the cluster".into(),
        })?;
        let unavailable = |why: String| Error::PeerUnavailable {
            region: home.to_owned(),
            why,
        };
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::Internal(format!("encoding a forward: {e}")))?;
        let resp = self
            .http
            .post(format!("{}{path}", peer.url))
            .bearer_auth(&self.node_token)
            .header(ON_BEHALF_OF, principal)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        Ok((status, bytes.to_vec()))
    }

    /// The principal a request is decided for: the caller's own, or —
    /// for a peer region forwarding it — the one it names, which must be
    /// a principal of this region's policy (a peer's credential is no
    /// licence of its own).
    pub(super) fn acting_principal<'a>(
        &'a self,
        caller: &'a Caller,
        on_behalf_of: Option<&'a str>,
    ) -> Result<&'a str, Error> {
        match caller {
            Caller::Region(_) => on_behalf_of
                .filter(|p| self.bundle.principals.principals.contains_key(*p))
                .ok_or_else(|| {
                    Error::BadRequest(
                        "a forwarded request names the principal it is forwarded for, one of this region's policy (Residency-On-Behalf-Of)".into(),
                    )
                }),
            Caller::Principal(p) => {
                if on_behalf_of.is_some() {
                    return Err(Error::BadRequest(
                        "only a forwarding region names a principal it acts for".into(),
                    ));
                }
                Ok(p.as_str())
            }
        }
    }
}

/// The `detail` of a peer's problem document, or nothing.
pub(super) fn problem_detail(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// The header naming the principal a region forwards a request for.
pub const ON_BEHALF_OF: &str = "residency-on-behalf-of";

/// A store error of an ingest: a refusal is the caller's to fix.
fn rejected(e: store::Error) -> Error {
    match e {
        store::Error::Rejected(why) => Error::BadRequest(why),
        other => Error::Store(other),
    }
}
