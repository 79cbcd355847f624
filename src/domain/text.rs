//! Validation of the free-form values clients send: names, emails, phones, descriptions,
//! durations. Every check returns a [`DomainError::Invalid`] naming the field and the rule,
//! so a value that leaves this module is one the rest of the code may trust.

use super::DomainError;

/// Longest accepted name or title, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest accepted description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest accepted dedup key, in characters.
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// Longest email (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest accepted phone number, in characters.
pub const MAX_PHONE_CHARS: usize = 32;
/// The longest timeout a policy may name: seven days, in milliseconds.
pub const MAX_TIMEOUT_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// A required, trimmed, non-empty name of at most [`MAX_NAME_CHARS`] characters.
pub fn name(field: &str, raw: &str) -> Result<String, DomainError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters (got {chars})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An optional description: trimmed, empty becomes `None`, at most [`MAX_DESCRIPTION_CHARS`].
pub fn description(field: &str, raw: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let chars = value.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters (got {chars})"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// An email address: one `@`, a non-empty local part, a dotted domain, no spaces.
/// Deliberately not the full RFC 5322 grammar: it catches typos, not exotic valid forms.
pub fn email(field: &str, raw: &str) -> Result<String, DomainError> {
    let value = raw.trim();
    let bad = |why: &str| {
        Err(DomainError::invalid(
            field,
            format!("'{}' {why}", clip(value)),
        ))
    };
    if value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_EMAIL_CHARS {
        return bad(&format!("is longer than {MAX_EMAIL_CHARS} characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces");
    }
    let Some((local, domain)) = value.split_once('@') else {
        return bad("is not an email address (expected name@example.com)");
    };
    if local.is_empty() || domain.contains('@') {
        return bad("is not an email address (expected name@example.com)");
    }
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if !domain.contains('.') || !labels_ok {
        return bad("has no valid domain (expected name@example.com)");
    }
    Ok(value.to_owned())
}

/// An optional phone number: digits with the usual separators, 3 to 20 digits.
pub fn phone(field: &str, raw: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let allowed = |c: char| c.is_ascii_digit() || " +-().".contains(c);
    let digits = value.chars().filter(char::is_ascii_digit).count();
    if value.chars().count() > MAX_PHONE_CHARS || !value.chars().all(allowed) {
        return Err(DomainError::invalid(
            field,
            format!(
                "'{}' is not a phone number (digits, spaces and + - ( ) . only, at most {MAX_PHONE_CHARS} characters)",
                clip(value)
            ),
        ));
    }
    if !(3..=20).contains(&digits) {
        return Err(DomainError::invalid(
            field,
            format!("must have between 3 and 20 digits (got {digits})"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// An optional dedup key: trimmed, empty becomes `None`, at most [`MAX_DEDUP_KEY_CHARS`].
pub fn dedup_key(field: &str, raw: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_DEDUP_KEY_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_DEDUP_KEY_CHARS} characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// A timeout in milliseconds: at least 1 ms, at most [`MAX_TIMEOUT_MS`] (7 days).
pub fn timeout_ms(field: &str, value: i64) -> Result<u32, DomainError> {
    if value < 1 {
        return Err(DomainError::invalid(
            field,
            format!("must be a positive number of milliseconds (got {value})"),
        ));
    }
    if value > MAX_TIMEOUT_MS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most 7 days ({MAX_TIMEOUT_MS} ms), got {value}"),
        ));
    }
    // Fits: MAX_TIMEOUT_MS < u32::MAX.
    Ok(value as u32)
}

/// Echoed values are clipped so an error message stays readable and small.
fn clip(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        format!("{}…", value.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(name("name", "  Alice ").unwrap(), "Alice");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(200)).is_ok());
        assert!(name("name", &"x".repeat(201)).is_err());
        assert!(name("name", "a\u{0}b").is_err());
    }

    #[test]
    fn email_rejects_common_typos() {
        assert!(email("email", "alice@example.com").is_ok());
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "alice@@example.com",
            "alice@example..com",
        ] {
            assert!(email("email", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn phone_is_optional_but_checked() {
        assert_eq!(phone("phone", None).unwrap(), None);
        assert_eq!(phone("phone", Some(" ")).unwrap(), None);
        assert!(phone("phone", Some("+1 (555) 010-2030")).is_ok());
        assert!(phone("phone", Some("call me")).is_err());
        assert!(phone("phone", Some("12")).is_err());
    }

    #[test]
    fn timeout_bounds() {
        assert!(timeout_ms("t", 0).is_err());
        assert!(timeout_ms("t", -5).is_err());
        assert_eq!(timeout_ms("t", 1).unwrap(), 1);
        assert_eq!(
            timeout_ms("t", MAX_TIMEOUT_MS).unwrap() as i64,
            MAX_TIMEOUT_MS
        );
        assert!(timeout_ms("t", MAX_TIMEOUT_MS + 1).is_err());
    }

    #[test]
    fn error_names_the_field() {
        let DomainError::Invalid { field, .. } = email("email", "x").unwrap_err() else {
            panic!("expected Invalid");
        };
        assert_eq!(field, "email");
    }
}
