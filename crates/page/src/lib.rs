//! The person's page (issue 20): one person's accesses in plain language —
//! who, from which country, what data, for which purpose, on which legal
//! basis, when, allowed or refused — with every receipt verified in the
//! person's own browser, by WebCrypto, against public keys pinned in the
//! page (never fetched from the region it checks).
//!
//! The page is plain HTML, CSS and JavaScript, in `assets/`, with no build
//! step and nothing loaded from elsewhere:
//!
//! | file | what |
//! |---|---|
//! | `verify.js` | the verifier: C2SP signed notes, checkpoints, cosignature/v1, tlog-proof receipts, RFC 6962 inclusion, canonical entry JSON, subject-set proofs |
//! | `accesses.js` | reads the configuration, renders the accesses (English, French), runs the verifier, marks each access |
//! | `accesses.css` | phone-first layout |
//! | `accesses.html` | the document, linking the three and holding an empty configuration block |
//!
//! Two ways to serve it:
//!
//! - [`render`]: one self-contained document, CSS and JavaScript inlined,
//!   the configuration in its `<script type="application/json"
//!   id="residency-page">` block. Write it to a file or answer it as
//!   `text/html`.
//! - Serve the four asset files ([`ASSETS`]) as they are, and fill the
//!   block of `accesses.html` with the JSON of [`Page::config`] (escaped
//!   as [`config_json`] does, so that no `</script>` can end it early).
//!
//! The configuration is `{"lang": "en"|"fr"|null, "log_key": vkey,
//! "witness_keys": [vkey…], "history": the answer of POST
//! /v1/subjects/accesses}`. The app must pin the keys from a source of its
//! own (its release, its configuration), not from the region.
//!
//! When the page is done, `<body>` carries `data-done="true"`,
//! `data-verified`, `data-unconfirmed`, `data-failed` and `data-verify-ms`;
//! each access element `data-log-index` and `data-status` (`verified`,
//! `unconfirmed`: no cosignature by a pinned witness, `failed`).
//! [`browser`] runs headless Chromium over a rendered page and reads them.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod browser;

use serde_json::{Value, json};

/// The verifier.
pub const VERIFY_JS: &str = include_str!("../assets/verify.js");
/// The renderer.
pub const ACCESSES_JS: &str = include_str!("../assets/accesses.js");
/// The style sheet.
pub const ACCESSES_CSS: &str = include_str!("../assets/accesses.css");
/// The document, linking the three.
pub const ACCESSES_HTML: &str = include_str!("../assets/accesses.html");

/// The asset files by name, for an app that serves them itself.
pub const ASSETS: [(&str, &str); 4] = [
    ("accesses.html", ACCESSES_HTML),
    ("accesses.css", ACCESSES_CSS),
    ("accesses.js", ACCESSES_JS),
    ("verify.js", VERIFY_JS),
];

const STYLE_LINK: &str = r#"<link rel="stylesheet" href="accesses.css">"#;
const VERIFY_TAG: &str = r#"<script src="verify.js"></script>"#;
const ACCESSES_TAG: &str = r#"<script src="accesses.js"></script>"#;
const CONFIG_BLOCK: &str = r#"<script type="application/json" id="residency-page">{}</script>"#;

/// One person's page.
#[derive(Clone, Debug)]
pub struct Page {
    /// `"en"` or `"fr"`; `None` follows the browser's language.
    pub lang: Option<String>,
    /// The region log's verifier key (`name+keyid+key`, type 0x01): the
    /// checkpoint's origin must be its name.
    pub log_key: String,
    /// The witnesses' verifier keys (cosignature/v1, type 0x04): a receipt
    /// is `verified` only with a valid cosignature by one of them.
    pub witness_keys: Vec<String>,
    /// The access-history API's answer (`{"accesses": [...]}`).
    pub history: Value,
}

impl Page {
    /// The page's configuration, as the `residency-page` block holds it.
    pub fn config(&self) -> Value {
        json!({
            "lang": self.lang,
            "log_key": self.log_key,
            "witness_keys": self.witness_keys,
            "history": self.history,
        })
    }
}

/// JSON for a `<script>` block: `<`, `>`, `&` and the line separators
/// escaped as `\u` and four hex digits (still the same JSON), so that neither `</script>`
/// nor `<!--` can appear in it.
pub fn config_json(config: &Value) -> String {
    let text = config.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The page as one self-contained HTML document: the style sheet and
/// both scripts inlined, the configuration in its block.
pub fn render(page: &Page) -> String {
    let config = format!(
        r#"<script type="application/json" id="residency-page">{}</script>"#,
        config_json(&page.config())
    );
    // One pass per marker; the inlined assets are ours and hold none of
    // the markers (a test checks).
    ACCESSES_HTML
        .replacen(STYLE_LINK, &format!("<style>\n{ACCESSES_CSS}</style>"), 1)
        .replacen(CONFIG_BLOCK, &config, 1)
        .replacen(VERIFY_TAG, &format!("<script>\n{VERIFY_JS}</script>"), 1)
        .replacen(
            ACCESSES_TAG,
            &format!("<script>\n{ACCESSES_JS}</script>"),
            1,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(history: Value) -> Page {
        Page {
            lang: Some("fr".into()),
            log_key: "log+00000000+AA==".into(),
            witness_keys: vec![],
            history,
        }
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&page(json!({"accesses": []})));
        for marker in [STYLE_LINK, VERIFY_TAG, ACCESSES_TAG, CONFIG_BLOCK] {
            assert!(!html.contains(marker), "{marker} left in the page");
        }
        assert!(!html.contains(" src=") && !html.contains(" href="));
        assert!(html.contains("ResidencyVerify") && html.contains("li.access"));
        for (name, text) in ASSETS {
            if name.ends_with(".js") || name.ends_with(".css") {
                assert!(!text.to_lowercase().contains("</script"), "{name}");
                assert!(!text.contains("fetch(") && !text.contains("XMLHttpRequest"));
            }
        }
        // The assets link nothing outside themselves.
        assert!(!ACCESSES_HTML.contains("//"));
    }

    #[test]
    fn no_data_can_close_the_script_block() {
        let evil = "</script><script>alert(1)</script><!--";
        let html = render(&page(json!({"accesses": [{"entry": {"purpose": evil}}]})));
        assert!(!html.contains(evil));
        assert_eq!(html.matches("</script>").count(), 3, "{html}");
        let start = html.find(r#"id="residency-page">"#).unwrap() + 20;
        let end = start + html[start..].find("</script>").unwrap();
        let back: Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(back["history"]["accesses"][0]["entry"]["purpose"], evil);
        assert_eq!(back["lang"], "fr");
    }
}
