//! How people are reached: a user's contact methods and notification rules, and the
//! validation of every address and URL a page or webhook is sent to.

use serde::{Deserialize, Serialize};

use super::integration::IntegrationSecret;
use super::{ContactMethodId, DomainError, NotificationRuleId, Timestamp, UserId, text};

/// Most contact methods one user may have.
pub const MAX_CONTACT_METHODS: usize = 20;
/// Most notification rules one user may have.
pub const MAX_NOTIFICATION_RULES: usize = 20;
/// The longest delay a rule may wait after the page: one day.
pub const MAX_RULE_DELAY_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest URL accepted for a webhook or Slack target.
pub const MAX_URL_CHARS: usize = 2048;
/// The longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// What a contact method is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContactKind {
    /// An email address, reached over SMTP.
    Email,
    /// A Slack (or Mattermost) incoming-webhook URL.
    Slack,
    /// Any http(s) URL, sent the signed webhook envelope.
    Webhook,
}

impl ContactKind {
    /// The channel name recorded on pages sent through it.
    pub fn channel(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Slack => "slack",
            Self::Webhook => "webhook",
        }
    }
}

/// One way to reach a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMethod {
    /// Stable id.
    pub id: ContactMethodId,
    /// Whose it is.
    pub user_id: UserId,
    /// What it is.
    pub kind: ContactKind,
    /// What its owner calls it ("Work email", "Phone via Slack").
    pub name: String,
    /// The address or URL: a secret of its owner (read by them and by admins only).
    pub target: IntegrationSecret,
    /// `WEBHOOK` only: the HMAC-SHA256 key of `X-Klaxon-Signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<IntegrationSecret>,
    /// When it was added.
    pub created_at: Timestamp,
}

/// "Notify me on this contact method this long after I am paged."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRule {
    /// Stable id.
    pub id: NotificationRuleId,
    /// Whose it is.
    pub user_id: UserId,
    /// Where it sends.
    pub contact_method_id: ContactMethodId,
    /// How long after the page (0 ..= one day).
    pub delay_ms: i64,
    /// When it was added.
    pub created_at: Timestamp,
}

/// A validated contact method target, for its kind.
pub fn parse_target(kind: ContactKind, raw: &str) -> Result<String, DomainError> {
    match kind {
        ContactKind::Email => parse_email("target", raw),
        ContactKind::Slack | ContactKind::Webhook => {
            parse_http_url("target", raw).map(|url| url.to_string())
        }
    }
}

/// A contact method's name: 1 to 200 characters.
pub fn parse_name(raw: &str) -> Result<String, DomainError> {
    text::name("name", raw)
}

/// A rule's delay: 0 to one day.
pub fn parse_delay(raw: i64) -> Result<i64, DomainError> {
    if (0..=MAX_RULE_DELAY_MS).contains(&raw) {
        Ok(raw)
    } else {
        Err(DomainError::invalid(
            "delayMs",
            format!("must be 0 to {MAX_RULE_DELAY_MS} (one day); got {raw}"),
        ))
    }
}

/// An email address SMTP can take: one `@`, a non-empty local part and a dotted or
/// bracketed domain, no spaces, quotes or angle brackets, at most 254 characters.
pub fn parse_email(field: &str, raw: &str) -> Result<String, DomainError> {
    let address = raw.trim();
    let bad = |why: &str| DomainError::invalid(field, format!("{why}: expected name@example.com"));
    if address.is_empty() {
        return Err(bad("is empty"));
    }
    if address.chars().count() > MAX_EMAIL_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
    if address.parse::<lettre::Address>().is_err()
        || address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;".contains(c))
    {
        return Err(bad("is not an email address"));
    }
    Ok(address.to_owned())
}

/// An http(s) URL a page or webhook may be posted to. Loopback and private addresses are
/// allowed on purpose: a self-hosted Klaxon pages internal systems. Credentials in the URL
/// are refused (they would be shown to everyone who reads the target and logged by proxies).
pub fn parse_http_url(field: &str, raw: &str) -> Result<url::Url, DomainError> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| {
        DomainError::invalid(field, format!("is not a URL ({e}): expected https://..."))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DomainError::invalid(
            field,
            format!("must be an http or https URL, not {}:", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(DomainError::invalid(field, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DomainError::invalid(
            field,
            "must not carry a user name or password: put secrets in the path or use the signing secret",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            parse_email("e", " ada@example.com ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a b@example.com",
            "<a@b.c>",
            "a@b@c",
        ] {
            assert!(parse_email("e", bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(parse_email("e", &long).is_err());
    }

    #[test]
    fn urls() {
        for good in [
            "https://hooks.slack.com/services/T0/B0/xyz",
            "http://127.0.0.1:8080/hook",
            "http://10.0.0.7/hook?x=1",
            "http://[::1]:9/x",
        ] {
            assert!(parse_http_url("u", good).is_ok(), "{good} refused");
        }
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://user:pass@example.com/",
            "https://token@example.com/",
            "not a url",
            "",
        ] {
            assert!(parse_http_url("u", bad).is_err(), "{bad} accepted");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(parse_http_url("u", &long).is_err());
    }

    #[test]
    fn delays() {
        assert!(parse_delay(0).is_ok());
        assert!(parse_delay(MAX_RULE_DELAY_MS).is_ok());
        assert!(parse_delay(-1).is_err());
        assert!(parse_delay(MAX_RULE_DELAY_MS + 1).is_err());
    }
}
