//! The progress bar of long commands (on stderr; hidden when it is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` steps, labelled `what`.
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
    )) {
        bar.set_style(style);
    }
    bar
}
