//! Replies that arrive by e-mail: a department answers a request letter from its own
//! mail client, and this module turns that raw message into what it says.

pub mod message;
mod quote;
