//! Replies that arrive by e-mail.

pub mod listener;
pub mod message;
mod quote;
