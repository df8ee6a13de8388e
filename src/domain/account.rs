//! Accounts (tenants): their name and the website origins allowed to embed the widget.

use super::FieldError;
use std::fmt;

/// Most origins one account may list; enough for every storefront and staging site.
pub const MAX_ALLOWED_ORIGINS: usize = 50;

/// A non-empty display name of at most 100 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if value.chars().count() > 100 {
            return Err(FieldError::new(field, "must be at most 100 characters"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A web origin `scheme://host[:port]` (no path), lower-cased, as browsers send in `Origin`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AllowedOrigin(String);

impl AllowedOrigin {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().trim_end_matches('/').to_lowercase();
        let invalid = || {
            FieldError::new(
                field,
                format!(
                    "{raw:?} must be an origin such as https://shop.example.com (scheme and host, no path)"
                ),
            )
        };
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(invalid)?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
        if !host_ok || !port_ok {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    /// Parses a whole list: every problem is reported, each with its index.
    pub fn parse_list(field: &str, raws: &[String]) -> Result<Vec<Self>, Vec<FieldError>> {
        let mut origins = Vec::new();
        let mut errors = Vec::new();
        if raws.len() > MAX_ALLOWED_ORIGINS {
            errors.push(FieldError::new(
                field,
                format!("at most {MAX_ALLOWED_ORIGINS} origins"),
            ));
        }
        for (index, raw) in raws.iter().enumerate() {
            match Self::parse(&format!("{field}[{index}]"), raw) {
                Ok(origin) if !origins.contains(&origin) => origins.push(origin),
                Ok(_) => {}
                Err(error) => errors.push(error),
            }
        }
        if errors.is_empty() {
            Ok(origins)
        } else {
            Err(errors)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        let origin = AllowedOrigin::parse("d", " HTTPS://Shop.Example.com/ ").expect("valid");
        assert_eq!(origin.as_str(), "https://shop.example.com");
        assert!(AllowedOrigin::parse("d", "http://localhost:3000").is_ok());
    }

    #[test]
    fn paths_schemes_and_bad_ports_are_rejected() {
        for raw in [
            "shop.example.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://x.com:0",
            "https://x.com:99999",
            "https://",
            "https://a..b",
        ] {
            assert!(AllowedOrigin::parse("d", raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn a_list_reports_every_bad_entry_with_its_index_and_drops_duplicates() {
        let raws = vec![
            "https://a.com".to_owned(),
            "nope".to_owned(),
            "https://a.com".to_owned(),
            "x://".to_owned(),
        ];
        let errors = AllowedOrigin::parse_list("allowed_domains", &raws).expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["allowed_domains[1]", "allowed_domains[3]"]);
        let ok =
            AllowedOrigin::parse_list("d", &[raws[0].clone(), raws[0].clone()]).expect("valid");
        assert_eq!(ok.len(), 1);
    }

    #[test]
    fn account_names_are_trimmed_and_bounded() {
        assert_eq!(
            AccountName::parse("name", "  Acme ")
                .expect("valid")
                .as_str(),
            "Acme"
        );
        assert!(AccountName::parse("name", "   ").is_err());
        assert!(AccountName::parse("name", &"a".repeat(101)).is_err());
    }
}

/// How the widget looks on the account's website, and its text overrides.
pub mod widget {
    use super::FieldError;
    use std::collections::BTreeMap;

    /// Languages with text overrides, and overrides per language, kept small.
    pub const MAX_LANGUAGES: usize = 20;
    pub const MAX_TEXTS_PER_LANGUAGE: usize = 80;
    pub const MAX_TEXT_CHARS: usize = 300;

    /// A `#rrggbb` colour.
    pub fn parse_color(field: &str, raw: &str) -> Result<String, FieldError> {
        let value = raw.trim().to_lowercase();
        let valid = value.len() == 7
            && value.starts_with('#')
            && value[1..].chars().all(|c| c.is_ascii_hexdigit());
        if valid {
            Ok(value)
        } else {
            Err(FieldError::new(field, "must be a colour like #2f5bea"))
        }
    }

    pub fn parse_position(field: &str, raw: &str) -> Result<&'static str, FieldError> {
        match raw.trim() {
            "left" => Ok("left"),
            "right" => Ok("right"),
            _ => Err(FieldError::new(field, "must be left or right")),
        }
    }

    /// A title for the widget header; empty means "the account's name".
    pub fn parse_title(field: &str, raw: &str) -> Result<Option<String>, FieldError> {
        let value = raw.trim();
        if value.chars().count() > 60 {
            return Err(FieldError::new(field, "must be at most 60 characters"));
        }
        Ok((!value.is_empty()).then(|| value.to_owned()))
    }

    /// Text overrides `{language: {key: text}}`, e.g. `{"cs": {"title": "Napište nám"}}`.
    pub type Texts = BTreeMap<String, BTreeMap<String, String>>;

    pub fn check_texts(field: &str, texts: &Texts) -> Result<(), FieldError> {
        if texts.len() > MAX_LANGUAGES {
            return Err(FieldError::new(
                field,
                format!("at most {MAX_LANGUAGES} languages"),
            ));
        }
        for (language, entries) in texts {
            let language_ok = (2..=16).contains(&language.len())
                && language
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !language_ok {
                return Err(FieldError::new(
                    field,
                    format!("{language:?} is not a language code like en or cs"),
                ));
            }
            if entries.len() > MAX_TEXTS_PER_LANGUAGE {
                return Err(FieldError::new(
                    field,
                    format!("at most {MAX_TEXTS_PER_LANGUAGE} texts per language"),
                ));
            }
            for (key, text) in entries {
                if key.is_empty() || key.len() > 40 || text.chars().count() > MAX_TEXT_CHARS {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "{language}.{key}: keys are 1 to 40 characters, texts at most {MAX_TEXT_CHARS}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn colours_positions_titles_and_texts_are_checked() {
            assert_eq!(parse_color("c", "#2F5BEA").as_deref(), Ok("#2f5bea"));
            assert!(parse_color("c", "blue").is_err());
            assert!(parse_position("p", "top").is_err());
            assert_eq!(parse_title("t", "  "), Ok(None));
            let mut texts = Texts::new();
            texts
                .entry("cs".to_owned())
                .or_default()
                .insert("title".to_owned(), "Napište nám".to_owned());
            assert!(check_texts("texts", &texts).is_ok());
            texts.entry("<x>".to_owned()).or_default();
            assert!(check_texts("texts", &texts).is_err());
        }
    }
}
