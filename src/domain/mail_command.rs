//! What an e-mail to a reply address asks for, as the inbound door read it
//! (签收, 阶段性答复 or 答复), and what was recorded of it. It lives here, not
//! beside the use case that takes it, because the receipt letter names it
//! too: both the use cases and the letters depend on the domain, never on
//! each other.

use serde::{Deserialize, Serialize};

use super::text::visible_controls;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailCommand {
    Acknowledge,
    Progress(String),
    Reply(String),
}

/// What an answer by mail was recorded as; the receipt names it. Stored in
/// letters waiting in the outbox under these names: keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Recorded {
    Acknowledged,
    ProgressNoted,
    Replied,
}

impl MailCommand {
    /// What the sender wrote; empty for an acknowledgement.
    pub fn text(&self) -> &str {
        match self {
            Self::Acknowledge => "",
            Self::Progress(text) | Self::Reply(text) => text,
        }
    }

    pub fn recorded(&self) -> Recorded {
        match self {
            Self::Acknowledge => Recorded::Acknowledged,
            Self::Progress(_) => Recorded::ProgressNoted,
            Self::Reply(_) => Recorded::Replied,
        }
    }

    /// The same command with bidirectional controls in its text written out
    /// (`[U+202E]`). A stranger's mail client is not refused for them the
    /// way a form is: the text is kept, and nobody reading it is misled.
    pub fn with_controls_shown(self) -> Self {
        match self {
            Self::Acknowledge => Self::Acknowledge,
            Self::Progress(text) => Self::Progress(visible_controls(&text)),
            Self::Reply(text) => Self::Reply(visible_controls(&text)),
        }
    }
}

impl Recorded {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledged => "ACKNOWLEDGED",
            Self::ProgressNoted => "PROGRESS_NOTED",
            Self::Replied => "REPLIED",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Self::Acknowledged => "签收",
            Self::ProgressNoted => "阶段性答复",
            Self::Replied => "答复",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_says_what_it_is_recorded_as_under_its_stored_name() {
        for (command, stored) in [
            (MailCommand::Acknowledge, "\"ACKNOWLEDGED\""),
            (MailCommand::Progress("在办".into()), "\"PROGRESS_NOTED\""),
            (MailCommand::Reply("已办结".into()), "\"REPLIED\""),
        ] {
            let recorded = command.recorded();
            assert_eq!(serde_json::to_string(&recorded).unwrap(), stored);
            assert_eq!(format!("\"{}\"", recorded.as_str()), stored);
        }
    }

    #[test]
    fn bidi_controls_in_mailed_text_are_written_out() {
        let shown = MailCommand::Reply("已办结\u{202E}fdp.exe".into()).with_controls_shown();
        assert_eq!(shown.text(), "已办结[U+202E]fdp.exe");
    }
}
