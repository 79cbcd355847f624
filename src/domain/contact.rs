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

/// One user's contact methods and notification rules (the rules soonest first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserContacts {
    /// By creation.
    pub methods: Vec<ContactMethod>,
    /// By delay, then creation.
    pub rules: Vec<NotificationRule>,
}

impl UserContacts {
    /// A contact method of this user.
    pub fn method(&self, id: ContactMethodId) -> Option<&ContactMethod> {
        self.methods.iter().find(|m| m.id == id)
    }

    /// Adds a method (replacing one with the same id).
    pub fn add_method(&mut self, method: ContactMethod) {
        self.methods.retain(|m| m.id != method.id);
        self.methods.push(method);
    }

    /// Removes a method and every rule that sends to it.
    pub fn remove_method(&mut self, id: ContactMethodId) {
        self.methods.retain(|m| m.id != id);
        self.rules.retain(|r| r.contact_method_id != id);
    }

    /// Adds a rule, keeping the rules soonest first (ties by creation).
    pub fn add_rule(&mut self, rule: NotificationRule) {
        self.rules.retain(|r| r.id != rule.id);
        let index = self.rules.partition_point(|r| r.delay_ms <= rule.delay_ms);
        self.rules.insert(index, rule);
    }

    /// Removes a rule.
    pub fn remove_rule(&mut self, id: NotificationRuleId) {
        self.rules.retain(|r| r.id != id);
    }

    /// The rules whose contact method still exists, soonest first, with that method.
    pub fn plan(&self) -> impl Iterator<Item = (&NotificationRule, &ContactMethod)> {
        self.rules
            .iter()
            .filter_map(|r| self.method(r.contact_method_id).map(|m| (r, m)))
    }
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

    fn method(user_id: UserId, kind: ContactKind) -> ContactMethod {
        ContactMethod {
            id: ContactMethodId::new(),
            user_id,
            kind,
            name: "m".into(),
            target: IntegrationSecret("ada@example.com".into()),
            signing_secret: None,
            created_at: chrono::Utc::now(),
        }
    }

    fn rule(m: &ContactMethod, delay_ms: i64) -> NotificationRule {
        NotificationRule {
            id: NotificationRuleId::new(),
            user_id: m.user_id,
            contact_method_id: m.id,
            delay_ms,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn rules_stay_soonest_first_and_follow_their_method() {
        let user = UserId::new();
        let (email, slack) = (
            method(user, ContactKind::Email),
            method(user, ContactKind::Slack),
        );
        let mut contacts = UserContacts::default();
        contacts.add_method(email.clone());
        contacts.add_method(slack.clone());
        let late = rule(&slack, 120_000);
        let now = rule(&email, 0);
        let also_now = rule(&slack, 0);
        contacts.add_rule(late.clone());
        contacts.add_rule(now.clone());
        contacts.add_rule(also_now.clone());
        let order: Vec<_> = contacts.plan().map(|(r, _)| r.id).collect();
        assert_eq!(order, vec![now.id, also_now.id, late.id]);
        contacts.remove_method(slack.id);
        let order: Vec<_> = contacts.plan().map(|(r, _)| r.id).collect();
        assert_eq!(order, vec![now.id]);
        assert!(
            contacts
                .rules
                .iter()
                .all(|r| r.contact_method_id == email.id)
        );
    }

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
