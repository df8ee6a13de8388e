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

/// Adjectives of generated visitor names (64: six bits of the visitor id).
const NAME_ADJECTIVES: [&str; 64] = [
    "Amber", "Azure", "Bold", "Brave", "Bright", "Calm", "Clever", "Coral", "Cosmic", "Crimson",
    "Curious", "Daring", "Dusky", "Eager", "Emerald", "Fancy", "Gentle", "Golden", "Happy",
    "Hazel", "Humble", "Indigo", "Ivory", "Jade", "Jolly", "Kind", "Lively", "Lucky", "Lunar",
    "Mellow", "Merry", "Misty", "Modest", "Noble", "Olive", "Patient", "Peachy", "Plucky",
    "Polite", "Proud", "Quick", "Quiet", "Rapid", "Rosy", "Ruby", "Rustic", "Sandy", "Scarlet",
    "Shy", "Silver", "Sleepy", "Snowy", "Solar", "Steady", "Sunny", "Swift", "Teal", "Tidy",
    "Velvet", "Vivid", "Warm", "Witty", "Zesty", "Zen",
];

/// Animals of generated visitor names (64: six more bits of the visitor id).
const NAME_ANIMALS: [&str; 64] = [
    "Albatross",
    "Alpaca",
    "Badger",
    "Beaver",
    "Bison",
    "Bobcat",
    "Camel",
    "Cheetah",
    "Crane",
    "Dingo",
    "Dolphin",
    "Eagle",
    "Falcon",
    "Ferret",
    "Finch",
    "Fox",
    "Gazelle",
    "Gecko",
    "Heron",
    "Hedgehog",
    "Ibis",
    "Jackal",
    "Jaguar",
    "Koala",
    "Lemur",
    "Leopard",
    "Lynx",
    "Magpie",
    "Marmot",
    "Meerkat",
    "Mink",
    "Moose",
    "Narwhal",
    "Newt",
    "Ocelot",
    "Orca",
    "Osprey",
    "Otter",
    "Owl",
    "Panda",
    "Panther",
    "Pelican",
    "Penguin",
    "Puffin",
    "Quail",
    "Rabbit",
    "Raccoon",
    "Raven",
    "Robin",
    "Salmon",
    "Seal",
    "Sparrow",
    "Stork",
    "Swan",
    "Tapir",
    "Tiger",
    "Toucan",
    "Turtle",
    "Viper",
    "Walrus",
    "Weasel",
    "Wolf",
    "Wombat",
    "Yak",
];

/// A readable name for a visitor who gave none ("Amber Otter"), the same for the same visitor
/// id everywhere, as other inboxes do. Derived from the id's last bytes (the random part of
/// a UUID v7), so it needs no storage; two visitors may share one (4,096 names), which is
/// why the id stays visible beside it for support.
pub fn generated_name(id: uuid::Uuid) -> String {
    let bytes = id.as_bytes();
    let adjective = NAME_ADJECTIVES[usize::from(bytes[15] % 64)];
    let animal = NAME_ANIMALS[usize::from(bytes[14] % 64)];
    format!("{adjective} {animal}")
}

#[cfg(test)]
mod generated_name_tests {
    use super::generated_name;

    #[test]
    fn the_same_id_gets_the_same_readable_name() {
        let id = uuid::Uuid::parse_str("0193a4c2-7d1e-7f00-8a3c-63c3db29ae87").expect("uuid");
        let name = generated_name(id);
        assert_eq!(name, generated_name(id));
        let words: Vec<&str> = name.split(' ').collect();
        assert_eq!(words.len(), 2, "{name}");
        assert!(
            words.iter().all(|w| w.chars().all(char::is_alphabetic)),
            "{name}"
        );
        let other = uuid::Uuid::parse_str("0193a4c2-7d1e-7f00-8a3c-63c3db29ae88").expect("uuid");
        assert_ne!(name, generated_name(other));
    }
}
