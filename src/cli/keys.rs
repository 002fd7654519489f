//! `hash-key` and `new-key`: the digest of a bearer key for the
//! configuration, and a fresh key with the table that accepts it. Neither
//! reads the settings.

use std::io::{BufRead, IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine;
use clap::ValueEnum;
use whistle::grpc::auth::key_digest;

use super::Failure;

/// Prints the digest of `key`, or of the key on standard input.
pub fn hash_key(key: Option<String>) -> Result<ExitCode, Failure> {
    let key = match key {
        Some(key) => checked_key(key),
        None => key_from_stdin(),
    }
    .map_err(Failure::usage)?;
    println!("{}", key_digest(&key));
    Ok(ExitCode::SUCCESS)
}

/// Prints a new key for principal `name`, then its configuration.
pub fn make_key(name: &str, role: Option<NewKeyRole>) -> Result<ExitCode, Failure> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(Failure::usage(anyhow::anyhow!(
            "--name {name:?} cannot name a principal"
        )));
    }
    let key = new_key().context("asking the OS for random bytes")?;
    print!("{}", principal_snippet(&key, name, role));
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NewKeyRole {
    Office,
    Department,
    Supervisor,
}

/// The key piped in: a file, a password manager, `new-key`'s output. From a
/// terminal one line is enough (Enter ends it), although the key shows as it
/// is typed.
fn key_from_stdin() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if stdin.is_terminal() {
        eprint!("key (shown as typed; prefer a pipe): ");
        stdin.lock().read_line(&mut text)?;
    } else {
        stdin.lock().read_to_string(&mut text)?;
    }
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    checked_key(text.to_owned())
}

/// Refuses keys that could never authenticate, so nobody configures a digest
/// that no client can match.
fn checked_key(key: String) -> anyhow::Result<String> {
    if key.is_empty() {
        bail!("the key is empty: pipe it in, e.g. `whistle hash-key < key.txt`");
    }
    if key.contains(['\n', '\r']) {
        bail!("the key must be one line");
    }
    // The server trims the key it reads from the header.
    if key.trim() != key {
        bail!("the key starts or ends with white space, which clients cannot send");
    }
    // Keys travel in an HTTP/2 header, which takes printable ASCII only.
    if !key.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        bail!("the key must be printable ASCII: it travels in an HTTP header");
    }
    Ok(key)
}

/// 256 bits from the OS, as URL-safe base64 (43 characters, no padding).
fn new_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The key on the first line (its only copy), then the table to paste into the
/// configuration. What only the operator knows is left as a placeholder that
/// start-up refuses until it is filled in.
fn principal_snippet(key: &str, name: &str, role: Option<NewKeyRole>) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let table = if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    };
    let role_lines = match role {
        Some(NewKeyRole::Office) => {
            "role = \"office\"\noffice = \"OFFICE\"          # the code of its [offices.…] table\n"
        }
        Some(NewKeyRole::Department) => {
            "role = \"department\"\ndepartment = \"DEPARTMENT\"  # the code of its [departments.…] table\n"
        }
        Some(NewKeyRole::Supervisor) => "role = \"supervisor\"\n",
        None => "role = \"ROLE\"              # office, department or supervisor\n",
    };
    format!(
        "{key}\n\n# The key above is shown only now: hand it to its holder. Configuration:\n\
         [principals.{table}]\n{role_lines}key_sha256 = \"{digest}\"\n",
        digest = key_digest(key),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_no_client_could_send_are_refused() {
        assert_eq!(checked_key("k-1_x".into()).unwrap(), "k-1_x");
        for bad in ["", " k", "k ", "a\nb", "钥匙", "k\t"] {
            assert!(checked_key(bad.into()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn new_keys_are_256_bits_of_url_safe_text() {
        let key = new_key().unwrap();
        assert_eq!(key.len(), 43);
        assert_ne!(key, new_key().unwrap());
    }

    #[test]
    fn a_name_toml_cannot_take_bare_is_quoted() {
        let snippet = principal_snippet("k", "翠屏 office", Some(NewKeyRole::Supervisor));
        assert!(
            snippet.contains("[principals.\"翠屏 office\"]"),
            "{snippet}"
        );
    }
}
