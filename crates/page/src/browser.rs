//! Headless Chromium over a rendered page: the tests', the benchmark's and
//! the demo's way to read what the person's browser concluded.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Chromium is installed, if it is (`/usr/bin/chromium` or
/// `/usr/bin/chromium-browser`).
pub fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// What the page says once done: `<body>`'s counts, and the DOM.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Receipts verified, cosigned by a pinned witness.
    pub verified: u64,
    /// Receipts valid but cosigned by no pinned witness.
    pub unconfirmed: u64,
    /// Receipts that did not verify.
    pub failed: u64,
    /// Milliseconds the page spent verifying (by the page's clock).
    pub verify_ms: u64,
    /// CSS pixels the page is wider than the window (0: no horizontal
    /// scroll).
    pub overflow_x: u64,
    /// The DOM as Chromium serialised it.
    pub dom: String,
}

/// How to wait for the page's promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Chromium's virtual time (`--virtual-time-budget`): waits for every
    /// pending task, reliably; the page's clock is then virtual too.
    Virtual,
    /// Real time: the page's `data-verify-ms` is wall-clock, for measuring.
    Real,
}

/// Runs headless Chromium on `html` (a file) and reads the page's verdict.
/// An error if Chromium fails or the page never finished.
pub fn verify(chromium: &Path, html: &Path, clock: Clock) -> std::io::Result<Verdict> {
    verify_sized(chromium, html, clock, None)
}

/// [`verify`] in a window of `width`×`height` CSS pixels.
pub fn verify_sized(
    chromium: &Path,
    html: &Path,
    clock: Clock,
    window: Option<(u32, u32)>,
) -> std::io::Result<Verdict> {
    let profile = tempfile::tempdir()?;
    let mut cmd = Command::new(chromium);
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    if let Some((w, h)) = window {
        cmd.arg(format!("--window-size={w},{h}"));
    }
    if clock == Clock::Virtual {
        cmd.arg("--virtual-time-budget=60000");
    }
    let out = cmd.arg(file_url(html)?).output()?;
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let body = body_tag(&dom).ok_or_else(|| {
        std::io::Error::other(format!(
            "chromium printed no <body> ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    })?;
    if attribute(body, "data-done").as_deref() != Some("true") {
        return Err(std::io::Error::other(format!(
            "the page did not finish verifying: {body}"
        )));
    }
    if let Some(e) = attribute(body, "data-error") {
        return Err(std::io::Error::other(format!("the page failed: {e}")));
    }
    let n = |name: &str| {
        attribute(body, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Verdict {
        verified: n("data-verified"),
        unconfirmed: n("data-unconfirmed"),
        failed: n("data-failed"),
        verify_ms: n("data-verify-ms"),
        overflow_x: n("data-overflow-x"),
        dom,
    })
}

/// Takes a screenshot of `html` at `width`×`height` CSS pixels into `png`.
pub fn screenshot(
    chromium: &Path,
    html: &Path,
    png: &Path,
    (width, height): (u32, u32),
) -> std::io::Result<()> {
    let profile = tempfile::tempdir()?;
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=60000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(file_url(html)?)
        .output()?;
    if !png.exists() {
        return Err(std::io::Error::other(format!(
            "chromium made no screenshot ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// `file://` URL of a file, its path made absolute.
pub fn file_url(path: &Path) -> std::io::Result<String> {
    let abs = std::path::absolute(path)?;
    let mut url = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(char::from(b))
            }
            _ => url.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(url)
}

/// The `<body …>` start tag of a serialised DOM.
fn body_tag(dom: &str) -> Option<&str> {
    let start = dom.find("<body")?;
    let end = start + dom[start..].find('>')?;
    Some(&dom[start..=end])
}

/// An attribute's value in a start tag (double-quoted, as Chromium writes).
pub fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\""),
    )
}

/// The start tags of the access elements (`<li class="access …">`), in
/// document order.
pub fn access_tags(dom: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find("<li class=\"access") {
        let Some(end) = rest[at..].find('>') else {
            break;
        };
        out.push(&rest[at..=at + end]);
        rest = &rest[at + end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_urls() {
        let dom = r#"<html><body data-done="true" data-verified="3"><li class="access deny failed" data-log-index="7" data-status="failed"></li>"#;
        let body = body_tag(dom).unwrap();
        assert_eq!(attribute(body, "data-verified").as_deref(), Some("3"));
        assert_eq!(attribute(body, "data-failed"), None);
        let tags = access_tags(dom);
        assert_eq!(tags.len(), 1);
        assert_eq!(attribute(tags[0], "data-log-index").as_deref(), Some("7"));
        assert_eq!(
            file_url(Path::new("/tmp/a b/p.html")).unwrap(),
            "file:///tmp/a%20b/p.html"
        );
    }
}
