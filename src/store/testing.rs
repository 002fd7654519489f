//! Placeholder: fresh databases for tests.
