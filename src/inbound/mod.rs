//! Replies that arrive by e-mail.

pub mod listener;
