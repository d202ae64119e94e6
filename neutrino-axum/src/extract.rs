//! Extractors for host handlers.
