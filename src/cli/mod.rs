//! The binary's commands besides serving, one module each: reading and
//! checking what they are given, calling the library (the operator's
//! commands through its use cases, as the built-in operator principal), and
//! printing what came of it. `main.rs` parses the command line and hands
//! each its settings.

pub mod health;
pub mod import;
pub mod keys;
pub mod ledger;
pub mod outbox;
pub mod seed_data;
pub mod verify;

/// A value from the database as a terminal may print it.
pub use whistle::domain::text::for_terminal as shown;

/// Why the binary stops, with the exit code that tells scripts which kind.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

/// A mistake in the command line or the configuration.
pub const USAGE: u8 = 2;
/// Something failed while working: a database, a port, a mail folder.
pub const RUNTIME: u8 = 1;

impl Failure {
    pub fn usage(error: anyhow::Error) -> Failure {
        Failure { code: USAGE, error }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            code: RUNTIME,
            error,
        }
    }
}

/// An error and its causes on one line, `outer: inner: innermost`, without
/// the repetition some libraries put in: sqlx and hyper end a message with
/// the text of its own cause (`… does not exist at line 948: … does not
/// exist at line 948`, `tcp connect error: tcp connect error: …`), so a
/// cause whose text the line already ends with is left out. Debug would add
/// a backtrace, which helps nobody who typed a wrong path.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_cli_prints_cannot_forge_lines_or_reorder_text() {
        assert_eq!(shown("翠街哨〔2026〕0001号"), "翠街哨〔2026〕0001号");
        assert_eq!(shown("a\nb\r\x1b[31m"), "a\\u{a}b\\u{d}\\u{1b}[31m");
        assert_eq!(shown("x\u{202E}y"), "x\\u{202e}y");
    }
}
