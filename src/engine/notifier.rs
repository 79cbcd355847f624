//! Sending pages. A page is decided (and made durable) by an incident change first; only
//! then does this worker hand each of its notifications to the [`Notifier`] of its
//! channel and record the outcome, so a crash can delay a page but never lose one.
//!
//! One delivery worker, one implementation per channel: [`LogNotifier`],
//! [`super::email::EmailNotifier`], [`SlackNotifier`], [`WebhookNotifier`]. SMS and voice
//! would be one more implementation of the trait (a provider's HTTP API), nothing else.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::http_out::Outbound;
use crate::domain::contact::{ContactKind, ContactMethod};
use crate::domain::webhook::{EnvelopeIncident, EnvelopeNames};
use crate::domain::{
    ContactMethodId, Delivery, Incident, IncidentId, Notification, Timestamp, User, UserId,
};
use crate::store::Store;

/// How many pages may be in flight at once.
const CONCURRENT_PAGES: usize = 64;
/// Most outcomes recorded in one journal append.
const BATCH: usize = 1024;
/// The window the storm limit counts messages in (a minute, unless the policy says
/// otherwise).
const STORM_WINDOW: Duration = Duration::from_secs(60);

/// A decided page, waiting to be sent.
#[derive(Clone, Debug)]
pub struct PageJob {
    /// The incident it is about.
    pub incident_id: IncidentId,
    /// The recorded page.
    pub notification: Notification,
}

/// Why a channel could not deliver.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    /// What went wrong, for a person (never a secret).
    pub message: String,
    /// Whether trying again may help (a refused connection, a 5xx, a timeout).
    pub retryable: bool,
}

impl NotifyError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that will not get better by retrying.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// What the message is about, with everything a person needs to act on it.
#[derive(Clone, Debug)]
pub struct PageContext {
    /// The incident.
    pub incident: Arc<Incident>,
    /// Its service's name and its assignee's name and email, as envelopes show them.
    pub names: EnvelopeNames,
    /// The other people on its escalation policy, by level.
    pub others: Vec<String>,
    /// Where people open Klaxon (`--public-url`).
    pub base: String,
    /// One-click acknowledge and resolve pages (email only; they act as the paged user).
    pub acknowledge_url: Option<String>,
    /// See `acknowledge_url`.
    pub resolve_url: Option<String>,
}

impl PageContext {
    /// Its service's name.
    pub fn service(&self) -> &str {
        &self.names.service_name
    }

    /// Its page in the UI.
    pub fn url(&self) -> String {
        crate::domain::webhook::incident_url(&self.base, self.incident.id)
    }

    /// Who it is assigned to now, by name.
    pub fn assignee(&self) -> &str {
        self.names
            .assignee
            .as_ref()
            .map_or("nobody", |(name, _)| name)
    }
}

/// One message to one person on one channel.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    /// Who.
    pub user: &'a User,
    /// Where (`None`: the default page, to the user's email or the log).
    pub method: Option<&'a ContactMethod>,
    /// Why (`None` for a test).
    pub page: Option<&'a Notification>,
    /// About what (`None` for a test).
    pub about: Option<&'a PageContext>,
    /// Incidents bundled into this message because the contact method hit its limit.
    pub more: &'a [PageContext],
    /// When it is sent (the store's clock).
    pub at: Timestamp,
}

impl Message<'_> {
    /// The one-line summary every channel leads with.
    pub fn headline(&self) -> String {
        match self.about {
            None => "Klaxon test notification: this contact method works".to_owned(),
            Some(about) => {
                let mut line = format!(
                    "[{}] {}",
                    about.incident.severity.upper(),
                    about.incident.title
                );
                if !self.more.is_empty() {
                    line.push_str(&format!(" (and {} more incidents)", self.more.len()));
                }
                line
            }
        }
    }
}

/// A way to reach a person.
pub trait Notifier: Send + Sync + 'static {
    /// The channel name recorded on pages (`log`, `email`, ...).
    fn channel(&self) -> &str;
    /// Delivers one message.
    fn send<'a>(&'a self, message: &'a Message<'a>) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// Writes one structured `tracing` line per page (target `klaxon::page`).
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn channel(&self) -> &str {
        "log"
    }

    fn send<'a>(&'a self, message: &'a Message<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        let user = message.user;
        match message.about {
            Some(about) => tracing::info!(
                target: "klaxon::page",
                incident = %about.incident.id,
                title = %about.incident.title,
                severity = ?about.incident.severity,
                level = about.incident.escalation_level,
                service = %about.service(),
                user = %user.id,
                name = %user.name,
                reason = message.page.map_or("", |p| p.reason.as_str()),
                notification = %message.page.map(|p| p.id.to_string()).unwrap_or_default(),
                more = message.more.len(),
                url = %about.url(),
                "page"
            ),
            None => {
                tracing::info!(target: "klaxon::page", user = %user.id, name = %user.name, "test notification")
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Slack's incoming-webhook JSON (`text` and Block Kit `blocks`), POSTed to the method's URL.
#[derive(Clone, Debug)]
pub struct SlackNotifier {
    outbound: Outbound,
}

impl SlackNotifier {
    /// Posting through `outbound`.
    pub fn new(outbound: Outbound) -> Self {
        Self { outbound }
    }
}

/// The Slack message for `message`.
pub fn slack_body(message: &Message<'_>) -> serde_json::Value {
    let text = message.headline();
    let Some(about) = message.about else {
        return json!({
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*\nSent from Klaxon to check that {} can be reached here.", slack_escape(&text), slack_escape(&message.user.name))}}],
        });
    };
    let incident = &about.incident;
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&text, 150), "emoji": false}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Severity*\n{}", incident.severity.upper())},
            {"type": "mrkdwn", "text": format!("*Service*\n{}", slack_escape(about.service()))},
            {"type": "mrkdwn", "text": format!("*Assignee*\n{}", slack_escape(about.assignee()))},
            {"type": "mrkdwn", "text": format!("*Level*\n{}", incident.escalation_level)},
        ]}),
    ];
    if let Some(description) = incident.description().filter(|d| !d.is_empty()) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&slack_escape(description), 2900)}}));
    }
    if !message.more.is_empty() {
        let list: Vec<String> = message
            .more
            .iter()
            .take(20)
            .map(|m| format!("• <{}|{}>", m.url(), slack_escape(&m.incident.title)))
            .collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!("*And {} more incidents*\n{}", message.more.len(), list.join("\n")), 2900)}}));
    }
    blocks.push(json!({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Open in Klaxon"}, "url": about.url()},
    ]}));
    json!({"text": text, "blocks": blocks})
}

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

fn attempt_result(attempt: super::http_out::Attempt) -> Result<(), NotifyError> {
    match attempt.error {
        None => Ok(()),
        Some(error) => Err(NotifyError {
            retryable: attempt.status.is_none_or(|s| s == 429 || s >= 500),
            message: error,
        }),
    }
}

impl Notifier for SlackNotifier {
    fn channel(&self) -> &str {
        "slack"
    }

    fn send<'a>(&'a self, message: &'a Message<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let method = message
                .method
                .ok_or_else(|| NotifyError::permanent("no Slack URL"))?;
            let body = serde_json::to_vec(&slack_body(message))
                .map_err(|e| NotifyError::permanent(e.to_string()))?;
            attempt_result(self.outbound.post_json(&method.target.0, &body, &[]).await)
        })
    }
}

/// The signed webhook envelope with `"type": "incident.page"`, POSTed to the method's URL
/// and signed with its signing secret.
#[derive(Clone, Debug)]
pub struct WebhookNotifier {
    outbound: Outbound,
}

impl WebhookNotifier {
    /// Posting through `outbound`.
    pub fn new(outbound: Outbound) -> Self {
        Self { outbound }
    }
}

/// The `incident.page` envelope for `message`: the incident as every webhook envelope
/// shows it ([`EnvelopeIncident`]), plus who was paged and why.
pub fn page_envelope(message: &Message<'_>, delivery: &str) -> serde_json::Value {
    let incident = message
        .about
        .map(|about| EnvelopeIncident::of(&about.incident, &about.names, Some(&about.base)));
    json!({"event": {
        "id": delivery,
        "type": if message.about.is_some() { "incident.page" } else { "test" },
        "occurredAt": crate::graphql::scalars::format(message.at),
        "incident": incident,
        "user": {"id": message.user.id.to_string(), "name": message.user.name, "email": message.user.email},
        "reason": message.page.map(|p| p.reason.as_str()),
        "bundled": message.more.iter().map(|m| m.incident.id.to_string()).collect::<Vec<_>>(),
    }})
}

impl Notifier for WebhookNotifier {
    fn channel(&self) -> &str {
        "webhook"
    }

    fn send<'a>(&'a self, message: &'a Message<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let method = message
                .method
                .ok_or_else(|| NotifyError::permanent("no webhook URL"))?;
            let delivery = message
                .page
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), |p| p.id.to_string());
            let body = serde_json::to_vec(&page_envelope(message, &delivery))
                .map_err(|e| NotifyError::permanent(e.to_string()))?;
            let secret = method
                .signing_secret
                .as_ref()
                .map(|s| s.0.as_bytes())
                .unwrap_or_default();
            attempt_result(
                self.outbound
                    .post_signed(&method.target.0, &body, secret, &delivery)
                    .await,
            )
        })
    }
}

/// How pages are retried and limited.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryPolicy {
    /// Attempts per notification before it is shown as failed.
    pub attempts: u32,
    /// The wait before the second attempt; doubled before each later one.
    pub retry_base: Duration,
    /// Most messages per contact method per window; past it pages are bundled.
    pub per_minute: usize,
    /// The window `per_minute` counts over: a minute (shorter only in tests and benches).
    pub window: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            retry_base: Duration::from_secs(2),
            per_minute: 10,
            window: STORM_WINDOW,
        }
    }
}

/// Every channel, behind the one delivery worker.
pub struct Channels {
    /// Where people open incidents (`https://klaxon.example.com`).
    pub public_url: String,
    /// The log channel (always there).
    pub log: LogNotifier,
    /// Email, when SMTP is set up.
    pub email: Option<Arc<dyn Notifier>>,
    /// Slack-compatible incoming webhooks.
    pub slack: SlackNotifier,
    /// Signed webhook contact methods.
    pub webhook: WebhookNotifier,
    /// Retries and limits.
    pub policy: DeliveryPolicy,
}

impl Channels {
    /// The channel a notification goes through.
    fn notifier(&self, method: Option<&ContactMethod>, channel: &str) -> Option<&dyn Notifier> {
        match method.map(|m| m.kind) {
            Some(ContactKind::Email) => self.email.as_deref(),
            Some(ContactKind::Slack) => Some(&self.slack),
            Some(ContactKind::Webhook) => Some(&self.webhook),
            None if channel == "email" => self.email.as_deref(),
            None => Some(&self.log),
        }
    }

    /// Sends a clearly marked test message to a contact method now.
    pub async fn send_test(
        &self,
        user: &User,
        method: &ContactMethod,
        now: Timestamp,
    ) -> Result<(), NotifyError> {
        let notifier = self
            .notifier(Some(method), method.kind.channel())
            .ok_or_else(|| {
                NotifyError::permanent("email is not set up on this server (--smtp-url)")
            })?;
        let message = Message {
            user,
            method: Some(method),
            page: None,
            about: None,
            more: &[],
            at: now,
        };
        match tokio::time::timeout(Duration::from_secs(15), notifier.send(&message)).await {
            Ok(result) => result,
            Err(_) => Err(NotifyError::transient("no answer within 15 s")),
        }
    }
}

/// Where a notification goes, for the storm limit: a contact method, or a user's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Destination {
    Method(ContactMethodId),
    Default(UserId),
}

fn destination(page: &Notification) -> Destination {
    page.contact_method_id()
        .map_or(Destination::Default(page.user_id), Destination::Method)
}

/// Counts messages per destination over the last minute; past the limit, pages wait and
/// leave as one bundled message when the window has room again.
#[derive(Debug)]
struct StormGate {
    destinations: HashMap<Destination, Window>,
    window: Duration,
}

impl Default for StormGate {
    fn default() -> Self {
        Self::new(STORM_WINDOW)
    }
}

#[derive(Debug, Default)]
struct Window {
    sent: VecDeque<Instant>,
    parked: Vec<PageJob>,
    flush_at: Option<Instant>,
}

enum Admission {
    Send,
    /// Parked; a flush is due at this instant (only said for the first parked page).
    Parked(Option<Instant>),
}

impl StormGate {
    fn new(window: Duration) -> Self {
        Self {
            destinations: HashMap::new(),
            window: window.max(Duration::from_millis(1)),
        }
    }

    fn admit(&mut self, job: PageJob, limit: usize, now: Instant) -> (Admission, Option<PageJob>) {
        let window = self
            .destinations
            .entry(destination(&job.notification))
            .or_default();
        while window
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            window.sent.pop_front();
        }
        if window.parked.is_empty() && window.sent.len() < limit.max(1) {
            window.sent.push_back(now);
            return (Admission::Send, Some(job));
        }
        window.parked.push(job);
        if window.flush_at.is_some() {
            return (Admission::Parked(None), None);
        }
        let at = window
            .sent
            .front()
            .map_or(now, |t| *t + self.window)
            .max(now);
        window.flush_at = Some(at);
        (Admission::Parked(Some(at)), None)
    }

    /// The parked pages of a destination whose flush is due, counted as one message.
    fn flush(&mut self, destination: Destination, now: Instant) -> Vec<PageJob> {
        let Some(window) = self.destinations.get_mut(&destination) else {
            return Vec::new();
        };
        window.flush_at = None;
        if window.parked.is_empty() {
            return Vec::new();
        }
        window.sent.push_back(now);
        std::mem::take(&mut window.parked)
    }

    /// Forgets destinations with nothing recent and nothing parked.
    fn sweep(&mut self, now: Instant) {
        self.destinations.retain(|_, w| {
            !w.parked.is_empty()
                || w.sent
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
        });
    }
}

/// Delivers pages until the store stops producing them: each through its channel, under
/// the storm limit, with retries; outcomes are recorded in batches (one journal append
/// covers many pages under an alert storm).
pub async fn run_pages(
    store: Store,
    channels: Arc<Channels>,
    mut jobs: mpsc::UnboundedReceiver<PageJob>,
) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Delivery>();
    let recorder = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while done_rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(error) = store.record_deliveries(&batch).await {
                    tracing::error!(%error, pages = batch.len(), "could not record page outcomes");
                }
                batch.clear();
            }
        })
    };
    let (flush_tx, mut flush_rx) = mpsc::unbounded_channel::<Destination>();
    let slots = Arc::new(Semaphore::new(CONCURRENT_PAGES));
    let mut gate = StormGate::new(channels.policy.window);
    let mut admitted = 0u64;
    loop {
        let (primary, more) = tokio::select! {
            job = jobs.recv() => {
                let Some(job) = job else { break };
                // Pages are sent by the engine holder only; a new holder re-queues every
                // page not yet recorded as sent (`Store::resume`).
                if !store.is_engine_holder() {
                    continue;
                }
                let now = Instant::now();
                admitted += 1;
                if admitted % 4096 == 0 {
                    gate.sweep(now);
                }
                let destination = destination(&job.notification);
                match gate.admit(job, channels.policy.per_minute, now) {
                    (Admission::Send, Some(job)) => (job, Vec::new()),
                    (Admission::Parked(flush_at), _) => {
                        if let Some(at) = flush_at {
                            let flush_tx = flush_tx.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep_until(at).await;
                                let _ = flush_tx.send(destination);
                            });
                        }
                        continue;
                    }
                    (Admission::Send, None) => continue,
                }
            }
            Some(destination) = flush_rx.recv() => {
                let mut parked = gate.flush(destination, Instant::now());
                if parked.is_empty() {
                    continue;
                }
                let primary = parked.remove(0);
                (primary, parked)
            }
        };
        let store = store.clone();
        let channels = channels.clone();
        let done = done_tx.clone();
        let slots = slots.clone();
        tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            for outcome in deliver(&store, &channels, primary, more).await {
                let _ = done.send(outcome);
            }
        });
    }
    drop(done_tx);
    let _ = recorder.await;
}

/// Sends one message (a page, with any bundled ones), retrying what may get better; the
/// outcome of each page in it.
async fn deliver(
    store: &Store,
    channels: &Channels,
    job: PageJob,
    more: Vec<PageJob>,
) -> Vec<Delivery> {
    let outcomes = |attempts: u32, error: Option<String>| -> Vec<Delivery> {
        std::iter::once(&job)
            .chain(more.iter())
            .map(|j| Delivery {
                incident_id: j.incident_id,
                notification_id: j.notification.id,
                attempts,
                error: error.clone(),
            })
            .collect()
    };
    let page = &job.notification;
    let Some(context) = store.page_context(job.incident_id, page, &channels.public_url) else {
        return Vec::new();
    };
    let Some(user) = store.state().user_any(page.user_id) else {
        tracing::warn!(incident = %job.incident_id, user = %page.user_id, "page to an unknown user dropped");
        return outcomes(0, Some("the user no longer exists".into()));
    };
    let method = match page.contact_method_id() {
        Some(id) => match store.contact_method(id) {
            Some(method) => Some(method),
            None => return outcomes(0, Some("the contact method was removed".into())),
        },
        None => None,
    };
    let Some(notifier) = channels.notifier(method.as_ref(), &page.channel) else {
        return outcomes(0, Some("email is not set up on this server".into()));
    };
    let bundled: Vec<PageContext> = more
        .iter()
        .filter_map(|j| store.page_context(j.incident_id, &j.notification, &channels.public_url))
        .collect();
    let message = Message {
        user: &user,
        method: method.as_ref(),
        page: Some(page),
        about: Some(&context),
        more: &bundled,
        at: store.clock().now(),
    };
    let policy = channels.policy;
    let first = page.attempts + 1;
    let last = page.attempts + policy.attempts.max(1);
    let mut error = None;
    for attempt in first..=last {
        match notifier.send(&message).await {
            Ok(()) => {
                if let Some(metrics) = store.metrics() {
                    metrics.page_sent(notifier.channel());
                }
                return outcomes(attempt, None);
            }
            Err(e) => {
                tracing::warn!(incident = %job.incident_id, channel = notifier.channel(), attempt, error = %e.message, "page not delivered");
                let retryable = e.retryable;
                error = Some(e.message);
                if !retryable || attempt == last {
                    if let Some(metrics) = store.metrics() {
                        metrics.page_failed(notifier.channel());
                    }
                    return outcomes(attempt, error);
                }
                let wait = policy.retry_base * 2u32.saturating_pow(attempt - first);
                tokio::time::sleep(wait).await;
            }
        }
    }
    outcomes(last, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NotificationId, NotificationReason};

    fn job(method: Option<ContactMethodId>, user: UserId) -> PageJob {
        let mut notification = Notification::decided(
            crate::domain::incident::Page {
                id: NotificationId::new(),
                channel: "email".into(),
            },
            user,
            NotificationReason::Triggered,
            chrono::Utc::now(),
        );
        if let Some(method) = method {
            notification.set_rule(method, 0);
        }
        PageJob {
            incident_id: IncidentId::new(),
            notification,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_storm_is_bundled_per_destination_not_dropped() {
        let mut gate = StormGate::default();
        let (user, method) = (UserId::new(), ContactMethodId::new());
        let start = Instant::now();
        let mut sent = 0;
        let mut flush_at = None;
        for _ in 0..25 {
            match gate.admit(job(Some(method), user), 10, start) {
                (Admission::Send, Some(_)) => sent += 1,
                (Admission::Parked(Some(at)), _) => flush_at = Some(at),
                _ => {}
            }
        }
        assert_eq!(sent, 10);
        assert_eq!(flush_at, Some(start + STORM_WINDOW));
        // Another destination is not held up.
        assert!(matches!(
            gate.admit(job(None, user), 10, start),
            (Admission::Send, Some(_))
        ));
        // A page arriving while some are parked waits with them (order kept).
        assert!(matches!(
            gate.admit(job(Some(method), user), 10, start + Duration::from_secs(61)),
            (Admission::Parked(None), None)
        ));
        let bundle = gate.flush(Destination::Method(method), start + STORM_WINDOW);
        assert_eq!(bundle.len(), 16);
        assert!(
            gate.flush(Destination::Method(method), start + STORM_WINDOW)
                .is_empty()
        );
    }
}
