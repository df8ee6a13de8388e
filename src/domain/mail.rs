//! What Frontdesk's emails say: subjects and plain-text bodies of the offline-message and
//! new-conversation notifications and of a visitor's transcript, as functions of their inputs.
//! User text never reaches a header unsanitised: `header_text` makes it one short line.

use chrono::{DateTime, Utc};

/// Longest subject, in characters (mail clients cut long subjects anyway).
const MAX_SUBJECT_CHARS: usize = 120;
/// Characters of the first message quoted in a new-conversation subject.
const SUBJECT_QUOTE_CHARS: usize = 60;

/// A subject and a plain-text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub body: String,
}

/// One line for a header: control characters (line breaks too) become spaces, runs of
/// whitespace one space, at most `max` characters (an ellipsis marks a cut).
pub fn header_text(raw: &str, max: usize) -> String {
    let line = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
        cut.push('\u{2026}');
        cut
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Who a visitor is, as a notification names them: "Ann (ann@example.com)".
fn visitor_label(name: Option<&str>, email: Option<&str>) -> String {
    match (name, email) {
        (Some(name), Some(email)) => format!("{name} ({email})"),
        (Some(name), None) => name.to_owned(),
        (None, Some(email)) => email.to_owned(),
        (None, None) => "A visitor".to_owned(),
    }
}

/// What a notification is about.
pub struct Notice<'a> {
    pub account_name: &'a str,
    pub visitor_name: Option<&'a str>,
    pub visitor_email: Option<&'a str>,
    pub text: &'a str,
    pub page_url: Option<&'a str>,
    /// The conversation in the inbox.
    pub link: &'a str,
    pub at: DateTime<Utc>,
}

fn notice_body(intro: &str, notice: &Notice<'_>, reply_hint: bool) -> String {
    let mut body = format!(
        "{intro}\n\nFrom: {}\nAt: {}\n",
        visitor_label(notice.visitor_name, notice.visitor_email),
        when(notice.at)
    );
    if let Some(url) = notice.page_url {
        body.push_str(&format!("Page: {url}\n"));
    }
    body.push_str(&format!(
        "\n{}\n\nOpen the conversation: {}\n",
        notice.text, notice.link
    ));
    if reply_hint {
        body.push_str("Replying to this email writes to the visitor directly.\n");
    }
    body.push_str(&format!("\n-- \nFrontdesk for {}\n", notice.account_name));
    body
}

/// A message left through the widget's offline form.
pub fn offline_message(notice: &Notice<'_>) -> Composed {
    let from = notice
        .visitor_email
        .or(notice.visitor_name)
        .unwrap_or("a visitor");
    Composed {
        subject: header_text(&format!("Offline message from {from}"), MAX_SUBJECT_CHARS),
        body: notice_body(
            "A visitor left a message while nobody was online.",
            notice,
            notice.visitor_email.is_some(),
        ),
    }
}

/// A visitor started a conversation.
pub fn new_conversation(notice: &Notice<'_>) -> Composed {
    let quote = header_text(notice.text, SUBJECT_QUOTE_CHARS);
    Composed {
        subject: header_text(
            &format!(
                "New conversation from {}: {quote}",
                notice.visitor_name.unwrap_or("a visitor")
            ),
            MAX_SUBJECT_CHARS,
        ),
        body: notice_body("A visitor started a conversation.", notice, false),
    }
}

/// One line of a transcript.
pub struct TranscriptLine<'a> {
    pub author: &'a str,
    pub text: &'a str,
    /// The files of the message, one line each (name, type, size and a link).
    pub files: Vec<String>,
    pub at: DateTime<Utc>,
}

/// The transcript a visitor asked for: every line they could see, oldest first.
pub fn transcript(
    account_name: &str,
    started_at: DateTime<Utc>,
    lines: &[TranscriptLine<'_>],
) -> Composed {
    let mut body = format!(
        "Here is your conversation with {account_name}, started {}.\n\n",
        when(started_at)
    );
    push_lines(&mut body, lines);
    body.push_str(&format!(
        "-- \nYou asked for this transcript in the chat on {account_name}'s website.\n"
    ));
    Composed {
        subject: header_text(
            &format!("Your conversation with {account_name}"),
            MAX_SUBJECT_CHARS,
        ),
        body,
    }
}

fn push_lines(body: &mut String, lines: &[TranscriptLine<'_>]) {
    for line in lines {
        body.push_str(&format!("[{}] {}:\n", when(line.at), line.author));
        for text_line in line.text.lines() {
            body.push_str(&format!("  {text_line}\n"));
        }
        for file in &line.files {
            body.push_str(&format!("  [file] {file}\n"));
        }
        body.push('\n');
    }
}

/// An agent answered a visitor who had left the chat: the conversation so far (every line
/// the visitor can see), and where to go on chatting (the page the widget was last on).
pub fn reply(
    account_name: &str,
    agent_name: &str,
    lines: &[TranscriptLine<'_>],
    chat_url: Option<&str>,
) -> Composed {
    let mut body = format!(
        "{agent_name} of {account_name} answered you in the chat. The conversation so far:\n\n"
    );
    push_lines(&mut body, lines);
    match chat_url {
        Some(url) => body.push_str(&format!(
            "-- \nContinue the chat: {url}\nReplying to this email reaches {account_name} too.\n"
        )),
        None => body.push_str(&format!(
            "-- \nReplying to this email reaches {account_name}.\n"
        )),
    }
    Composed {
        subject: header_text(
            &format!("{agent_name} of {account_name} replied to you"),
            MAX_SUBJECT_CHARS,
        ),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0)
            .single()
            .expect("valid date")
    }

    fn notice<'a>(text: &'a str) -> Notice<'a> {
        Notice {
            account_name: "Acme",
            visitor_name: Some("Ann"),
            visitor_email: Some("ann@example.com"),
            text,
            page_url: Some("https://shop.example.com/pricing"),
            link: "http://127.0.0.1:8080/inbox/42",
            at: at(),
        }
    }

    #[test]
    fn header_text_is_one_clipped_line() {
        assert_eq!(header_text("a\r\nBcc: x@y.z\tb", 100), "a Bcc: x@y.z b");
        assert_eq!(header_text("abcdef", 4), "abc\u{2026}");
        assert_eq!(header_text("  ", 10), "");
    }

    #[test]
    fn an_offline_message_names_the_visitor_and_links_the_inbox() {
        let mail = offline_message(&notice("Do you ship\nto Brno?"));
        assert_eq!(mail.subject, "Offline message from ann@example.com");
        assert!(mail.body.contains("Ann (ann@example.com)"));
        assert!(mail.body.contains("Do you ship\nto Brno?"));
        assert!(mail.body.contains("Page: https://shop.example.com/pricing"));
        assert!(mail.body.contains("http://127.0.0.1:8080/inbox/42"));
        assert!(mail.body.contains("2026-12-01 09:30 UTC"));
    }

    #[test]
    fn a_new_conversation_subject_quotes_the_first_line_only() {
        let mail = new_conversation(&notice("Hello\r\nBcc: evil@example.com"));
        assert!(!mail.subject.contains('\n') && !mail.subject.contains('\r'));
        assert_eq!(
            mail.subject,
            "New conversation from Ann: Hello Bcc: evil@example.com"
        );
    }

    #[test]
    fn a_transcript_lists_every_line_with_author_and_time() {
        let mail = transcript(
            "Acme",
            at(),
            &[
                TranscriptLine {
                    author: "You",
                    text: "Hi",
                    files: vec![
                        "invoice.pdf (application/pdf, 48 KB): https://x/files/1".to_owned(),
                    ],
                    at: at(),
                },
                TranscriptLine {
                    author: "Petra",
                    text: "Hello!\nHow can I help?",
                    files: Vec::new(),
                    at: at(),
                },
            ],
        );
        assert_eq!(mail.subject, "Your conversation with Acme");
        assert!(mail.body.contains("[2026-12-01 09:30 UTC] You:\n  Hi\n"));
        assert!(mail.body.contains("Petra:\n  Hello!\n  How can I help?\n"));
    }
}
