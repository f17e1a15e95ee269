//! The one error type of this crate.

/// What can go wrong loading a policy bundle or deciding a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A TOML file does not parse or does not have the expected shape.
    #[error("{file}: {message}")]
    Config {
        /// The file.
        file: String,
        /// What is wrong, with line and column where the parser gives them.
        message: String,
    },
    /// Cedar policies or schema that do not parse or validate: one
    /// diagnostic per line, each `file:line:column: message`.
    #[error("invalid policies:\n{0}")]
    Policies(String),
    /// A reference between files that does not resolve (e.g. a principal
    /// located in a country the law table does not know).
    #[error("inconsistent configuration: {0}")]
    Inconsistent(String),
    /// A request naming datasets or fields the catalog does not have: their
    /// positions in the request's list (the names are the caller's text,
    /// so they are not repeated).
    #[error("unknown to the catalog: the request's field(s) at position(s) {}", positions(.0))]
    UnknownFields(Vec<usize>),
    /// A field reference that is not `dataset.field` (two catalog names:
    /// ASCII letters, digits, `_` and `-`). The text is not repeated.
    #[error("not dataset.field (ASCII letters, digits, '_' and '-')")]
    NotAFieldRef,
    /// A field reference longer than [`crate::FieldRef::MAX_BYTES`].
    #[error("longer than {} bytes", crate::FieldRef::MAX_BYTES)]
    FieldRefTooLong,
    /// A request that is malformed (e.g. an unknown region).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

fn positions(p: &[usize]) -> String {
    p.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
