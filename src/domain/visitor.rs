//! Visitors: the page they are on, their device and language, and contact details they give.

use super::FieldError;

/// Longest URL kept (browsers allow more, but nobody reads past this).
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest page title kept.
pub const MAX_TITLE_CHARS: usize = 512;
/// A new visit starts after this long without activity (Google Analytics' session rule).
pub const NEW_VISIT_AFTER_MINUTES: i64 = 30;

/// Cuts text to at most `max` characters.
pub fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A page a visitor is on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub url: String,
    pub title: Option<String>,
    pub referrer: Option<String>,
}

impl Page {
    /// Accepts what a browser reports, clipped to sane lengths; the URL must be http(s).
    pub fn parse(
        url: &str,
        title: Option<&str>,
        referrer: Option<&str>,
    ) -> Result<Self, FieldError> {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(FieldError::new("page.url", "must be an http or https URL"));
        }
        let non_empty = |text: Option<&str>, max| {
            text.map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| clip(t, max))
        };
        Ok(Self {
            url: clip(url, MAX_URL_CHARS),
            title: non_empty(title, MAX_TITLE_CHARS),
            referrer: non_empty(referrer, MAX_URL_CHARS),
        })
    }
}

/// The kind of device the widget runs on.
pub fn parse_device(raw: &str) -> Option<&'static str> {
    match raw.trim() {
        "desktop" => Some("desktop"),
        "mobile" => Some("mobile"),
        "tablet" => Some("tablet"),
        _ => None,
    }
}

/// A language tag such as `en` or `cs-CZ`, lower-cased; anything else is ignored.
pub fn parse_language(raw: &str) -> Option<String> {
    let value = raw.trim().to_lowercase();
    let valid = !value.is_empty()
        && value.len() <= 16
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
    valid.then_some(value)
}

/// A phone number: digits with optional +, spaces, dashes, dots and parentheses; 6 to 20 digits.
pub fn parse_phone(field: &str, raw: &str) -> Result<String, FieldError> {
    let value = raw.trim();
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    if allowed && (6..=20).contains(&digits) {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "must be a phone number like +420 777 123 456",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_need_http_urls_and_are_clipped() {
        assert!(Page::parse("javascript:alert(1)", None, None).is_err());
        let page = Page::parse(
            &format!("https://x.com/{}", "a".repeat(3000)),
            Some("  "),
            Some("https://g.com"),
        )
        .expect("valid");
        assert_eq!(page.url.chars().count(), MAX_URL_CHARS);
        assert_eq!(page.title, None);
        assert_eq!(page.referrer.as_deref(), Some("https://g.com"));
    }

    #[test]
    fn devices_languages_and_phones_parse() {
        assert_eq!(parse_device("mobile"), Some("mobile"));
        assert_eq!(parse_device("toaster"), None);
        assert_eq!(parse_language("cs-CZ").as_deref(), Some("cs-cz"));
        assert_eq!(parse_language("<script>"), None);
        assert!(parse_phone("phone", "+420 777 123 456").is_ok());
        assert!(parse_phone("phone", "call me").is_err());
    }
}
