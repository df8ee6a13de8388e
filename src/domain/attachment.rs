//! Files in conversations: the file name as shown, the type worked out from the content, the
//! account's allowed types and size limit, and which types may be shown inline.

use super::FieldError;

/// The default largest file: 10 MiB (DESIGN section 12).
pub const DEFAULT_MAX_FILE_BYTES: i64 = 10 * 1024 * 1024;
/// The most an account may allow per file: 100 MiB (an upload is held in memory while checked).
pub const MAX_MAX_FILE_BYTES: i64 = 100 * 1024 * 1024;
/// Longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Most files one message may carry.
pub const MAX_PER_MESSAGE: usize = 10;
/// Most entries of `allowed_types`.
const MAX_ALLOWED_TYPES: usize = 50;

/// The types files may have when the account has not chosen: images, PDF, plain text, zip
/// archives, office documents, audio and video. Not HTML, scripts or executables.
pub const DEFAULT_ALLOWED_TYPES: [&str; 12] = [
    "image/*",
    "application/pdf",
    "text/plain",
    "application/zip",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "audio/*",
    "video/*",
];

/// The raster image types a browser shows inline; every other type is served as a download.
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A file's name as shown: no path, no control characters, at most 200 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Keeps the last path segment of `raw` without control characters and quotes; a blank
    /// name becomes `file`.
    pub fn parse(raw: &str) -> Self {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last
            .chars()
            .filter(|c| !c.is_control() && *c != '"')
            .take(MAX_NAME_CHARS)
            .collect();
        let cleaned = cleaned.trim();
        if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
            Self("file".to_owned())
        } else {
            Self(cleaned.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The MIME type of `content`, from its bytes (magic numbers), never its name. Text that is an
/// SVG or HTML document is named so (to be refused or served as a download); other UTF-8 text
/// is `text/plain`; anything unknown `application/octet-stream`.
pub fn detect_type(content: &[u8]) -> String {
    if let Some(found) = infer::get(content) {
        let found = found.mime_type();
        if found != "text/xml" {
            return found.to_owned();
        }
    }
    let head = &content[..content.len().min(4096)];
    let Ok(text) = std::str::from_utf8(head).or_else(|error| {
        // A multi-byte character cut at 4 KiB is still text.
        std::str::from_utf8(&head[..error.valid_up_to()])
    }) else {
        return "application/octet-stream".to_owned();
    };
    if text.contains('\0') {
        return "application/octet-stream".to_owned();
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("<svg") {
        "image/svg+xml".to_owned()
    } else if lower.contains("<html")
        || lower.contains("<script")
        || lower.contains("<!doctype html")
    {
        "text/html".to_owned()
    } else if lower.trim_start().starts_with("<?xml") {
        "application/xml".to_owned()
    } else {
        "text/plain".to_owned()
    }
}

/// Whether a file of `content_type` is shown inline (a raster image) rather than downloaded.
pub fn shown_inline(content_type: &str) -> bool {
    INLINE_TYPES.contains(&content_type)
}

/// The account's allowed types: exact MIME types or `type/*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedTypes(Vec<String>);

impl Default for AllowedTypes {
    fn default() -> Self {
        Self(DEFAULT_ALLOWED_TYPES.map(str::to_owned).to_vec())
    }
}

impl AllowedTypes {
    /// Each entry `type/subtype` or `type/*` (lowercase, no spaces); `*/*` allows anything.
    pub fn parse(field: &str, raw: &[String]) -> Result<Self, FieldError> {
        if raw.is_empty() || raw.len() > MAX_ALLOWED_TYPES {
            return Err(FieldError::new(
                field,
                format!("must list 1 to {MAX_ALLOWED_TYPES} types"),
            ));
        }
        let mut types = Vec::with_capacity(raw.len());
        for entry in raw {
            let entry = entry.trim().to_ascii_lowercase();
            let valid = entry.split_once('/').is_some_and(|(kind, sub)| {
                let token = |part: &str| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.*".contains(c))
                };
                token(kind) && token(sub) && (kind != "*" || sub == "*")
            });
            if !valid {
                return Err(FieldError::new(
                    field,
                    format!("{entry:?} is not a MIME type such as image/png or image/*"),
                ));
            }
            types.push(entry);
        }
        Ok(Self(types))
    }

    /// From the stored JSON; none (or unreadable) is the default list.
    pub fn from_stored(stored: Option<&str>) -> Self {
        stored
            .and_then(|json| serde_json::from_str::<Vec<String>>(json).ok())
            .and_then(|list| Self::parse("allowed_types", &list).ok())
            .unwrap_or_default()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".to_owned())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn allows(&self, content_type: &str) -> bool {
        let kind = content_type.split('/').next().unwrap_or_default();
        self.0.iter().any(|allowed| {
            allowed == "*/*"
                || allowed == content_type
                || allowed
                    .strip_suffix("/*")
                    .is_some_and(|prefix| prefix == kind)
        })
    }
}

/// Checks an account's largest file size: 1 byte to 100 MiB.
pub fn parse_max_file_bytes(field: &str, raw: i64) -> Result<i64, FieldError> {
    if (1..=MAX_MAX_FILE_BYTES).contains(&raw) {
        Ok(raw)
    } else {
        Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_MAX_FILE_BYTES} bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_loses_its_path_and_control_characters() {
        assert_eq!(FileName::parse("../../etc/passwd").as_str(), "passwd");
        assert_eq!(FileName::parse("C:\\x\\a\"b\n.pdf").as_str(), "ab.pdf");
        assert_eq!(FileName::parse("  ").as_str(), "file");
        assert_eq!(FileName::parse("..").as_str(), "file");
    }

    #[test]
    fn the_type_comes_from_the_content_not_the_name() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(detect_type(png), "image/png");
        assert_eq!(detect_type(b"%PDF-1.4\n"), "application/pdf");
        assert_eq!(
            detect_type(b"<?xml version=\"1.0\"?><svg onload=\"alert(1)\"/>"),
            "image/svg+xml"
        );
        assert_eq!(
            detect_type(b"<svg><script>alert(1)</script></svg>"),
            "image/svg+xml"
        );
        assert_eq!(detect_type(b"<html><body>hi</body></html>"), "text/html");
        assert_eq!(detect_type(b"hello\nworld"), "text/plain");
        assert_eq!(detect_type(b"\0\x01\x02\x03"), "application/octet-stream");
    }

    #[test]
    fn only_raster_images_are_shown_inline() {
        assert!(shown_inline("image/png"));
        assert!(!shown_inline("image/svg+xml"));
        assert!(!shown_inline("text/html"));
    }

    #[test]
    fn allowed_types_match_exactly_or_by_family() {
        let allowed = AllowedTypes::default();
        assert!(allowed.allows("image/png"));
        assert!(allowed.allows("application/pdf"));
        assert!(!allowed.allows("text/html"));
        assert!(!allowed.allows("application/octet-stream"));
        let any = AllowedTypes::parse("t", &["*/*".to_owned()]).expect("valid");
        assert!(any.allows("text/html"));
        assert!(AllowedTypes::parse("t", &["pdf".to_owned()]).is_err());
        assert!(AllowedTypes::parse("t", &["*/png".to_owned()]).is_err());
        assert!(AllowedTypes::parse("t", &[]).is_err());
    }

    #[test]
    fn stored_types_round_trip_and_unreadable_ones_fall_back_to_the_default() {
        let types = AllowedTypes::parse("t", &["image/png".to_owned()]).expect("valid");
        assert_eq!(AllowedTypes::from_stored(Some(&types.to_stored())), types);
        assert_eq!(
            AllowedTypes::from_stored(Some("nope")),
            AllowedTypes::default()
        );
        assert_eq!(AllowedTypes::from_stored(None), AllowedTypes::default());
    }

    #[test]
    fn the_largest_file_is_between_one_byte_and_100_mib() {
        assert!(parse_max_file_bytes("m", 0).is_err());
        assert!(parse_max_file_bytes("m", MAX_MAX_FILE_BYTES + 1).is_err());
        assert_eq!(parse_max_file_bytes("m", 5), Ok(5));
    }
}
