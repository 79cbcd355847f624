//! Outbound webhooks: an admin's subscription of an http(s) URL to incident events, the
//! deliveries made to it, the JSON envelope they carry, and the retry schedule.
//!
//! Pure: no I/O, no clock reads (callers pass `now`), no randomness (callers pass the
//! jitter). The store decides deliveries inside the fold (`store::webhooks`); the worker
//! (`engine::webhooks`) sends them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, TimeDelta};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::integration::IntegrationSecret;
use super::{
    Actor, DomainError, Incident, IncidentChangeKind, IncidentId, IncidentState, ServiceId,
    Timestamp, WebhookDeliveryId, WebhookId,
};

/// Most live webhooks.
pub const MAX_WEBHOOKS: usize = 50;
/// Deliveries kept in memory per webhook (finished ones beyond this are dropped, oldest
/// first; pending ones are always kept).
pub const KEPT_DELIVERIES: usize = 100;
/// The prefix of a webhook's signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// An incident event a webhook can be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// Opened (or back to triggered: a snooze ended, an acknowledgement timed out or was
    /// handed to someone else).
    Triggered,
    /// Acknowledged (or snoozed, which acknowledges).
    Acknowledged,
    /// Resolved (by a person, a script or a monitor).
    Resolved,
    /// Moved up a level.
    Escalated,
}

impl WebhookEvent {
    /// All four, in this order.
    pub const ALL: [WebhookEvent; 4] = [
        Self::Triggered,
        Self::Acknowledged,
        Self::Resolved,
        Self::Escalated,
    ];

    /// The envelope's `type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Triggered => "incident.triggered",
            Self::Acknowledged => "incident.acknowledged",
            Self::Resolved => "incident.resolved",
            Self::Escalated => "incident.escalated",
        }
    }

    /// Which event (if any) an incident change is, given the incident's state before
    /// (`None` for a new incident) and after it.
    ///
    /// The four direct changes are themselves. Any other change is sent only when it moved
    /// the incident to another state, as the event of the state it reached: a monitor's
    /// resolving alert is `resolved`, a snooze of a triggered incident `acknowledged`, a
    /// retrigger (snooze over, acknowledge timeout) and a reassignment of an acknowledged
    /// incident `triggered`. A reassignment that leaves it triggered, a folded alert, a note
    /// or a delivery record is not sent.
    pub fn of_change(
        kind: &IncidentChangeKind,
        before: Option<IncidentState>,
        after: IncidentState,
    ) -> Option<Self> {
        match kind {
            IncidentChangeKind::Triggered(_) => Some(Self::Triggered),
            IncidentChangeKind::Acknowledged => Some(Self::Acknowledged),
            IncidentChangeKind::Resolved => Some(Self::Resolved),
            IncidentChangeKind::Escalated { .. } => Some(Self::Escalated),
            _ if before.is_some_and(|b| b != after) => Some(match after {
                IncidentState::Triggered => Self::Triggered,
                IncidentState::Acknowledged => Self::Acknowledged,
                IncidentState::Resolved => Self::Resolved,
            }),
            _ => None,
        }
    }
}

/// Validates a webhook's event filter: none or empty is all four; duplicates are dropped.
pub fn parse_events(events: Option<Vec<WebhookEvent>>) -> Vec<WebhookEvent> {
    let mut events = events.unwrap_or_default();
    if events.is_empty() {
        return WebhookEvent::ALL.to_vec();
    }
    events.sort();
    events.dedup();
    events
}

/// An http(s) endpoint that receives signed incident events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Stable id.
    pub id: WebhookId,
    /// Where deliveries are POSTed (validated by [`super::contact::parse_http_url`]).
    pub url: String,
    /// Only this service's incidents; `None`: every service.
    #[serde(default)]
    pub service_id: Option<ServiceId>,
    /// Which events are sent (never empty).
    pub events: Vec<WebhookEvent>,
    /// The HMAC-SHA256 key of `X-Klaxon-Signature` (kept: every delivery is signed with
    /// it; its `Debug` never prints it; the API shows it once, on creation).
    pub secret: IntegrationSecret,
    /// The last finished delivery gave up; cleared by the next success.
    #[serde(default)]
    pub failing: bool,
    /// The server's public URL when the webhook was made (`--public-url`): the envelope's
    /// `incident.url` is `<link_base>/incidents/<id>`; `None`: `url` is null.
    #[serde(default)]
    pub link_base: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// Who made it.
    #[serde(default)]
    pub created_by: Actor,
    /// When it was deleted.
    #[serde(default)]
    pub deleted_at: Option<Timestamp>,
}

impl Webhook {
    /// Not deleted.
    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }

    /// Whether `event` of an incident on `service` is sent to it.
    pub fn wants(&self, event: WebhookEvent, service: ServiceId) -> bool {
        self.is_live()
            && self.service_id.is_none_or(|s| s == service)
            && self.events.contains(&event)
    }
}

/// Where a page or a webhook delivery stands (the API's `NotificationStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: waiting for its turn, in flight, or waiting to be retried.
    Pending,
    /// A `2xx` answer.
    Sent,
    /// Given up: a `4xx` other than `429`, or retried for the whole window.
    Failed,
}

/// One incident event on its way to one webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Its id: the envelope's `event.id` and `X-Klaxon-Delivery` (see [`delivery_id`]).
    pub id: WebhookDeliveryId,
    /// Creation order among all deliveries (orders one incident's events).
    pub seq: u64,
    /// Where it goes.
    pub webhook_id: WebhookId,
    /// The incident it is about.
    pub incident_id: IncidentId,
    /// What happened.
    pub event: WebhookEvent,
    /// The exact JSON bytes signed and sent, the same on every attempt.
    pub body: Arc<str>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    #[serde(default)]
    pub attempts: u32,
    /// The last answer's status, if there was an answer.
    #[serde(default)]
    pub response_status: Option<u16>,
    /// Why the last attempt did not deliver.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the event happened (and the delivery was decided).
    pub created_at: Timestamp,
    /// When it was last attempted.
    #[serde(default)]
    pub last_attempt_at: Option<Timestamp>,
    /// How long the last attempt took.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// When the next attempt is due, while pending after a failed attempt.
    #[serde(default)]
    pub next_attempt_at: Option<Timestamp>,
}

impl WebhookDelivery {
    /// Not finished.
    pub fn is_pending(&self) -> bool {
        self.status == DeliveryStatus::Pending
    }

    /// The delivery after one recorded attempt.
    pub fn after_attempt(&self, attempt: &AttemptRecord) -> WebhookDelivery {
        let mut next = self.clone();
        next.attempts += 1;
        next.response_status = attempt.response_status;
        next.last_error = attempt.error.clone();
        next.last_attempt_at = Some(attempt.at);
        next.duration_ms = Some(attempt.duration_ms);
        match attempt.outcome {
            AttemptOutcome::Sent => {
                next.status = DeliveryStatus::Sent;
                next.next_attempt_at = None;
            }
            AttemptOutcome::Retry { next_attempt_at } => {
                next.status = DeliveryStatus::Pending;
                next.next_attempt_at = Some(next_attempt_at);
            }
            AttemptOutcome::Failed => {
                next.status = DeliveryStatus::Failed;
                next.next_attempt_at = None;
            }
        }
        next
    }
}

/// What one attempt decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Delivered.
    Sent,
    /// Not delivered; tried again at `next_attempt_at`.
    Retry {
        /// When.
        next_attempt_at: Timestamp,
    },
    /// Given up.
    Failed,
}

/// One journaled attempt (the payload of `Event::WebhookAttempted`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Which delivery.
    pub delivery_id: WebhookDeliveryId,
    /// Its webhook.
    pub webhook_id: WebhookId,
    /// When the attempt ended.
    pub at: Timestamp,
    /// The answer's status, if there was an answer.
    #[serde(default)]
    pub response_status: Option<u16>,
    /// Why it did not deliver.
    #[serde(default)]
    pub error: Option<String>,
    /// How long it took.
    #[serde(default)]
    pub duration_ms: u64,
    /// What it decided.
    pub outcome: AttemptOutcome,
}

/// The delivery id of `event` of `incident` to `webhook`: derived from what the fold
/// sees (the webhook, the incident, how many changes it has had, the change's instant),
/// so live decisions and replay agree, and a crash after the incident's commit resends
/// the same delivery after restart.
pub fn delivery_id(
    webhook: WebhookId,
    incident: &Incident,
    event: WebhookEvent,
    at: Timestamp,
) -> WebhookDeliveryId {
    let mut hash = Sha256::new();
    hash.update(b"klaxon.webhook-delivery.v1");
    hash.update(webhook.0.as_bytes());
    hash.update(incident.id.0.as_bytes());
    hash.update((incident.timeline.len() as u64).to_le_bytes());
    hash.update(event.type_name().as_bytes());
    hash.update(at.timestamp_millis().to_le_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    WebhookDeliveryId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// What the envelope says about people and services, looked up by the caller.
#[derive(Clone, Debug, Default)]
pub struct EnvelopeNames {
    /// The service's name.
    pub service_name: String,
    /// The assignee's `(name, email)`, if assigned and known.
    pub assignee: Option<(String, String)>,
}

fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Serialize)]
struct Envelope<'a> {
    event: EnvelopeEvent<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeEvent<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    occurred_at: String,
    incident: EnvelopeIncident<'a>,
}

/// The incident inside an envelope.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeIncident<'a> {
    id: String,
    title: &'a str,
    description: Option<&'a str>,
    state: &'static str,
    severity: &'static str,
    service: EnvelopeService<'a>,
    assignee: Option<EnvelopeUser<'a>>,
    escalation_level: u32,
    triggered_at: String,
    acknowledged_at: Option<String>,
    resolved_at: Option<String>,
    alert_count: u32,
    url: Option<String>,
}

impl<'a> EnvelopeIncident<'a> {
    /// The incident as webhook envelopes show it (`incident` in `incident.*` and
    /// `incident.page` events).
    pub fn of(incident: &'a Incident, names: &'a EnvelopeNames, link_base: Option<&str>) -> Self {
        EnvelopeIncident {
            id: incident.id.to_string(),
            title: &incident.title,
            description: incident.description(),
            state: incident.state.upper(),
            severity: incident.severity.upper(),
            service: EnvelopeService {
                id: incident.service_id.to_string(),
                name: &names.service_name,
            },
            assignee: match (incident.assigned_to, &names.assignee) {
                (Some(user), Some((name, email))) => Some(EnvelopeUser {
                    id: user.to_string(),
                    name,
                    email,
                }),
                _ => None,
            },
            escalation_level: incident.escalation_level,
            triggered_at: rfc3339(incident.triggered_at),
            acknowledged_at: incident.acknowledged_at.map(rfc3339),
            resolved_at: incident.resolved_at.map(rfc3339),
            alert_count: incident.alert_count,
            url: link_base.map(|base| incident_url(base, incident.id)),
        }
    }
}

/// An incident's page in the UI under `base` (`--public-url`), the one place the link is
/// built (envelopes, pages, messages).
pub fn incident_url(base: &str, id: IncidentId) -> String {
    format!("{}/incidents/{id}", base.trim_end_matches('/'))
}

#[derive(Serialize)]
struct EnvelopeService<'a> {
    id: String,
    name: &'a str,
}

#[derive(Serialize)]
struct EnvelopeUser<'a> {
    id: String,
    name: &'a str,
    email: &'a str,
}

/// The JSON a delivery carries: `{"event": {"id", "type", "occurredAt", "incident": {...}}}`,
/// camelCase and UPPER_CASE enums like the GraphQL API, times in RFC 3339 UTC with
/// milliseconds.
pub fn render_envelope(
    id: WebhookDeliveryId,
    event: WebhookEvent,
    at: Timestamp,
    incident: &Incident,
    names: &EnvelopeNames,
    link_base: Option<&str>,
) -> Arc<str> {
    let envelope = Envelope {
        event: EnvelopeEvent {
            id: id.to_string(),
            kind: event.type_name(),
            occurred_at: rfc3339(at),
            incident: EnvelopeIncident::of(incident, names, link_base),
        },
    };
    // Plain structs of strings and numbers always serialize.
    serde_json::to_string(&envelope)
        .unwrap_or_else(|_| String::from("{}"))
        .into()
}

/// How deliveries are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; each further one doubles it.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// A delivery is given up once it is this old (counted from its event).
    pub window: Duration,
}

impl Default for RetryPolicy {
    /// 5 s, doubling up to 5 minutes, for 20 minutes (the contract asks for at least 15).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max_delay: Duration::from_secs(300),
            window: Duration::from_secs(20 * 60),
        }
    }
}

impl RetryPolicy {
    /// The policy with `base` and `window` (milliseconds, at least 1); the cap stays 5
    /// minutes, or `base` when that is longer.
    pub fn with(base_ms: u64, window_ms: u64) -> Self {
        let base = Duration::from_millis(base_ms.max(1));
        Self {
            base,
            max_delay: Duration::from_secs(300).max(base),
            window: Duration::from_millis(window_ms.max(1)),
        }
    }

    /// The wait after failed attempt `n` (1-based): `base · 2^(n-1)`, capped, times
    /// `1 + 0.2 · jitter` (`jitter` in `-1.0..=1.0`).
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let plain = self
            .base
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        plain.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0))
    }

    /// What a failed attempt leads to: the next attempt's time, or `None` (give up) once
    /// the delivery made at `created_at` is `window` old. The last attempt falls at the
    /// window's end, so a delivery is retried for the whole window.
    pub fn next_attempt(
        &self,
        created_at: Timestamp,
        attempts: u32,
        now: Timestamp,
        jitter: f64,
    ) -> Option<Timestamp> {
        let window = TimeDelta::from_std(self.window).unwrap_or(TimeDelta::MAX);
        let give_up_at = created_at.checked_add_signed(window)?;
        if now >= give_up_at {
            return None;
        }
        let delay = TimeDelta::from_std(self.delay(attempts, jitter)).unwrap_or(TimeDelta::MAX);
        let next = now.checked_add_signed(delay).unwrap_or(give_up_at);
        Some(next.min(give_up_at))
    }

    /// The outcome of an attempt of a delivery made at `created_at`, its `attempts`-th.
    pub fn outcome(
        &self,
        delivered: bool,
        retryable: bool,
        created_at: Timestamp,
        attempts: u32,
        now: Timestamp,
        jitter: f64,
    ) -> AttemptOutcome {
        if delivered {
            return AttemptOutcome::Sent;
        }
        if !retryable {
            return AttemptOutcome::Failed;
        }
        match self.next_attempt(created_at, attempts, now, jitter) {
            Some(next_attempt_at) => AttemptOutcome::Retry { next_attempt_at },
            None => AttemptOutcome::Failed,
        }
    }
}

/// Validates a webhook URL.
pub fn parse_url(raw: &str) -> Result<String, DomainError> {
    super::contact::parse_http_url("url", raw).map(|url| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn incident() -> Incident {
        let sample = crate::store::codec::tests::sample_events();
        let crate::domain::Event::Incident(change) = &sample[0] else {
            unreachable!("the sample starts with a trigger")
        };
        let IncidentChangeKind::Triggered(incident) = &change.kind else {
            unreachable!("the sample starts with a trigger")
        };
        (**incident).clone()
    }

    #[test]
    fn delays_double_then_cap_with_bounded_jitter() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, 0.0), Duration::from_secs(5));
        assert_eq!(policy.delay(2, 0.0), Duration::from_secs(10));
        assert_eq!(policy.delay(3, 0.0), Duration::from_secs(20));
        assert_eq!(policy.delay(7, 0.0), Duration::from_secs(300));
        assert_eq!(policy.delay(60, 0.0), Duration::from_secs(300));
        assert_eq!(policy.delay(1, 1.0), Duration::from_secs(6));
        assert_eq!(policy.delay(1, -1.0), Duration::from_secs(4));
        assert_eq!(policy.delay(1, 7.0), Duration::from_secs(6));
        for attempt in 1..12 {
            let plain = policy.delay(attempt, 0.0).as_secs_f64();
            for jitter in [-1.0, -0.5, 0.0, 0.3, 1.0] {
                let d = policy.delay(attempt, jitter).as_secs_f64();
                assert!(d >= plain * 0.8 - 1e-9 && d <= plain * 1.2 + 1e-9);
            }
        }
    }

    #[test]
    fn retries_cover_the_whole_window_then_give_up() {
        let policy = RetryPolicy::default();
        let created = t0();
        let mut now = created;
        let mut attempts = 0;
        let mut last = created;
        loop {
            attempts += 1;
            match policy.next_attempt(created, attempts, now, 0.0) {
                Some(next) => {
                    assert!(next > now);
                    last = next;
                    now = next;
                }
                None => break,
            }
            assert!(attempts < 100, "never gives up");
        }
        // The last attempt is at the window's end: at least 15 minutes of retries.
        assert_eq!(last, created + TimeDelta::minutes(20));
        assert!(last - created >= TimeDelta::minutes(15));
        assert!((8..=14).contains(&attempts), "{attempts} attempts");
        assert_eq!(
            policy.next_attempt(created, 1, created + TimeDelta::minutes(21), 0.0),
            None
        );
    }

    #[test]
    fn outcomes() {
        let policy = RetryPolicy::with(50, 3_000);
        let created = t0();
        assert_eq!(
            policy.outcome(true, false, created, 1, created, 0.0),
            AttemptOutcome::Sent
        );
        assert_eq!(
            policy.outcome(false, false, created, 1, created, 0.0),
            AttemptOutcome::Failed
        );
        assert_eq!(
            policy.outcome(false, true, created, 1, created, 0.0),
            AttemptOutcome::Retry {
                next_attempt_at: created + TimeDelta::milliseconds(50)
            }
        );
        assert_eq!(
            policy.outcome(
                false,
                true,
                created,
                9,
                created + TimeDelta::seconds(3),
                0.0
            ),
            AttemptOutcome::Failed
        );
    }

    #[test]
    fn which_changes_are_sent() {
        use IncidentState::*;
        let of = WebhookEvent::of_change;
        assert_eq!(
            of(
                &IncidentChangeKind::Acknowledged,
                Some(Triggered),
                Acknowledged
            ),
            Some(WebhookEvent::Acknowledged)
        );
        assert_eq!(
            of(&IncidentChangeKind::Resolved, Some(Triggered), Resolved),
            Some(WebhookEvent::Resolved)
        );
        let note = IncidentChangeKind::NoteAdded { text: "x".into() };
        assert_eq!(of(&note, Some(Triggered), Triggered), None);
        assert_eq!(
            of(
                &IncidentChangeKind::AlertRepeated,
                Some(Triggered),
                Triggered
            ),
            None
        );
        let snooze = IncidentChangeKind::Snoozed { until: t0() };
        assert_eq!(
            of(&snooze, Some(Triggered), Acknowledged),
            Some(WebhookEvent::Acknowledged)
        );
        assert_eq!(of(&snooze, Some(Acknowledged), Acknowledged), None);
        let retrigger = IncidentChangeKind::Retriggered {
            cause: crate::domain::RetriggerCause::SnoozeEnded,
            notification: None,
            deadline: None,
        };
        assert_eq!(
            of(&retrigger, Some(Acknowledged), Triggered),
            Some(WebhookEvent::Triggered)
        );
        let alerts = IncidentChangeKind::AlertsReceived(Box::new(crate::domain::AlertUpdate {
            alerts: Vec::new(),
            replace: false,
            fold: false,
            resolve: true,
        }));
        assert_eq!(
            of(&alerts, Some(Acknowledged), Resolved),
            Some(WebhookEvent::Resolved)
        );
    }

    #[test]
    fn matching_by_service_and_events() {
        let service = ServiceId::new();
        let mut hook = Webhook {
            id: WebhookId::new(),
            url: "http://127.0.0.1:9/hook".into(),
            service_id: None,
            events: parse_events(None),
            secret: IntegrationSecret("whsec_x".into()),
            failing: false,
            link_base: None,
            created_at: t0(),
            created_by: Actor::system(),
            deleted_at: None,
        };
        assert_eq!(hook.events, WebhookEvent::ALL.to_vec());
        assert!(hook.wants(WebhookEvent::Escalated, service));
        hook.service_id = Some(ServiceId::new());
        assert!(!hook.wants(WebhookEvent::Triggered, service));
        hook.service_id = Some(service);
        hook.events = parse_events(Some(vec![
            WebhookEvent::Resolved,
            WebhookEvent::Triggered,
            WebhookEvent::Resolved,
        ]));
        assert_eq!(
            hook.events,
            vec![WebhookEvent::Triggered, WebhookEvent::Resolved]
        );
        assert!(hook.wants(WebhookEvent::Triggered, service));
        assert!(!hook.wants(WebhookEvent::Acknowledged, service));
        hook.deleted_at = Some(t0());
        assert!(!hook.wants(WebhookEvent::Triggered, service));
        assert!(!format!("{hook:?}").contains("whsec_x"));
    }

    #[test]
    fn envelope_shape() {
        let mut incident = incident();
        let assignee = incident.assigned_to.unwrap_or_default();
        incident.assigned_to = Some(assignee);
        let id = delivery_id(WebhookId::new(), &incident, WebhookEvent::Triggered, t0());
        let names = EnvelopeNames {
            service_name: "Checkout".into(),
            assignee: Some(("Alice".into(), "alice@example.com".into())),
        };
        let body = render_envelope(
            id,
            WebhookEvent::Triggered,
            t0(),
            &incident,
            &names,
            Some("https://klaxon.example.com/"),
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let event = &json["event"];
        assert_eq!(event["id"], id.to_string());
        assert_eq!(event["type"], "incident.triggered");
        assert_eq!(event["occurredAt"], "2026-03-01T12:00:00.000Z");
        let i = &event["incident"];
        assert_eq!(i["id"], incident.id.to_string());
        assert_eq!(i["title"], "Checkout latency above 2 s");
        assert_eq!(i["state"], "TRIGGERED");
        assert_eq!(i["severity"], "HIGH");
        assert_eq!(i["service"]["id"], incident.service_id.to_string());
        assert_eq!(i["service"]["name"], "Checkout");
        assert_eq!(i["assignee"]["id"], assignee.to_string());
        assert_eq!(i["assignee"]["email"], "alice@example.com");
        assert_eq!(i["escalationLevel"], 0);
        assert_eq!(i["triggeredAt"], "2026-03-01T12:00:00.000Z");
        assert!(i["acknowledgedAt"].is_null());
        assert!(i["resolvedAt"].is_null());
        assert_eq!(i["alertCount"], 1);
        assert_eq!(
            i["url"],
            format!("https://klaxon.example.com/incidents/{}", incident.id)
        );
        // Without a public URL, or an assignee, those are null.
        let bare = render_envelope(
            id,
            WebhookEvent::Triggered,
            t0(),
            &incident,
            &EnvelopeNames::default(),
            None,
        );
        let json: serde_json::Value = serde_json::from_str(&bare).unwrap();
        assert!(json["event"]["incident"]["url"].is_null());
        assert!(json["event"]["incident"]["assignee"].is_null());
    }

    #[test]
    fn delivery_ids_are_deterministic_and_distinct() {
        let incident = incident();
        let hook = WebhookId::new();
        let a = delivery_id(hook, &incident, WebhookEvent::Triggered, t0());
        assert_eq!(
            a,
            delivery_id(hook, &incident, WebhookEvent::Triggered, t0())
        );
        assert_ne!(
            a,
            delivery_id(WebhookId::new(), &incident, WebhookEvent::Triggered, t0())
        );
        assert_ne!(
            a,
            delivery_id(hook, &incident, WebhookEvent::Resolved, t0())
        );
        let later = t0() + TimeDelta::milliseconds(1);
        assert_ne!(
            a,
            delivery_id(hook, &incident, WebhookEvent::Triggered, later)
        );
    }
}
