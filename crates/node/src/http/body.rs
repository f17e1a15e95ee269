//! Request bodies: read, then parsed into the request's types once, here.
//! A refusal names the place and the problem, never a value.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::Problem;

/// The body, or a problem naming what was wrong with it.
pub(super) fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Problem> {
    body.map_err(|r| {
        let status = r.status();
        let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the body is larger than this node accepts".to_owned()
        } else {
            r.body_text()
        };
        Problem::new(status, "bad-body", detail)
    })
}

/// Parses JSON into the request's types (a `dataset.field` into a
/// [`policy::FieldRef`], once, here); the message names the place and the
/// problem, never a value.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // Parsed once without tracking the path (a bulk ingest's events are
    // many thousand values); only a refused body is parsed again, to say
    // where.
    match serde_json::from_slice(bytes) {
        Ok(parsed) => Ok(parsed),
        Err(_) => parse_tracked(bytes),
    }
}

/// [`parse`] with the place of a refusal tracked.
fn parse_tracked<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // Residency's own parse errors name a shape, never the text
        // refused; serde's may quote it.
        let message = e.inner().to_string();
        let ours = [policy::Error::FieldRefTooLong, policy::Error::NotAFieldRef]
            .map(|e| e.to_string())
            .into_iter()
            .find(|ours| message.starts_with(ours.as_str()));
        let detail = match (ours, place(e.path())) {
            (Some(ours), Some(place)) => format!("{place}: {ours}"),
            (Some(ours), None) => ours,
            (None, _) => json_error(e.inner()),
        };
        Problem::new(StatusCode::BAD_REQUEST, "malformed", detail)
    })?;
    de.end()
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "malformed", json_error(&e)))?;
    Ok(parsed)
}

/// Where in a request body a value was refused, as a path like
/// `fields[2]` — named by the schema only: a key of a map the caller
/// chose (a filter's field names) is not repeated.
fn place(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut in_struct = true;
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                out.push_str(&format!("[{index}]"));
                in_struct = true;
            }
            // A struct's field (at the top, or an element of a list); a
            // key below one is a map's, the caller's.
            Segment::Map { key } if in_struct => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
                in_struct = false;
            }
            _ => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

pub(super) fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let msg = e.to_string();
    let at = format!("at line {} column {}", e.line(), e.column());
    match e.classify() {
        // These describe the JSON's shape, not a value in it.
        Category::Syntax | Category::Eof | Category::Io => msg,
        // Named by the schema, not by the caller.
        Category::Data
            if msg.starts_with("missing field") || msg.starts_with("duplicate field") =>
        {
            msg
        }
        // serde quotes the caller's field name.
        Category::Data if msg.starts_with("unknown field") => {
            format!("a field this request does not take {at} (see the OpenAPI document)")
        }
        // serde quotes offending values in "invalid type/value" messages.
        Category::Data => format!("a value has the wrong type or form {at}"),
    }
}
