//! What the monitor reports, computed from its verified state: a summary
//! (JSON), a server-rendered dashboard (HTML with inline SVG charts, no
//! JavaScript) and the record of transfers that GDPR Art. 30(1)(e) asks a
//! controller to keep, as JSON and CSV.
//!
//! - `summary`: the summary, computed from the verified state.
//! - `art30`: the Art. 30 record, as rows and as CSV.
//! - `html`: the dashboard page.
//! - `routes`: the HTTP interface that serves them.

mod art30;
mod html;
mod routes;
mod summary;

pub use art30::{Art30Transfer, art30_to_csv};
pub use html::dashboard;
pub use routes::router;
pub use summary::{LogStatus, Summary, TransferGroup};
