//! Monitoring integrations and the alerts they send: the integration record (its key is a
//! secret that never prints), the alert kept with an incident, and the pure parsers that
//! turn a monitor's payload (PagerDuty Events API v2, Alertmanager and Grafana webhooks,
//! the generic form) into a [`Signal`] for the store.
//!
//! Pure: no I/O, no clock reads, no randomness (the edge passes `now` and a fresh key).
//! Every limit on what a request may make the server keep lives here.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ids::IntegrationId;
use super::{DomainError, NewIncident, ScheduleId, Severity, Timestamp, text};

/// Alerts kept with one incident: Alertmanager/Grafana keep the group's first ones,
/// PagerDuty and generic events the newest ones.
pub const MAX_ALERTS_PER_INCIDENT: usize = 100;
/// Most alerts one Alertmanager or Grafana notification may carry.
pub const MAX_ALERTS_PER_PAYLOAD: usize = 1_000;
/// Most labels (or annotations) on one alert, or in a group's common labels.
pub const MAX_LABELS: usize = 128;
/// Most extra fields kept with one alert (PagerDuty's `custom_details` flattened).
pub const MAX_FIELDS: usize = 128;
/// Most links kept with one alert.
pub const MAX_LINKS: usize = 32;
/// Longest label name or field key kept (longer ones are cut).
pub const MAX_KEY_CHARS: usize = 256;
/// Longest label, annotation or field value kept (longer ones are cut).
pub const MAX_VALUE_CHARS: usize = 4_096;
/// PagerDuty's `payload.summary`: 1 to 1024 characters.
pub const MAX_SUMMARY_CHARS: usize = 1_024;
/// Largest Events API v2 body, as PagerDuty documents it (512 KB).
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// An integration's key: 32 characters, like PagerDuty's routing keys.
pub const KEY_CHARS: usize = 32;
/// A Grafana HMAC secret's length bounds.
pub const MIN_SECRET_CHARS: usize = 16;
/// See [`MIN_SECRET_CHARS`].
pub const MAX_SECRET_CHARS: usize = 256;

/// Which monitor an integration is for; also the format of a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// PagerDuty's Events API v2 (`POST /v2/enqueue`).
    EventsApiV2,
    /// Prometheus Alertmanager's webhook (version 4).
    Alertmanager,
    /// Grafana's webhook contact point.
    Grafana,
    /// A JSON or form post with `summary`, `details`, `dedup`, `action`.
    Generic,
}

impl IntegrationKind {
    /// The lower-case name: metric labels, URL path segments.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventsApiV2 => "events_api_v2",
            Self::Alertmanager => "alertmanager",
            Self::Grafana => "grafana",
            Self::Generic => "generic",
        }
    }
}

/// A secret string (an integration's key, a webhook's HMAC secret). Stored, because admins
/// read keys back, but its `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntegrationSecret(pub String);

impl fmt::Debug for IntegrationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntegrationSecret(..)")
    }
}

/// A monitoring tool's way in: alerts sent with its key open incidents on its schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    /// Stable id.
    pub id: IntegrationId,
    /// Display name (also the actor name on the changes it makes).
    pub name: String,
    /// Which monitor it is for.
    pub kind: IntegrationKind,
    /// Where its incidents open (the service is the schedule's).
    pub schedule_id: ScheduleId,
    /// The routing key: 32 characters from the OS's random source.
    pub key: IntegrationSecret,
    /// Grafana: the HMAC-SHA256 secret its contact point signs with; when set, unsigned
    /// or badly signed posts are refused.
    #[serde(default)]
    pub secret: Option<IntegrationSecret>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was deleted (kept so alerts still name their kind).
    #[serde(default)]
    pub deleted_at: Option<Timestamp>,
}

/// Validates an integration's name.
pub fn parse_name(raw: &str) -> Result<String, DomainError> {
    text::name("name", raw)
}

/// Validates an HMAC secret (`None` or blank clears it).
pub fn parse_secret(raw: Option<&str>) -> Result<Option<IntegrationSecret>, DomainError> {
    let Some(secret) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let chars = secret.chars().count();
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&chars) {
        return Err(DomainError::invalid(
            "secret",
            format!("must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters (got {chars})"),
        ));
    }
    Ok(Some(IntegrationSecret(secret.to_owned())))
}

/// Whether an alert is still going on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Still firing.
    Firing,
    /// Over.
    Resolved,
}

/// A label, annotation or field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The name.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A link a monitor attached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLink {
    /// Where it goes.
    pub href: String,
    /// What it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One alert as a monitor sent it, kept with the incident it opened or folded into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The integration it came through.
    pub integration_id: IntegrationId,
    /// The format it came in.
    pub kind: IntegrationKind,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// One line.
    pub summary: String,
    /// The affected system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// As the monitor sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The monitor's identity of the alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Labels, by name.
    #[serde(default)]
    pub labels: Vec<KeyValue>,
    /// Annotations, by name.
    #[serde(default)]
    pub annotations: Vec<KeyValue>,
    /// Everything else, capped.
    #[serde(default)]
    pub fields: Vec<KeyValue>,
    /// Links (and images).
    #[serde(default)]
    pub links: Vec<AlertLink>,
    /// When it started, as the monitor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
    /// When it ended, as the monitor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
    /// When Klaxon received it.
    pub received_at: Timestamp,
}

/// A change to an incident's alerts, recorded with the incident change it came with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertUpdate {
    /// The alerts received.
    pub alerts: Vec<Arc<Alert>>,
    /// `true`: they replace the incident's list (a group's current alerts); `false`: they
    /// are appended, the oldest dropped past [`MAX_ALERTS_PER_INCIDENT`].
    pub replace: bool,
    /// Counts as a repeated trigger (`alertCount` + 1).
    pub fold: bool,
    /// Resolves the incident too.
    pub resolve: bool,
}

impl AlertUpdate {
    /// Applies the alert list part to `alerts`.
    pub fn merge_into(&self, alerts: &mut Vec<Arc<Alert>>) {
        if self.replace {
            *alerts = self.alerts.clone();
            alerts.truncate(MAX_ALERTS_PER_INCIDENT);
            return;
        }
        alerts.extend(self.alerts.iter().cloned());
        if alerts.len() > MAX_ALERTS_PER_INCIDENT {
            let extra = alerts.len() - MAX_ALERTS_PER_INCIDENT;
            alerts.drain(..extra);
        }
    }
}

/// What a monitor's payload asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Open an incident, or fold into the open one with the same dedup key.
    Trigger {
        /// The incident to open (its dedup key is always set).
        new: NewIncident,
        /// The alerts it carries.
        alerts: Vec<Alert>,
        /// Whether they replace the incident's list (a group) or add to it (an event).
        replace: bool,
    },
    /// Acknowledge the open incident with this key, if there is one.
    Acknowledge {
        /// The dedup key.
        dedup_key: String,
    },
    /// Resolve the open incident with this key, if there is one.
    Resolve {
        /// The dedup key.
        dedup_key: String,
        /// The group's alerts at resolution (empty for an event).
        alerts: Vec<Alert>,
    },
}

impl Signal {
    /// The dedup key it concerns.
    pub fn dedup_key(&self) -> &str {
        match self {
            Self::Trigger { new, .. } => new.dedup_key.as_deref().unwrap_or(""),
            Self::Acknowledge { dedup_key } | Self::Resolve { dedup_key, .. } => dedup_key,
        }
    }
}

/// Who sent a payload, and when it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// The integration whose key came with it.
    pub integration_id: IntegrationId,
    /// When.
    pub at: Timestamp,
}

// ---- shared helpers ---------------------------------------------------------------------

fn cut(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((end, _)) => value[..end].to_owned(),
        None => value.to_owned(),
    }
}

/// An incident title from a summary: one line, at most the title limit.
fn title_of(summary: &str) -> String {
    let one_line: String = summary
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() <= text::MAX_NAME_CHARS {
        return trimmed.to_owned();
    }
    let mut title = cut(trimmed, text::MAX_NAME_CHARS - 1);
    title.push('…');
    title
}

fn key_values(
    field: &str,
    map: Option<BTreeMap<String, String>>,
) -> Result<Vec<KeyValue>, DomainError> {
    let map = map.unwrap_or_default();
    if map.len() > MAX_LABELS {
        return Err(DomainError::invalid(
            field,
            format!("{} entries; at most {MAX_LABELS} are accepted", map.len()),
        ));
    }
    Ok(map
        .into_iter()
        .map(|(key, value)| KeyValue {
            key: cut(&key, MAX_KEY_CHARS),
            value: cut(&value, MAX_VALUE_CHARS),
        })
        .collect())
}

fn value_of<'a>(list: &'a [KeyValue], key: &str) -> Option<&'a str> {
    list.iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// A monitor's severity word to Klaxon's: critical/error → HIGH, warning → MEDIUM,
/// info → LOW. For webhooks, anything else (or nothing) is HIGH: an alert wakes someone
/// unless it says otherwise.
pub fn severity_of(word: Option<&str>) -> Severity {
    match word.map(|w| w.trim().to_ascii_lowercase()).as_deref() {
        Some("warning" | "warn" | "medium" | "minor") => Severity::Medium,
        Some("info" | "informational" | "low" | "none") => Severity::Low,
        _ => Severity::High,
    }
}

fn parse_time(raw: Option<&str>) -> Option<Timestamp> {
    let raw = raw?.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(raw)
        .or_else(|_| chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()?
        .with_timezone(&chrono::Utc);
    // Alertmanager's "no end" is the zero time.
    (chrono::Datelike::year(&parsed) > 1).then_some(parsed)
}

fn link(href: Option<&str>, text: Option<&str>) -> Option<AlertLink> {
    let href = href?.trim();
    if href.is_empty() {
        return None;
    }
    Some(AlertLink {
        href: cut(href, MAX_VALUE_CHARS),
        text: text
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| cut(t, MAX_KEY_CHARS)),
    })
}

/// SHA-256 hex of a group key: what Alertmanager's `pagerduty_configs` sends as
/// `dedup_key`, so one group is one incident whichever way it arrives.
pub fn group_dedup_key(group_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(group_key.as_bytes());
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

// ---- PagerDuty Events API v2 ------------------------------------------------------------

/// An Events API v2 event as sent (unknown fields are ignored, as PagerDuty does).
#[derive(Debug, Default, Deserialize)]
pub struct PagerDutyEvent {
    /// The integration key.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// `trigger`, `acknowledge` or `resolve`.
    #[serde(default)]
    pub event_action: Option<String>,
    /// The dedup key.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// The alert (trigger only).
    #[serde(default)]
    pub payload: Option<PagerDutyPayload>,
    /// Images.
    #[serde(default)]
    pub images: Option<Vec<PagerDutyImage>>,
    /// Links.
    #[serde(default)]
    pub links: Option<Vec<PagerDutyLink>>,
    /// The sending tool's name.
    #[serde(default)]
    pub client: Option<String>,
    /// The sending tool's URL.
    #[serde(default)]
    pub client_url: Option<String>,
}

/// `payload` of a trigger.
#[derive(Debug, Default, Deserialize)]
pub struct PagerDutyPayload {
    /// 1 to 1024 characters.
    #[serde(default)]
    pub summary: Option<String>,
    /// The affected system.
    #[serde(default)]
    pub source: Option<String>,
    /// critical, error, warning or info.
    #[serde(default)]
    pub severity: Option<String>,
    /// When the monitor saw it.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Component.
    #[serde(default)]
    pub component: Option<String>,
    /// Group.
    #[serde(default)]
    pub group: Option<String>,
    /// Class.
    #[serde(default)]
    pub class: Option<String>,
    /// Anything.
    #[serde(default)]
    pub custom_details: Option<serde_json::Value>,
}

/// An image.
#[derive(Debug, Default, Deserialize)]
pub struct PagerDutyImage {
    /// The image.
    #[serde(default)]
    pub src: Option<String>,
    /// Where clicking it goes.
    #[serde(default)]
    pub href: Option<String>,
    /// Its text.
    #[serde(default)]
    pub alt: Option<String>,
}

/// A link.
#[derive(Debug, Default, Deserialize)]
pub struct PagerDutyLink {
    /// Where.
    #[serde(default)]
    pub href: Option<String>,
    /// Its text.
    #[serde(default)]
    pub text: Option<String>,
}

/// Reads an Events API v2 body: `Err` holds PagerDuty-style error lines.
pub fn read_pagerduty(body: &[u8]) -> Result<PagerDutyEvent, Vec<String>> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(vec![format!(
            "The event is {} bytes; at most {MAX_EVENT_BYTES} bytes (512 KB) are accepted",
            body.len()
        )]);
    }
    serde_json::from_slice(body).map_err(|e| vec![format!("Event is not valid JSON: {e}")])
}

fn check_length(
    errors: &mut Vec<String>,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let value = value?;
    let chars = value.chars().count();
    if chars > max {
        errors.push(format!(
            "Length of '{field}' is incorrect (should be at most {max} characters, got {chars})"
        ));
        return None;
    }
    Some(value.to_owned())
}

/// Flattens `custom_details` into dotted keys (`custom_details.db.host`), capped.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<KeyValue>, depth: usize) {
    use serde_json::Value;
    if out.len() >= MAX_FIELDS {
        return;
    }
    match value {
        Value::Object(map) if depth < 8 && !map.is_empty() => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out, depth + 1);
            }
        }
        Value::Array(items) if depth < 8 && !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out, depth + 1);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push(KeyValue {
            key: cut(prefix, MAX_KEY_CHARS),
            value: cut(s, MAX_VALUE_CHARS),
        }),
        other => out.push(KeyValue {
            key: cut(prefix, MAX_KEY_CHARS),
            value: cut(&other.to_string(), MAX_VALUE_CHARS),
        }),
    }
}

/// Validates an event whose routing key was already matched. `made_key` makes the dedup
/// key of a trigger that has none (called only then). `Err` holds PagerDuty-style error
/// lines.
pub fn pagerduty_signal(
    event: PagerDutyEvent,
    made_key: impl FnOnce() -> String,
    received: Received,
) -> Result<Signal, Vec<String>> {
    let mut errors = Vec::new();
    let dedup_key = check_length(
        &mut errors,
        "dedup_key",
        event.dedup_key.as_deref().map(str::trim),
        text::MAX_DEDUP_KEY_CHARS,
    )
    .filter(|k| !k.is_empty());
    let action = event.event_action.as_deref().map(str::trim);
    match action {
        Some("acknowledge" | "resolve") => {
            let Some(dedup_key) = dedup_key else {
                if errors.is_empty() {
                    errors.push(
                        "'dedup_key' is missing: acknowledge and resolve events need the dedup_key of the alert"
                            .into(),
                    );
                }
                return Err(errors);
            };
            return Ok(if action == Some("acknowledge") {
                Signal::Acknowledge { dedup_key }
            } else {
                Signal::Resolve {
                    dedup_key,
                    alerts: Vec::new(),
                }
            });
        }
        Some("trigger") => {}
        None => {
            errors.push(
                "'event_action' is missing (should be trigger, acknowledge or resolve)".into(),
            );
            return Err(errors);
        }
        Some(other) => {
            errors.push(format!(
                "'event_action' is invalid: '{}' (should be trigger, acknowledge or resolve)",
                cut(other, 64)
            ));
            return Err(errors);
        }
    }
    let Some(payload) = event.payload else {
        errors.push("'payload' is missing: a trigger needs payload.summary, payload.source and payload.severity".into());
        return Err(errors);
    };
    let summary = payload.summary.as_deref().map(str::trim).unwrap_or("");
    let summary_chars = summary.chars().count();
    if summary_chars == 0 {
        errors.push("'payload.summary' is missing".into());
    } else if summary_chars > MAX_SUMMARY_CHARS {
        errors.push(format!(
            "Length of 'payload.summary' is incorrect (should be 1 to {MAX_SUMMARY_CHARS} characters, got {summary_chars})"
        ));
    }
    let source = payload.source.as_deref().map(str::trim).unwrap_or("");
    if source.is_empty() {
        errors.push("'payload.source' is missing".into());
    }
    let source = check_length(
        &mut errors,
        "payload.source",
        Some(source),
        MAX_SUMMARY_CHARS,
    );
    let severity_word = payload.severity.as_deref().map(str::trim);
    let severity = match severity_word {
        Some("critical" | "error") => Some(Severity::High),
        Some("warning") => Some(Severity::Medium),
        Some("info") => Some(Severity::Low),
        None | Some("") => {
            errors.push(
                "'payload.severity' is missing (should be critical, error, warning or info)".into(),
            );
            None
        }
        Some(other) => {
            errors.push(format!(
                "'payload.severity' is invalid: '{}' (should be critical, error, warning or info)",
                cut(other, 64)
            ));
            None
        }
    };
    let mut fields = Vec::new();
    for (name, value) in [
        ("component", &payload.component),
        ("group", &payload.group),
        ("class", &payload.class),
        ("client", &event.client),
        ("timestamp", &payload.timestamp),
    ] {
        let field = if name == "client" {
            name.to_owned()
        } else {
            format!("payload.{name}")
        };
        if let Some(value) = check_length(&mut errors, &field, value.as_deref(), MAX_SUMMARY_CHARS)
            .filter(|v| !v.trim().is_empty())
        {
            fields.push(KeyValue {
                key: name.to_owned(),
                value,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Some(details) = &payload.custom_details {
        flatten("custom_details", details, &mut fields, 0);
    }
    let mut links: Vec<AlertLink> = event
        .links
        .unwrap_or_default()
        .iter()
        .filter_map(|l| link(l.href.as_deref(), l.text.as_deref()))
        .take(MAX_LINKS)
        .collect();
    for image in event.images.unwrap_or_default().iter() {
        if links.len() >= MAX_LINKS {
            break;
        }
        let href = image.href.as_deref().or(image.src.as_deref());
        links.extend(link(href, image.alt.as_deref().or(Some("image"))));
    }
    if links.len() < MAX_LINKS {
        links.extend(link(event.client_url.as_deref(), event.client.as_deref()));
    }
    let dedup_key = dedup_key.unwrap_or_else(made_key);
    let alert = Alert {
        integration_id: received.integration_id,
        kind: IntegrationKind::EventsApiV2,
        status: AlertStatus::Firing,
        summary: summary.to_owned(),
        source,
        severity: severity_word.map(str::to_owned),
        fingerprint: Some(dedup_key.clone()),
        labels: Vec::new(),
        annotations: Vec::new(),
        fields,
        links,
        starts_at: parse_time(payload.timestamp.as_deref()),
        ends_at: None,
        received_at: received.at,
    };
    Ok(Signal::Trigger {
        new: NewIncident {
            title: title_of(summary),
            description: None,
            severity: severity.unwrap_or(Severity::High),
            dedup_key: Some(dedup_key),
        },
        alerts: vec![alert],
        replace: false,
    })
}

// ---- Alertmanager and Grafana webhooks -----------------------------------------------

/// Alertmanager's webhook payload (version 4); Grafana's contact point sends the same
/// shape with `title`, `state`, `message` and `orgId` added.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// The receiver's name.
    #[serde(default)]
    pub receiver: Option<String>,
    /// `firing` or `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// The group's alerts.
    #[serde(default)]
    pub alerts: Option<Vec<WebhookAlert>>,
    /// The labels the group is made by.
    #[serde(default)]
    pub group_labels: Option<BTreeMap<String, String>>,
    /// Labels every alert has.
    #[serde(default)]
    pub common_labels: Option<BTreeMap<String, String>>,
    /// Annotations every alert has.
    #[serde(default)]
    pub common_annotations: Option<BTreeMap<String, String>>,
    /// The sender's address.
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    /// `"4"`.
    #[serde(default)]
    pub version: Option<String>,
    /// Identifies the group.
    #[serde(default)]
    pub group_key: Option<String>,
    /// Alerts left out by `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: Option<u64>,
    /// Grafana: the notification's title.
    #[serde(default)]
    pub title: Option<String>,
    /// Grafana: `alerting`, `ok`, ...
    #[serde(default)]
    pub state: Option<String>,
    /// Grafana: the rendered message.
    #[serde(default)]
    pub message: Option<String>,
    /// Grafana: the organization.
    #[serde(default)]
    pub org_id: Option<i64>,
}

/// One alert of a webhook payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// Its labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Its annotations.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    /// When it started.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// When it ended (the zero time while firing).
    #[serde(default)]
    pub ends_at: Option<String>,
    /// The rule's page.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Its identity.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Grafana: silence it.
    #[serde(default, rename = "silenceURL")]
    pub silence_url: Option<String>,
    /// Grafana: its dashboard.
    #[serde(default, rename = "dashboardURL")]
    pub dashboard_url: Option<String>,
    /// Grafana: its panel.
    #[serde(default, rename = "panelURL")]
    pub panel_url: Option<String>,
    /// Grafana: the values that fired it.
    #[serde(default)]
    pub value_string: Option<String>,
}

fn status_of(field: &str, raw: Option<&str>) -> Result<AlertStatus, DomainError> {
    match raw.map(str::trim) {
        Some("firing") => Ok(AlertStatus::Firing),
        Some("resolved") => Ok(AlertStatus::Resolved),
        Some(other) => Err(DomainError::invalid(
            field,
            format!("'{}' is not firing or resolved", cut(other, 64)),
        )),
        None => Err(DomainError::invalid(
            field,
            "is missing (firing or resolved)",
        )),
    }
}

/// Reads an Alertmanager or Grafana webhook body (`kind` says which) into a signal: one
/// incident per group (`groupKey`), `firing` opens or folds and replaces the alert list,
/// `resolved` resolves.
pub fn webhook_signal(
    kind: IntegrationKind,
    body: &[u8],
    received: Received,
) -> Result<Signal, DomainError> {
    let payload: WebhookPayload = serde_json::from_slice(body)
        .map_err(|e| DomainError::invalid("body", format!("not a webhook payload: {e}")))?;
    let status = status_of("status", payload.status.as_deref())?;
    let group_key = payload
        .group_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| DomainError::invalid("groupKey", "is missing"))?;
    let raw_alerts = payload.alerts.unwrap_or_default();
    if raw_alerts.len() > MAX_ALERTS_PER_PAYLOAD {
        return Err(DomainError::invalid(
            "alerts",
            format!(
                "{} alerts; at most {MAX_ALERTS_PER_PAYLOAD} are accepted (set max_alerts)",
                raw_alerts.len()
            ),
        ));
    }
    let group_labels = key_values("groupLabels", payload.group_labels)?;
    let common_labels = key_values("commonLabels", payload.common_labels)?;
    let common_annotations = key_values("commonAnnotations", payload.common_annotations)?;
    let mut alerts = Vec::with_capacity(raw_alerts.len().min(MAX_ALERTS_PER_INCIDENT));
    let mut firing = 0usize;
    for (i, raw) in raw_alerts.into_iter().enumerate() {
        let alert_status = status_of(&format!("alerts[{i}].status"), raw.status.as_deref())?;
        let labels = key_values(&format!("alerts[{i}].labels"), raw.labels)?;
        let annotations = key_values(&format!("alerts[{i}].annotations"), raw.annotations)?;
        if alert_status == AlertStatus::Firing {
            firing += 1;
        }
        if alerts.len() >= MAX_ALERTS_PER_INCIDENT {
            continue;
        }
        let summary = value_of(&annotations, "summary")
            .or_else(|| value_of(&labels, "alertname"))
            .unwrap_or("alert")
            .to_owned();
        let mut links = Vec::new();
        links.extend(link(raw.generator_url.as_deref(), Some("Source")));
        links.extend(link(raw.dashboard_url.as_deref(), Some("Dashboard")));
        links.extend(link(raw.panel_url.as_deref(), Some("Panel")));
        links.extend(link(raw.silence_url.as_deref(), Some("Silence")));
        let mut fields = Vec::new();
        if let Some(values) = raw.value_string.as_deref().filter(|v| !v.trim().is_empty()) {
            fields.push(KeyValue {
                key: "valueString".into(),
                value: cut(values, MAX_VALUE_CHARS),
            });
        }
        alerts.push(Alert {
            integration_id: received.integration_id,
            kind,
            status: alert_status,
            summary: cut(&summary, MAX_SUMMARY_CHARS),
            source: value_of(&labels, "instance").map(str::to_owned),
            severity: value_of(&labels, "severity").map(str::to_owned),
            fingerprint: raw
                .fingerprint
                .as_deref()
                .map(|f| cut(f.trim(), MAX_KEY_CHARS))
                .filter(|f| !f.is_empty()),
            labels,
            annotations,
            fields,
            links,
            starts_at: parse_time(raw.starts_at.as_deref()),
            ends_at: parse_time(raw.ends_at.as_deref()),
            received_at: received.at,
        });
    }
    let dedup_key = group_dedup_key(group_key);
    if status == AlertStatus::Resolved {
        return Ok(Signal::Resolve { dedup_key, alerts });
    }
    let title = value_of(&common_annotations, "summary")
        .map(str::to_owned)
        .or_else(|| {
            payload
                .title
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            let by: Vec<&str> = group_labels.iter().map(|kv| kv.value.as_str()).collect();
            let name = if by.is_empty() {
                value_of(&common_labels, "alertname").unwrap_or("alerts")
            } else {
                ""
            };
            format!("[FIRING:{firing}] {}{name}", by.join(" "))
        });
    let description = value_of(&common_annotations, "description")
        .or(payload.message.as_deref().filter(|m| !m.trim().is_empty()))
        .map(|d| cut(d, text::MAX_DESCRIPTION_CHARS));
    let severity = severity_of(
        value_of(&common_labels, "severity")
            .or_else(|| alerts.first().and_then(|a| a.severity.as_deref())),
    );
    Ok(Signal::Trigger {
        new: NewIncident {
            title: title_of(&title),
            description,
            severity,
            dedup_key: Some(dedup_key),
        },
        alerts,
        replace: true,
    })
}

// ---- generic ------------------------------------------------------------------------------

/// The generic endpoint's fields, from JSON or a form.
#[derive(Debug, Default)]
pub struct GenericEvent {
    /// The title (required to open).
    pub summary: Option<String>,
    /// The description.
    pub details: Option<String>,
    /// The dedup key.
    pub dedup: Option<String>,
    /// `close` resolves.
    pub action: Option<String>,
    /// Optional severity word.
    pub severity: Option<String>,
}

impl GenericEvent {
    /// From a JSON object: strings, except `details`, which may be any JSON (kept as text).
    pub fn from_json(body: &[u8]) -> Result<Self, DomainError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| DomainError::invalid("body", format!("not valid JSON: {e}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(DomainError::invalid("body", "must be a JSON object"));
        };
        let string = |name: &str| -> Result<Option<String>, DomainError> {
            match map.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(DomainError::invalid(name, "must be a string")),
            }
        };
        let details = match map.get("details") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        Ok(Self {
            summary: string("summary")?,
            details,
            dedup: string("dedup")?,
            action: string("action")?,
            severity: string("severity")?,
        })
    }

    /// From `application/x-www-form-urlencoded` (or a query string).
    pub fn from_form(body: &[u8]) -> Result<Self, DomainError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| DomainError::invalid("body", format!("not a form: {e}")))?;
        let mut event = Self::default();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "summary" => &mut event.summary,
                "details" => &mut event.details,
                "dedup" => &mut event.dedup,
                "action" => &mut event.action,
                "severity" => &mut event.severity,
                _ => continue,
            };
            *slot = Some(value);
        }
        Ok(event)
    }

    /// The signal; `made_key` makes the dedup key of an alert that has none.
    pub fn signal(
        self,
        made_key: impl FnOnce() -> String,
        received: Received,
    ) -> Result<Signal, DomainError> {
        let dedup = text::dedup_key("dedup", self.dedup.as_deref())?;
        if self.action.as_deref().map(str::trim) == Some("close") {
            let dedup_key = dedup.ok_or_else(|| {
                DomainError::invalid(
                    "dedup",
                    "is needed to close: the dedup of the alert to resolve",
                )
            })?;
            return Ok(Signal::Resolve {
                dedup_key,
                alerts: Vec::new(),
            });
        }
        let summary = self
            .summary
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| DomainError::invalid("summary", "is needed to open an incident"))?;
        let chars = summary.chars().count();
        if chars > MAX_SUMMARY_CHARS {
            return Err(DomainError::invalid(
                "summary",
                format!("must be at most {MAX_SUMMARY_CHARS} characters (got {chars})"),
            ));
        }
        let description = text::description("details", self.details.as_deref())?;
        let dedup_key = dedup.unwrap_or_else(made_key);
        let alert = Alert {
            integration_id: received.integration_id,
            kind: IntegrationKind::Generic,
            status: AlertStatus::Firing,
            summary: summary.to_owned(),
            source: None,
            severity: self.severity.clone().filter(|s| !s.trim().is_empty()),
            fingerprint: Some(dedup_key.clone()),
            labels: Vec::new(),
            annotations: Vec::new(),
            fields: description
                .iter()
                .map(|d| KeyValue {
                    key: "details".into(),
                    value: cut(d, MAX_VALUE_CHARS),
                })
                .collect(),
            links: Vec::new(),
            starts_at: None,
            ends_at: None,
            received_at: received.at,
        };
        Ok(Signal::Trigger {
            new: NewIncident {
                title: title_of(summary),
                description,
                severity: severity_of(self.severity.as_deref()),
                dedup_key: Some(dedup_key),
            },
            alerts: vec![alert],
            replace: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received() -> Received {
        Received {
            integration_id: IntegrationId::new(),
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_secret_never_prints() {
        let secret = IntegrationSecret("abcdefabcdefabcdefabcdefabcdefab".into());
        assert_eq!(format!("{secret:?}"), "IntegrationSecret(..)");
    }

    #[test]
    fn an_integration_prints_without_its_key_or_secret() {
        let integration = Integration {
            id: IntegrationId::new(),
            name: "prometheus".into(),
            kind: IntegrationKind::Alertmanager,
            schedule_id: ScheduleId::new(),
            key: IntegrationSecret("0123456789abcdef0123456789abcdef".into()),
            secret: Some(IntegrationSecret("hmac-secret-value-123".into())),
            created_at: chrono::Utc::now(),
            deleted_at: None,
        };
        let printed = format!("{integration:?}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(!printed.contains("hmac-secret-value"), "{printed}");
    }

    #[test]
    fn group_key_dedup_is_sha256_hex() {
        assert_eq!(
            group_dedup_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn custom_details_flatten_to_dotted_keys() {
        let mut out = Vec::new();
        let value = serde_json::json!({"db": {"host": "a", "port": 5432}, "tags": ["x"]});
        flatten("custom_details", &value, &mut out, 0);
        let keys: Vec<&str> = out.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "custom_details.db.host",
                "custom_details.db.port",
                "custom_details.tags[0]"
            ]
        );
    }

    #[test]
    fn a_long_summary_makes_a_short_title() {
        let title = title_of(&"x".repeat(1024));
        assert_eq!(title.chars().count(), text::MAX_NAME_CHARS);
    }

    #[test]
    fn a_trigger_without_source_is_invalid() {
        let event = read_pagerduty(
            br#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","severity":"info"}}"#,
        )
        .unwrap();
        let errors = pagerduty_signal(event, || "made".into(), received()).unwrap_err();
        assert_eq!(errors, ["'payload.source' is missing"]);
    }

    #[test]
    fn too_many_labels_are_refused() {
        let labels: serde_json::Map<String, serde_json::Value> = (0..200)
            .map(|i| (format!("l{i}"), serde_json::Value::String("v".into())))
            .collect();
        let body = serde_json::json!({
            "status": "firing", "groupKey": "g",
            "alerts": [{"status": "firing", "labels": labels}]
        });
        let err = webhook_signal(
            IntegrationKind::Alertmanager,
            body.to_string().as_bytes(),
            received(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("alerts[0].labels: 200 entries"));
    }
}
