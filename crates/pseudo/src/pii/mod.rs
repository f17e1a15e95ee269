//! PII detection.
