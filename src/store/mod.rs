//! Commands and reads over Klaxon's state.
//!
//! Every command runs the same way: validate → decide (pure domain rule) → append the event
//! to the journal → [`State::apply`] → effects (arm or disarm the escalation timer, hand new
//! pages to the notifier, publish to subscribers). Changes to one incident are serialized by
//! its slot's write lock, held from the decision to the publication, so a timer and a person
//! can never interleave. Configuration changes (users, services, schedules) are serialized
//! by one lock, which keeps "still referenced" checks true until their change is applied.
//!
//! The journal is [`MemoryJournal`] (`--in-memory`) or [`sqlite::SqliteJournal`], whose
//! file the state is replayed from on start ([`codec`] is its record format).

mod access;
pub mod analytics;
pub mod codec;
pub mod cold;
pub mod contacts;
mod heartbeats;
pub mod history;
mod integrations;
pub mod journal;
pub mod links;
mod maintenance;
pub mod pg_cold;
pub mod postgres;
#[cfg(test)]
mod replay_tests;
mod replica;
#[cfg(test)]
mod retention_tests;
mod schedules;
pub mod sqlite;
pub mod state;
pub mod summaries;
mod webhooks;

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use crate::clock::SharedClock;
use crate::domain::incident::Page;
use crate::domain::oncall::{MAX_ROTATIONS, RotationDraft, parse_time_zone};
use crate::domain::schedule::{
    EscalationLevel, PolicyInput, RotationInput, parse_policy, parse_rotation,
};
use crate::domain::user::UserFields;
use crate::domain::{
    Action, Actor, Delivery, DomainError, Event, Incident, IncidentChange, IncidentChangeKind,
    IncidentId, IncidentState, NewIncident, NotificationId, PasswordHash, Principal, Role,
    RotationId, Schedule, ScheduleId, Service, ServiceId, Severity, Timestamp, User, UserId, text,
};
use crate::engine::{PageJob, TimerCommand, TimerKey};
pub use access::Revoked;
pub use contacts::NewContactMethod;
pub use integrations::{IngestOutcome, IngestResult};
pub use journal::{Journal, JournalError, MemoryJournal};
pub use schedules::{OverrideDraft, RotationPatch};
pub use state::State;

/// How many incident updates the broadcast channel buffers for slow subscribers before
/// they are told they lagged.
pub const UPDATE_BUFFER: usize = 16_384;
/// Lock stripes for dedup keys: triggers with the same key serialize, others rarely meet.
const DEDUP_STRIPES: usize = 64;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain refused it (bad input, unknown id, impossible move).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The journal could not record it; nothing changed.
    #[error("the change could not be recorded durably: {0}")]
    Journal(#[from] JournalError),
    /// Another Klaxon process on the same database changed what this change was decided
    /// on, at journal position `.0`; nothing changed. The store decides again where it can.
    #[error(
        "another Klaxon process changed this at the same moment; nothing was changed, try again"
    )]
    Conflict(u64),
}

/// What kind of change an [`IncidentUpdate`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// Opened.
    Triggered,
    /// Acknowledged.
    Acknowledged,
    /// Resolved.
    Resolved,
    /// Moved up a level.
    Escalated,
    /// A repeated trigger folded in (alert count went up).
    Deduplicated,
    /// Back to triggered after a snooze or an acknowledge timeout.
    Retriggered,
    /// A note was added.
    NoteAdded,
    /// Handed to someone else.
    Reassigned,
    /// Snoozed.
    Snoozed,
    /// Its service is in maintenance: a timer passed, nobody was paged.
    PagingHeld,
    /// Its service's maintenance ended: paged, escalating again.
    PagingReleased,
}

/// A published change to an incident, with its state right after the change.
#[derive(Clone, Debug)]
pub struct IncidentUpdate {
    /// Its place among published updates: 1, 2, 3... in the order they were sent.
    pub seq: u64,
    /// What happened.
    pub kind: UpdateKind,
    /// The incident after it happened (shared, never cloned per subscriber).
    pub incident: Arc<Incident>,
    /// When it happened.
    pub at: Timestamp,
}

/// Who was on call before and after a handoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnCallChange {
    /// Its place among published handoffs: 1, 2, 3... in the order they were sent.
    pub seq: u64,
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// On call until `at`.
    pub from: Option<UserId>,
    /// On call from `at`.
    pub to: Option<UserId>,
    /// The handoff instant.
    pub at: Timestamp,
}

/// Filters for listing incidents.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Only this state.
    pub state: Option<IncidentState>,
    /// Only this service.
    pub service_id: Option<ServiceId>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Case-insensitive substring of the title or description.
    pub search: Option<String>,
}

impl IncidentFilter {
    fn matches(&self, incident: &Incident, needle: Option<&str>) -> bool {
        self.state.is_none_or(|s| incident.state == s)
            && self.service_id.is_none_or(|s| incident.service_id == s)
            && self.severity.is_none_or(|s| incident.severity == s)
            && needle.is_none_or(|needle| {
                contains_ignore_case(&incident.title, needle)
                    || incident
                        .description()
                        .is_some_and(|d| contains_ignore_case(d, needle))
            })
    }

    fn only_state(&self) -> bool {
        self.service_id.is_none() && self.severity.is_none() && self.search.is_none()
    }
}

fn contains_ignore_case(haystack: &str, lower_needle: &str) -> bool {
    haystack.to_lowercase().contains(lower_needle)
}

/// Whether an incident may leave memory: resolved before `older_than`, every page settled
/// (a delivery record arrives without the incident's lock, so none may be pending).
fn retirable(incident: &Incident, older_than: Timestamp) -> bool {
    incident.state == IncidentState::Resolved
        && incident.resolved_at.is_some_and(|at| at < older_than)
        && incident
            .notifications
            .iter()
            .all(|n| n.delivered || n.failed)
}

/// Runs a cold-index read on the blocking pool.
async fn blocking<R: Send + 'static>(
    read: impl FnOnce() -> Result<R, cold::ColdError> + Send + 'static,
) -> Result<R, CommandError> {
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(JournalError(error.to_string()).into()),
        Err(error) => Err(JournalError(format!("cold history read failed: {error}")).into()),
    }
}

/// One page of incidents, newest first.
#[derive(Clone, Debug)]
pub struct IncidentPage {
    /// The incidents on this page.
    pub nodes: Vec<Arc<Incident>>,
    /// How many incidents match the filter in all.
    pub total_count: u64,
    /// Whether more follow the last one.
    pub has_next_page: bool,
}

/// A user update: `None` keeps a field; `phone: Some(None)` clears the phone.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    /// New name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New phone, or `Some(None)` to clear it.
    pub phone: Option<Option<String>>,
    /// New role.
    pub role: Option<Role>,
    /// New password hash (the caller validated and hashed it).
    pub password: Option<PasswordHash>,
}

/// A schedule as the client describes it, before validation.
#[derive(Clone, Debug)]
pub struct ScheduleDraft {
    /// Display name.
    pub name: String,
    /// Raw service id.
    pub service_id: String,
    /// IANA zone; UTC when absent.
    pub time_zone: Option<String>,
    /// Raw rotation entries.
    pub rotation: Vec<RotationInput>,
    /// Recurring rotation layers.
    pub rotations: Vec<RotationDraft>,
    /// Raw policy.
    pub escalation_policy: PolicyInput,
}

/// A schedule update; `None` keeps a field.
#[derive(Clone, Debug, Default)]
pub struct SchedulePatch {
    /// New name.
    pub name: Option<String>,
    /// New service.
    pub service_id: Option<String>,
    /// Replacement rotation.
    pub rotation: Option<Vec<RotationInput>>,
    /// Replacement policy.
    pub escalation_policy: Option<PolicyInput>,
    /// New zone.
    pub time_zone: Option<String>,
}

/// A lossy broadcast channel whose messages are numbered in the order they are sent, so a
/// reader can tell which ones were sent before a given moment ([`Published::last`]).
struct Published<T> {
    sender: broadcast::Sender<T>,
    /// The number of the latest message; held while sending, so numbers follow send order.
    last: std::sync::Mutex<u64>,
}

impl<T: Clone> Published<T> {
    fn new(buffer: usize) -> Self {
        Self {
            sender: broadcast::channel(buffer.max(1)).0,
            last: std::sync::Mutex::new(0),
        }
    }

    /// Sends the message `make` builds around its number (no receivers is not an error).
    fn send(&self, make: impl FnOnce(u64) -> T) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last += 1;
        let _ = self.sender.send(make(*last));
    }

    /// The number of the latest message sent (0 before the first).
    fn last(&self) -> u64 {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handle every edge uses: cheap to clone.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    state: State,
    journal: Arc<dyn Journal>,
    clock: SharedClock,
    /// Lossy fan-out to subscribers: a slow one lags, nobody else waits.
    updates: Published<IncidentUpdate>,
    /// Lossy fan-out of on-call handoffs.
    handoffs: Published<OnCallChange>,
    /// Lossless: the escalation engine must see every arm and disarm.
    timers: mpsc::UnboundedSender<TimerCommand>,
    /// Lossless: every decided page reaches the notifier.
    pages: mpsc::UnboundedSender<PageJob>,
    /// The channel name recorded on pages.
    channel: String,
    /// Serializes configuration changes so referential checks stay true until applied.
    config: tokio::sync::Mutex<()>,
    /// Shared journals: the journal position the configuration held by `config`'s holder
    /// was read at (the basis its configuration changes name).
    config_basis: std::sync::atomic::AtomicU64,
    /// Serializes reading a retired incident back into memory with retiring incidents, so
    /// a thaw never restores a row that a retirement running meanwhile replaced.
    thaw_lock: tokio::sync::Mutex<()>,
    /// Serializes triggers per dedup key, so two concurrent repeats open one incident.
    dedup_locks: Vec<tokio::sync::Mutex<()>>,
    /// Lossy fan-out of credentials that stopped working, to the WebSockets using them.
    revocations: broadcast::Sender<access::Revoked>,
    /// Tokens and sessions whose use is being journaled (one write in flight each).
    touching: dashmap::DashMap<uuid::Uuid, ()>,
    /// Where changes are counted, once the server sets it (`None` in bare stores).
    metrics: std::sync::OnceLock<Arc<crate::metrics::Metrics>>,
    /// Heartbeat locks and unrecorded beats.
    beats: heartbeats::Beats,
    /// The page channels, once the server sets them (test notifications use them).
    channels: std::sync::OnceLock<Arc<crate::engine::notifier::Channels>>,
}

/// The receiving ends a [`Store`] feeds, for the engine and notifier tasks.
pub struct StoreOutlets {
    /// Timer commands for the escalation engine.
    pub timers: mpsc::UnboundedReceiver<TimerCommand>,
    /// Pages for the notifier.
    pub pages: mpsc::UnboundedReceiver<PageJob>,
    /// New (and, after [`Store::resume`], pending) webhook deliveries for their worker.
    pub webhooks: mpsc::UnboundedReceiver<crate::domain::WebhookDeliveryId>,
}

impl Store {
    /// A store over `state` (empty, or replayed from `journal`).
    pub fn new(
        state: State,
        journal: Arc<dyn Journal>,
        clock: SharedClock,
        channel: impl Into<String>,
        update_buffer: usize,
    ) -> (Self, StoreOutlets) {
        let (timers_tx, timers_rx) = mpsc::unbounded_channel();
        let (pages_tx, pages_rx) = mpsc::unbounded_channel();
        let updates = Published::new(update_buffer);
        let handoffs = Published::new(update_buffer);
        let (revocations, _) = broadcast::channel(1024);
        let (webhooks_tx, webhooks_rx) = mpsc::unbounded_channel();
        state.webhooks.connect(webhooks_tx);
        let shared = Shared {
            state,
            journal,
            clock,
            updates,
            handoffs,
            timers: timers_tx,
            pages: pages_tx,
            channel: channel.into(),
            config: tokio::sync::Mutex::new(()),
            config_basis: std::sync::atomic::AtomicU64::new(0),
            thaw_lock: tokio::sync::Mutex::new(()),
            dedup_locks: (0..DEDUP_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            revocations,
            touching: dashmap::DashMap::new(),
            metrics: std::sync::OnceLock::new(),
            beats: heartbeats::Beats::default(),
            channels: std::sync::OnceLock::new(),
        };
        let store = Self {
            shared: Arc::new(shared),
        };
        (
            store,
            StoreOutlets {
                timers: timers_rx,
                pages: pages_rx,
                webhooks: webhooks_rx,
            },
        )
    }

    /// The serving state, for reads.
    pub fn state(&self) -> &State {
        &self.shared.state
    }

    /// The clock every decision uses.
    pub fn clock(&self) -> &SharedClock {
        &self.shared.clock
    }

    /// A new receiver of incident updates.
    pub fn subscribe(&self) -> broadcast::Receiver<IncidentUpdate> {
        self.shared.updates.sender.subscribe()
    }

    /// The `seq` of the latest published incident update (0 before the first).
    pub fn update_seq(&self) -> u64 {
        self.shared.updates.last()
    }

    /// How many subscribers are receiving incident updates.
    pub fn subscriber_count(&self) -> usize {
        self.shared.updates.sender.receiver_count() + self.shared.handoffs.sender.receiver_count()
    }

    /// Counts changes, journal appends and commits into `metrics` from now on (set once).
    pub fn set_metrics(&self, metrics: Arc<crate::metrics::Metrics>) {
        self.shared
            .journal
            .observe_commits(metrics.journal_commit_histogram());
        metrics.register_channel(&self.shared.channel);
        let _ = self.shared.metrics.set(metrics);
    }

    /// Sets the page channels (once).
    pub fn set_channels(&self, channels: Arc<crate::engine::notifier::Channels>) {
        let _ = self.shared.channels.set(channels);
    }

    /// The page channels, when the server set them.
    pub fn channels(&self) -> Option<&Arc<crate::engine::notifier::Channels>> {
        self.shared.channels.get()
    }

    /// Where changes are counted, if anywhere.
    pub fn metrics(&self) -> Option<&Arc<crate::metrics::Metrics>> {
        self.shared.metrics.get()
    }

    fn record_metrics(&self, change: &IncidentChange, incident: &Incident) {
        if let Some(metrics) = self.metrics() {
            let service = self.state().service_any(incident.service_id);
            let name = service.as_ref().map_or("", |s| s.name.as_str());
            metrics.record_incident(change, incident, name);
        }
    }

    /// Arms an incident's timers (escalation, wake-up, next notification) at its
    /// deadlines. Never a disarm: the engine drops a due timer that is no longer the
    /// incident's deadline, and arming one it already has changes nothing.
    fn arm_timers(&self, incident: &Incident) {
        let deadlines = [
            (
                TimerKey::Escalation(incident.id),
                incident.escalation_deadline,
            ),
            (TimerKey::Wake(incident.id), incident.wake_deadline()),
            (
                TimerKey::Notify(incident.id),
                incident.next_notification_due(),
            ),
        ];
        for (key, at) in deadlines {
            if let Some(at) = at {
                let _ = self.shared.timers.send(TimerCommand::Arm(key, at));
            }
        }
    }

    /// Re-arms every pending escalation and re-queues every undelivered page; called at
    /// start-up after replay, and on a shared journal again whenever this process becomes
    /// the engine holder.
    pub fn resume(&self) {
        let holder = self.is_engine_holder();
        for slot in self.state().incidents.iter() {
            let incident = slot.current();
            self.arm_timers(&incident);
            // Pages are the engine holder's to send: a standby queues none (its notifier
            // would drop them), and a new holder queues each once, when it takes over.
            if !holder {
                continue;
            }
            for page in incident
                .notifications
                .iter()
                .filter(|n| !n.delivered && !n.failed)
            {
                let _ = self.shared.pages.send(PageJob {
                    incident_id: incident.id,
                    notification: page.clone(),
                });
            }
        }
        let now = self.shared.clock.now();
        for schedule in self.schedules() {
            self.arm_handoff(&schedule, now);
        }
        self.resume_heartbeats();
        self.resume_maintenance(now);
        self.resume_webhooks();
    }

    fn page(&self) -> Page {
        Page {
            id: NotificationId::new(),
            channel: self.shared.channel.clone(),
        }
    }

    async fn commit(&self, event: Event) -> Result<Option<state::Applied>, CommandError> {
        self.commit_checked(event, Vec::new()).await
    }

    /// Records `event` and applies it. With a shared journal, `checks` name the journal
    /// position each conflict key was read at; a newer event on any of them refuses the
    /// append ([`CommandError::Conflict`]), and the event is applied by the fold, in log
    /// order, like every other process's.
    async fn commit_checked(
        &self,
        event: Event,
        checks: Vec<(String, u64)>,
    ) -> Result<Option<state::Applied>, CommandError> {
        let started = std::time::Instant::now();
        if let Some(pg) = self.shared.journal.postgres() {
            let applied = self.commit_shared(pg, &event, checks).await?;
            if let Some(metrics) = self.metrics() {
                metrics.journal_append(started.elapsed());
            }
            return Ok(applied);
        }
        self.shared.journal.append(&event).await?;
        if let Some(metrics) = self.metrics() {
            metrics.journal_append(started.elapsed());
        }
        Ok(self.shared.state.apply(&event))
    }

    // ---- users ----------------------------------------------------------------------

    /// Creates a user. `password` is already validated and hashed by the caller.
    pub async fn create_user(
        &self,
        by: &Principal,
        fields: UserFields,
        password: Option<PasswordHash>,
    ) -> Result<Arc<User>, CommandError> {
        by.require(Action::Configure)?;
        let user = fields.into_user(UserId::new(), password);
        let _config = self.config_lock().await?;
        self.check_email_free(&user.email, None)?;
        self.commit(Event::UserCreated {
            user: user.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(Arc::new(user))
    }

    /// People log in by email, so two live users cannot share one.
    fn check_email_free(&self, email: &str, except: Option<UserId>) -> Result<(), DomainError> {
        match self.user_by_email(email) {
            Some(other) if Some(other.id) != except => Err(DomainError::invalid(
                "email",
                format!("{email} is already the email of another user"),
            )),
            _ => Ok(()),
        }
    }

    /// Updates a user's fields.
    pub async fn update_user(
        &self,
        by: &Principal,
        id: &str,
        patch: UserPatch,
    ) -> Result<Arc<User>, CommandError> {
        by.require(Action::Configure)?;
        let id: UserId = id.parse()?;
        let _config = self.config_lock().await?;
        let current = self
            .state()
            .user(id)
            .ok_or_else(|| DomainError::not_found("user", id))?;
        let phone = match &patch.phone {
            Some(phone) => phone.as_deref(),
            None => current.phone.as_deref(),
        };
        let fields = UserFields::parse(
            patch.name.as_deref().unwrap_or(&current.name),
            patch.email.as_deref().unwrap_or(&current.email),
            phone,
            patch.role.unwrap_or(current.role),
        )?;
        self.check_email_free(&fields.email, Some(id))?;
        let password_changed = patch.password.is_some();
        let role_changed = fields.role != current.role;
        let password = patch.password.or_else(|| current.password.clone());
        let user = fields.into_user(id, password);
        self.commit(Event::UserUpdated {
            user: user.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        if password_changed {
            // A new password ends every session made with the old one, except the one
            // making the change.
            self.end_user_sessions(by, id).await?;
        }
        if password_changed || role_changed {
            self.revoke(Revoked::User(id));
        }
        Ok(Arc::new(user))
    }

    /// A person changes their own password (the caller verified the current one).
    pub async fn change_own_password(
        &self,
        by: &Principal,
        password: PasswordHash,
    ) -> Result<Arc<User>, CommandError> {
        let Some(id) = by.user_id() else {
            return Err(DomainError::InvalidState(
                "only a person who logged in has a password to change; this is an API token".into(),
            )
            .into());
        };
        let _config = self.config_lock().await?;
        let current = self
            .state()
            .user(id)
            .ok_or_else(|| DomainError::not_found("user", id))?;
        let mut user = (*current).clone();
        user.password = Some(password);
        self.commit(Event::UserUpdated {
            user: user.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        self.end_user_sessions(by, id).await?;
        Ok(Arc::new(user))
    }

    /// Ends every session of `user` except the one `by` is using.
    async fn end_user_sessions(&self, by: &Principal, user: UserId) -> Result<(), CommandError> {
        let ids = self
            .state()
            .sessions_of(user)
            .iter()
            .map(|s| s.id)
            .filter(|id| by.credential != crate::domain::Credential::Session(*id))
            .collect();
        self.end_sessions(by, ids).await
    }

    /// Deletes a user no schedule refers to.
    pub async fn delete_user(&self, by: &Principal, id: &str) -> Result<UserId, CommandError> {
        by.require(Action::Configure)?;
        let id: UserId = id.parse()?;
        let _config = self.config_lock().await?;
        if self.state().user(id).is_none() {
            return Err(DomainError::not_found("user", id).into());
        }
        let referrers: Vec<String> = self
            .schedules()
            .iter()
            .filter(|s| s.users().any(|u| u == id))
            .map(|s| format!("'{}' ({})", s.name, s.id))
            .collect();
        if !referrers.is_empty() {
            return Err(DomainError::InvalidState(format!(
                "user {id} is still in the rotation or escalation policy of schedule {}; remove them there first",
                referrers.join(", ")
            ))
            .into());
        }
        let at = self.shared.clock.now();
        self.commit(Event::UserDeleted {
            id,
            at,
            actor: by.actor.clone(),
        })
        .await?;
        let sessions = self.state().sessions_of(id).iter().map(|s| s.id).collect();
        self.end_sessions(by, sessions).await?;
        self.revoke(Revoked::User(id));
        Ok(id)
    }

    /// Live users, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        let mut users: Vec<_> = self
            .state()
            .users
            .iter()
            .filter(|u| u.deleted_at.is_none())
            .map(|u| u.clone())
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        users
    }

    // ---- services -------------------------------------------------------------------

    /// Creates a service.
    pub async fn create_service(
        &self,
        by: &Principal,
        name: &str,
        description: Option<&str>,
    ) -> Result<Arc<Service>, CommandError> {
        by.require(Action::Configure)?;
        let service = Service::parse(ServiceId::new(), name, description)?;
        let _config = self.config_lock().await?;
        self.commit(Event::ServiceCreated {
            service: service.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(Arc::new(service))
    }

    /// Updates a service; `description: Some(None)` clears it.
    pub async fn update_service(
        &self,
        by: &Principal,
        id: &str,
        name: Option<&str>,
        description: Option<Option<&str>>,
    ) -> Result<Arc<Service>, CommandError> {
        by.require(Action::Configure)?;
        let id: ServiceId = id.parse()?;
        let _config = self.config_lock().await?;
        let current = self
            .state()
            .service(id)
            .ok_or_else(|| DomainError::not_found("service", id))?;
        let service = current.renamed(
            name.unwrap_or(&current.name),
            description.unwrap_or(current.description.as_deref()),
        )?;
        self.commit(Event::ServiceUpdated {
            service: service.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(Arc::new(service))
    }

    /// Deletes a service that has no schedules.
    pub async fn delete_service(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<ServiceId, CommandError> {
        by.require(Action::Configure)?;
        let id: ServiceId = id.parse()?;
        let _config = self.config_lock().await?;
        if self.state().service(id).is_none() {
            return Err(DomainError::not_found("service", id).into());
        }
        let schedules = self.schedules_of(id);
        if !schedules.is_empty() {
            let names: Vec<_> = schedules
                .iter()
                .map(|s| format!("'{}' ({})", s.name, s.id))
                .collect();
            return Err(DomainError::InvalidState(format!(
                "service {id} still has schedule {}; delete or move them first",
                names.join(", ")
            ))
            .into());
        }
        let at = self.shared.clock.now();
        self.commit(Event::ServiceDeleted {
            id,
            at,
            actor: by.actor.clone(),
        })
        .await?;
        Ok(id)
    }

    /// Live services, by name.
    pub fn services(&self) -> Vec<Arc<Service>> {
        let mut services: Vec<_> = self
            .state()
            .services
            .iter()
            .filter(|s| s.deleted_at.is_none())
            .map(|s| s.clone())
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        services
    }

    // ---- schedules ------------------------------------------------------------------

    fn live_service(&self, field: &str, raw: &str) -> Result<ServiceId, DomainError> {
        let id: ServiceId = raw.parse().map_err(|e: DomainError| e.at(field))?;
        self.state()
            .service(id)
            .map(|s| s.id)
            .ok_or_else(|| DomainError::not_found("service", id).at(field))
    }

    fn user_exists(&self) -> impl Fn(UserId) -> bool + '_ {
        |id| self.state().user(id).is_some()
    }

    /// Creates a schedule.
    pub async fn create_schedule(
        &self,
        by: &Principal,
        draft: ScheduleDraft,
    ) -> Result<Arc<Schedule>, CommandError> {
        by.require(Action::Configure)?;
        let name = text::name("name", &draft.name)?;
        let time_zone = draft.time_zone.as_deref().unwrap_or("UTC");
        parse_time_zone("timeZone", time_zone)?;
        let _config = self.config_lock().await?;
        let service_id = self.live_service("serviceId", &draft.service_id)?;
        let exists = self.user_exists();
        let rotation = parse_rotation(&draft.rotation, &exists)?;
        let escalation_policy =
            parse_policy(&draft.escalation_policy, &exists, &self.schedule_exists())?;
        self.check_level_coverage(&escalation_policy)?;
        if draft.rotations.len() > MAX_ROTATIONS {
            return Err(DomainError::invalid(
                "rotations",
                format!("at most {MAX_ROTATIONS} layers"),
            )
            .into());
        }
        let rotations = draft
            .rotations
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.parse(RotationId::new(), &exists)
                    .map_err(|e| e.within(&format!("rotations[{i}]")))
            })
            .collect::<Result<_, _>>()?;
        let schedule = Schedule {
            id: ScheduleId::new(),
            name,
            service_id,
            time_zone: time_zone.trim().to_owned(),
            rotation,
            rotations,
            overrides: Vec::new(),
            escalation_policy: escalation_policy.into(),
            calendar_key: Some(crate::secret::random_secret("")),
            deleted_at: None,
        };
        self.commit(Event::ScheduleCreated {
            schedule: schedule.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        self.arm_handoff(&schedule, self.shared.clock.now());
        Ok(Arc::new(schedule))
    }

    /// Replaces the given parts of a schedule. Open incidents keep the policy they copied.
    pub async fn update_schedule(
        &self,
        by: &Principal,
        id: &str,
        patch: SchedulePatch,
    ) -> Result<Arc<Schedule>, CommandError> {
        by.require(Action::Configure)?;
        let id: ScheduleId = id.parse()?;
        let _config = self.config_lock().await?;
        let current = self
            .state()
            .schedule(id)
            .ok_or_else(|| DomainError::not_found("schedule", id))?;
        let mut schedule = (*current).clone();
        if let Some(name) = &patch.name {
            schedule.name = text::name("name", name)?;
        }
        if let Some(service) = &patch.service_id {
            schedule.service_id = self.live_service("serviceId", service)?;
        }
        let exists = self.user_exists();
        if let Some(rotation) = &patch.rotation {
            schedule.rotation = parse_rotation(rotation, &exists)?;
        }
        if let Some(policy) = &patch.escalation_policy {
            schedule.escalation_policy =
                parse_policy(policy, &exists, &self.schedule_exists())?.into();
            self.check_level_coverage(&schedule.escalation_policy)?;
        }
        if let Some(time_zone) = &patch.time_zone {
            parse_time_zone("timeZone", time_zone)?;
            schedule.time_zone = time_zone.trim().to_owned();
        }
        self.save_schedule(by, schedule).await
    }

    /// Gives the calendar feed a new secret: the old URL stops working at once.
    pub async fn rotate_calendar_key(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<Arc<Schedule>, CommandError> {
        by.require(Action::Configure)?;
        let id: ScheduleId = id.parse()?;
        let _config = self.config_lock().await?;
        let current = self
            .state()
            .schedule(id)
            .ok_or_else(|| DomainError::not_found("schedule", id))?;
        let mut schedule = (*current).clone();
        schedule.calendar_key = Some(crate::secret::random_secret(""));
        self.save_schedule(by, schedule).await
    }

    /// Gives every schedule journaled before feeds had keys a key of its own (start-up).
    pub async fn ensure_calendar_keys(&self) -> Result<(), CommandError> {
        let by = Principal::system();
        let missing: Vec<ScheduleId> = self
            .state()
            .schedules
            .iter()
            .filter(|s| s.calendar_key.is_none() && s.deleted_at.is_none())
            .map(|s| s.id)
            .collect();
        for id in missing {
            self.rotate_calendar_key(&by, &id.to_string()).await?;
        }
        Ok(())
    }

    /// Deletes a schedule with no open incidents.
    pub async fn delete_schedule(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<ScheduleId, CommandError> {
        by.require(Action::Configure)?;
        let id: ScheduleId = id.parse()?;
        let _config = self.config_lock().await?;
        if self.state().schedule(id).is_none() {
            return Err(DomainError::not_found("schedule", id).into());
        }
        let open: Vec<IncidentId> = self
            .open_incidents()
            .iter()
            .filter(|i| i.schedule_id == id)
            .map(|i| i.id)
            .collect();
        let referrers: Vec<String> = self
            .schedules()
            .iter()
            .filter(|s| s.id != id && s.escalation_policy.schedules().any(|target| target == id))
            .map(|s| format!("'{}' ({})", s.name, s.id))
            .collect();
        self.check_no_heartbeats(id)?;
        if !referrers.is_empty() {
            return Err(DomainError::InvalidState(format!(
                "schedule {id} is an escalation level of schedule {}; change those policies first",
                referrers.join(", ")
            ))
            .into());
        }
        if !open.is_empty() {
            let ids: Vec<String> = open.iter().take(5).map(|i| i.to_string()).collect();
            return Err(DomainError::InvalidState(format!(
                "schedule {id} has {} open incident(s) ({}); resolve them first",
                open.len(),
                ids.join(", ")
            ))
            .into());
        }
        let at = self.shared.clock.now();
        self.commit(Event::ScheduleDeleted {
            id,
            at,
            actor: by.actor.clone(),
        })
        .await?;
        let _ = self
            .shared
            .timers
            .send(TimerCommand::Disarm(TimerKey::Handoff(id)));
        Ok(id)
    }

    /// Live schedules, by name.
    pub fn schedules(&self) -> Vec<Arc<Schedule>> {
        let mut schedules: Vec<_> = self
            .state()
            .schedules
            .iter()
            .filter(|s| s.deleted_at.is_none())
            .map(|s| s.clone())
            .collect();
        schedules.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        schedules
    }

    /// Live schedules of one service, by name.
    pub fn schedules_of(&self, service: ServiceId) -> Vec<Arc<Schedule>> {
        let mut schedules = self.schedules();
        schedules.retain(|s| s.service_id == service);
        schedules
    }

    /// Who is on call for `schedule` at `at` (default now).
    pub fn on_call(&self, schedule: &Schedule, at: Option<Timestamp>) -> Option<Arc<User>> {
        let at = at.unwrap_or_else(|| self.shared.clock.now());
        schedule
            .on_call(at)
            .and_then(|id| self.state().user_any(id))
    }

    // ---- incidents ------------------------------------------------------------------

    /// Opens an incident on a schedule, or folds it into the open incident with the same
    /// dedup key on the same service.
    pub async fn trigger(
        &self,
        by: &Principal,
        schedule_id: &str,
        new: NewIncident,
    ) -> Result<Arc<Incident>, CommandError> {
        by.require(Action::TriggerIncident)?;
        let schedule_id: ScheduleId = schedule_id.parse()?;
        self.open_or_fold(by, schedule_id, new, Vec::new(), |incident| {
            incident.repeat_alert()
        })
        .await
        .map(|(incident, _)| incident)
    }

    /// The one trigger path (people, scripts and monitors): folds into the open incident
    /// of the schedule's service with the same dedup key (`fold` decides the change), or
    /// opens one carrying `alerts`. Says whether it opened one.
    pub(crate) async fn open_or_fold(
        &self,
        by: &Principal,
        schedule_id: ScheduleId,
        new: NewIncident,
        alerts: Vec<Arc<crate::domain::Alert>>,
        fold: impl Fn(&Incident) -> Option<IncidentChangeKind>,
    ) -> Result<(Arc<Incident>, bool), CommandError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = self
                .open_or_fold_once(by, schedule_id, new.clone(), alerts.clone(), &fold)
                .await;
            match outcome {
                // Another process opened or changed the incident for this key first.
                Err(CommandError::Conflict(pos)) if attempts < 8 => self.catch_up(pos).await?,
                other => return other,
            }
        }
    }

    async fn open_or_fold_once(
        &self,
        by: &Principal,
        schedule_id: ScheduleId,
        new: NewIncident,
        alerts: Vec<Arc<crate::domain::Alert>>,
        fold: &impl Fn(&Incident) -> Option<IncidentChangeKind>,
    ) -> Result<(Arc<Incident>, bool), CommandError> {
        by.require(Action::TriggerIncident)?;
        let schedule = self
            .caught_up(|| self.state().schedule(schedule_id))
            .await
            .ok_or_else(|| DomainError::not_found("schedule", schedule_id))?;
        let mut checks = Vec::new();
        let _dedup = match &new.dedup_key {
            Some(key) => {
                let guard = self.dedup_lock(schedule.service_id, key).lock().await;
                if let Some(pg) = self.shared.journal.postgres() {
                    // Read under the stripe lock: the basis of "no open incident has it".
                    checks.push((
                        replica::dedup_key(schedule.service_id, key),
                        pg.positions.folded(),
                    ));
                }
                let existing = self
                    .state()
                    .dedup
                    .get(&(schedule.service_id, key.clone()))
                    .map(|id| *id);
                if let Some(existing) = existing {
                    let incident = self
                        .transition(existing, &by.actor, |incident, _| Ok(fold(incident)))
                        .await?;
                    if incident.is_open() {
                        return Ok((incident, false));
                    }
                }
                Some(guard)
            }
            None => None,
        };
        let now = self.shared.clock.now();
        let seq = self.state().allocate_seq();
        let who = |level: &EscalationLevel| self.level_target(level, now);
        let mut incident = Incident::trigger(
            IncidentId::new(),
            seq,
            new,
            &schedule,
            now,
            self.page(),
            &who,
        );
        incident.triggered_by = by.actor.clone();
        for step in &mut incident.extras_mut().escalation_history {
            step.actor = by.actor.clone();
        }
        incident.extras_mut().alerts = alerts;
        incident.tidy();
        if self.in_maintenance(schedule.service_id, now).is_some() {
            incident.hold_paging();
        }
        if let Some(page) = incident.notifications.first_mut() {
            self.plan_page(page);
        }
        incident.open_timeline();
        if incident.assigned_to.is_none() && !incident.paging_held {
            tracing::warn!(
                incident = %incident.id,
                schedule = %schedule.id,
                "nobody is on call and the escalation policy has no levels: the incident is unassigned"
            );
        }
        let change = IncidentChange {
            incident_id: incident.id,
            at: now,
            kind: IncidentChangeKind::Triggered(Box::new(incident)),
            actor: by.actor.clone(),
        };
        let Some(applied) = self
            .commit_checked(Event::Incident(change.clone()), checks)
            .await?
        else {
            return Err(
                DomainError::InvalidState("the incident could not be opened".into()).into(),
            );
        };
        let state::Applied {
            incident,
            new_slot_guard,
        } = applied;
        self.after_commit(&change, &incident);
        drop(new_slot_guard);
        // Held, but the maintenance ended while it was being recorded (after the end's
        // sweep looked): release it here, so no incident stays held past its maintenance.
        if incident.paging_held
            && self
                .in_maintenance(incident.service_id, self.shared.clock.now())
                .is_none()
        {
            return self
                .release_one(incident.id)
                .await
                .map(|incident| (incident, true));
        }
        Ok((incident, true))
    }

    fn dedup_lock(&self, service: ServiceId, key: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        // DefaultHasher::new() is deterministic, so one key always maps to one stripe.
        let mut hasher = std::hash::DefaultHasher::new();
        service.hash(&mut hasher);
        key.hash(&mut hasher);
        let stripe = (hasher.finish() as usize) % self.shared.dedup_locks.len();
        &self.shared.dedup_locks[stripe]
    }

    /// Acknowledges an incident. No-op when already acknowledged.
    pub async fn acknowledge(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<Arc<Incident>, CommandError> {
        by.require(Action::WorkIncident)?;
        let id: IncidentId = id.parse()?;
        self.transition(id, &by.actor, |incident, _| incident.acknowledge())
            .await
    }

    /// Resolves an incident. No-op when already resolved.
    pub async fn resolve(&self, by: &Principal, id: &str) -> Result<Arc<Incident>, CommandError> {
        by.require(Action::WorkIncident)?;
        let id: IncidentId = id.parse()?;
        self.transition(id, &by.actor, |incident, _| Ok(incident.resolve()))
            .await
    }

    /// Escalates an incident by hand.
    pub async fn escalate(&self, by: &Principal, id: &str) -> Result<Arc<Incident>, CommandError> {
        by.require(Action::WorkIncident)?;
        let id: IncidentId = id.parse()?;
        let page = self.page();
        self.transition(id, &by.actor, |incident, now| {
            self.check_not_in_maintenance(incident.service_id, now)?;
            let who = |level: &EscalationLevel| self.level_target(level, now);
            incident
                .escalate_manually(now, page.clone(), &who)
                .map(Some)
        })
        .await
    }

    /// The escalation engine's timer for `deadline` fired.
    pub async fn escalate_on_timeout(
        &self,
        id: IncidentId,
        deadline: Timestamp,
    ) -> Result<Arc<Incident>, CommandError> {
        let page = self.page();
        self.transition(id, &Actor::system(), |incident, now| {
            if self.in_maintenance(incident.service_id, now).is_some() {
                return Ok(incident.hold_on_timeout(deadline));
            }
            let who = |level: &EscalationLevel| self.level_target(level, now);
            let on_call = self.on_call_for(incident, now);
            Ok(incident.escalate_on_timeout(deadline, now, page.clone(), &who, on_call))
        })
        .await
    }

    /// Who the incident's schedule has on call at `now` (level 0's target).
    fn on_call_for(&self, incident: &Incident, now: Timestamp) -> Option<UserId> {
        self.state()
            .schedule_any(incident.schedule_id)
            .and_then(|s| s.on_call(now))
    }

    /// The target of the incident's current level at `now`.
    fn current_target(&self, incident: &Incident, now: Timestamp) -> Option<UserId> {
        match incident.escalation_level {
            0 => self.on_call_for(incident, now),
            k => incident
                .escalation_policy
                .level(k)
                .and_then(|level| self.level_target(level, now)),
        }
    }

    /// The engine's wake timer for `deadline` fired: a snooze ended or an acknowledgement
    /// timed out.
    pub async fn wake_on_timeout(
        &self,
        id: IncidentId,
        deadline: Timestamp,
    ) -> Result<Arc<Incident>, CommandError> {
        let page = self.page();
        self.transition(id, &Actor::system(), |incident, now| {
            if self.in_maintenance(incident.service_id, now).is_some() {
                return Ok(incident.hold_on_wake(deadline));
            }
            let target = self.current_target(incident, now);
            Ok(incident.wake(deadline, now, page.clone(), target))
        })
        .await
    }

    /// Adds a note.
    pub async fn add_note(
        &self,
        by: &Principal,
        id: &str,
        text: &str,
    ) -> Result<Arc<Incident>, CommandError> {
        by.require(Action::WorkIncident)?;
        let id: IncidentId = id.parse()?;
        self.transition(id, &by.actor, |incident, _| {
            incident.add_note(text).map(Some)
        })
        .await
    }

    /// Hands an incident to a live user at its current level, paging them.
    pub async fn reassign(
        &self,
        by: &Principal,
        id: &str,
        user_id: &str,
    ) -> Result<Arc<Incident>, CommandError> {
        by.require(Action::WorkIncident)?;
        let id: IncidentId = id.parse()?;
        let to: UserId = user_id.parse().map_err(|e: DomainError| e.at("userId"))?;
        if self.state().user(to).is_none() {
            return Err(DomainError::not_found("user", to).at("userId").into());
        }
        let page = self.page();
        self.transition(id, &by.actor, |incident, now| {
            self.check_not_in_maintenance(incident.service_id, now)?;
            incident.reassign(to, now, page.clone()).map(Some)
        })
        .await
    }

    /// Snoozes an incident for `duration_ms` (1 s ..= 7 days).
    pub async fn snooze(
        &self,
        by: &Principal,
        id: &str,
        duration_ms: i64,
    ) -> Result<Arc<Incident>, CommandError> {
        by.require(Action::WorkIncident)?;
        let duration = crate::domain::schedule::wake_ms("durationMs", duration_ms)?;
        let id: IncidentId = id.parse()?;
        self.transition(id, &by.actor, |incident, now| {
            incident.snooze(duration, now).map(Some)
        })
        .await
    }

    /// Records a batch of page outcomes (delivered, or given up) in one event: one journal
    /// append for many pages. Unknown and already-settled pages are skipped.
    pub async fn record_deliveries(&self, outcomes: &[Delivery]) -> Result<(), CommandError> {
        let deliveries: Vec<Delivery> = outcomes
            .iter()
            .filter(|d| {
                self.incident(d.incident_id).is_some_and(|i| {
                    i.notifications
                        .iter()
                        .any(|n| n.id == d.notification_id && !n.delivered && !n.failed)
                })
            })
            .cloned()
            .collect();
        if deliveries.is_empty() {
            return Ok(());
        }
        let at = self.shared.clock.now();
        self.commit(Event::NotificationsDelivered { at, deliveries })
            .await?;
        Ok(())
    }

    /// Runs one serialized change on one incident: lock, decide on the latest state,
    /// record, apply, effects, unlock. A `None` decision is a no-op: nothing recorded or
    /// published, and the current state is returned.
    async fn transition<F>(
        &self,
        id: IncidentId,
        actor: &Actor,
        decide: F,
    ) -> Result<Arc<Incident>, CommandError>
    where
        F: Fn(&Incident, Timestamp) -> Result<Option<IncidentChangeKind>, DomainError>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.transition_once(id, actor, &decide).await {
                // Another process changed the incident first: read its change, decide again.
                Err(CommandError::Conflict(pos)) if attempts < 8 => self.catch_up(pos).await?,
                other => return other,
            }
        }
    }

    async fn transition_once<F>(
        &self,
        id: IncidentId,
        actor: &Actor,
        decide: &F,
    ) -> Result<Arc<Incident>, CommandError>
    where
        F: Fn(&Incident, Timestamp) -> Result<Option<IncidentChangeKind>, DomainError>,
    {
        let (_serialized, current, basis) = self.lock_incident(id).await?;
        let now = self.shared.clock.now();
        let Some(mut kind) = decide(&current, now)? else {
            return Ok(current);
        };
        if let Some(page) = kind.page_mut() {
            self.plan_page(page);
        }
        let change = IncidentChange {
            incident_id: id,
            at: now,
            kind,
            actor: actor.clone(),
        };
        let checks = vec![(replica::incident_key(id), basis)];
        let applied = self
            .commit_checked(Event::Incident(change.clone()), checks)
            .await?
            .map(|a| a.incident)
            .unwrap_or(current);
        self.after_commit(&change, &applied);
        Ok(applied)
    }

    /// The effects of a durable incident change: timer, pages, publication. On a shared
    /// journal the fold runs them, in log order, for every process's changes alike.
    fn after_commit(&self, change: &IncidentChange, incident: &Arc<Incident>) {
        if self.folds_shared_log() {
            return;
        }
        self.effects(change, incident, true);
    }

    /// See [`Store::after_commit`]; `local`: this process made the change (counted in its
    /// metrics).
    fn effects(&self, change: &IncidentChange, incident: &Arc<Incident>, local: bool) {
        if local {
            self.record_metrics(change, incident);
        }
        self.arm_timers(incident);
        for page in change.kind.sent_now(incident) {
            let _ = self.shared.pages.send(PageJob {
                incident_id: incident.id,
                notification: page,
            });
        }
        if let Some(due) = incident.next_notification_due() {
            let key = TimerKey::Notify(incident.id);
            let _ = self.shared.timers.send(TimerCommand::Arm(key, due));
        }
        let kind = match &change.kind {
            IncidentChangeKind::Triggered(_) => UpdateKind::Triggered,
            IncidentChangeKind::Acknowledged => UpdateKind::Acknowledged,
            IncidentChangeKind::Resolved => UpdateKind::Resolved,
            IncidentChangeKind::Escalated { .. } => UpdateKind::Escalated,
            IncidentChangeKind::AlertRepeated => UpdateKind::Deduplicated,
            IncidentChangeKind::Retriggered { .. } => UpdateKind::Retriggered,
            IncidentChangeKind::NoteAdded { .. } => UpdateKind::NoteAdded,
            IncidentChangeKind::Reassigned { .. } => UpdateKind::Reassigned,
            IncidentChangeKind::Snoozed { .. } => UpdateKind::Snoozed,
            IncidentChangeKind::AlertsReceived(update) if update.resolve => UpdateKind::Resolved,
            IncidentChangeKind::AlertsReceived(_) => UpdateKind::Deduplicated,
            IncidentChangeKind::PagingHeld { .. } => UpdateKind::PagingHeld,
            IncidentChangeKind::PagingReleased { .. } => UpdateKind::PagingReleased,
            IncidentChangeKind::NotificationDelivered { .. }
            | IncidentChangeKind::NotificationsDue { .. } => return,
        };
        // No subscribers is not an error.
        self.shared.updates.send(|seq| IncidentUpdate {
            seq,
            kind,
            incident: incident.clone(),
            at: change.at,
        });
    }

    /// The latest state of an incident.
    pub fn incident(&self, id: IncidentId) -> Option<Arc<Incident>> {
        self.state().incident(id)
    }

    /// The cold index, when the journal keeps one.
    fn cold_index(&self) -> Option<Arc<dyn cold::ColdIndex>> {
        self.shared.journal.cold()
    }

    /// An incident, from memory or, once retired, from the cold index.
    pub async fn find_incident(
        &self,
        id: IncidentId,
    ) -> Result<Option<Arc<Incident>>, CommandError> {
        if let Some(incident) = self.incident(id) {
            return Ok(Some(incident));
        }
        let Some(cold) = self.shared.journal.cold() else {
            return Ok(None);
        };
        let found = blocking(move || cold.get(id)).await?;
        // Thawed meanwhile: memory is newer.
        Ok(self
            .incident(id)
            .or(found.map(|(incident, _)| Arc::new(incident))))
    }

    /// A page of incidents matching `filter`, newest first, strictly older than the
    /// cursor `after` (an incident `seq`): memory and the cold index merged.
    pub async fn incidents(
        &self,
        filter: &IncidentFilter,
        first: usize,
        after: Option<u64>,
    ) -> Result<IncidentPage, CommandError> {
        let hot = self.hot_incidents(filter, first, after);
        let state = self.state();
        let cold = match self.shared.journal.cold() {
            Some(cold) if state.retired() > 0 || !state.thawed.is_empty() => cold,
            _ => return Ok(hot),
        };
        if matches!(
            filter.state,
            Some(IncidentState::Triggered | IncidentState::Acknowledged)
        ) {
            return Ok(hot);
        }
        let upper = after.unwrap_or(u64::MAX);
        // Thawed incidents have a cold row too; memory answers for them.
        let limit = first + 1 + state.thawed.len();
        let count_all = !filter.only_state();
        let query = filter.clone();
        let (rows, cold_total) = blocking(move || {
            let rows = cold.page(&query, upper, limit)?;
            let total = if count_all { cold.count(&query)? } else { 0 };
            Ok((rows, total))
        })
        .await?;
        let mut nodes = hot.nodes;
        nodes.extend(
            rows.into_iter()
                .filter(|i| !state.incidents.contains_key(&i.id))
                .map(Arc::new),
        );
        nodes.sort_by_key(|i| std::cmp::Reverse(i.seq));
        let has_next_page = hot.has_next_page || nodes.len() > first;
        nodes.truncate(first);
        let total_count = if count_all {
            let needle = filter.search.as_deref().map(str::to_lowercase);
            let doubled = state
                .thawed
                .iter()
                .filter_map(|entry| self.incident(*entry.key()))
                .filter(|i| filter.matches(i, needle.as_deref()))
                .count() as u64;
            hot.total_count + cold_total.saturating_sub(doubled)
        } else {
            hot.total_count
        };
        Ok(IncidentPage {
            nodes,
            total_count,
            has_next_page,
        })
    }

    /// Locks incident `id` for a change, reading it back from the cold index first when
    /// it was retired, and returns it as it is in memory once locked, with its basis (a
    /// retirement that ran while this waited for the lock sends it round again).
    async fn lock_incident(
        &self,
        id: IncidentId,
    ) -> Result<(state::SlotGuard, Arc<Incident>, u64), CommandError> {
        let in_memory = || self.state().incidents.contains_key(&id);
        for _ in 0..8 {
            // Only an incident that exists is locked: in memory, after catching up with
            // the shared log, or thawed from the cold index (not found otherwise).
            if !in_memory() && self.caught_up(|| in_memory().then_some(())).await.is_none() {
                self.thaw(id).await?;
            }
            let guard = self.state().locks.lock(id).await;
            // Unless retired while this waited (here a retirement takes the lock; another
            // process's, folded from the shared log, makes this decision's basis stale,
            // and its append is refused).
            let slot = self
                .state()
                .incidents
                .get(&id)
                .map(|s| s.current_with_pos());
            if let Some((current, basis)) = slot {
                return Ok((guard, current, basis));
            }
        }
        Err(JournalError(format!(
            "incident {id} kept moving between memory and the cold index"
        ))
        .into())
    }

    async fn thaw(&self, id: IncidentId) -> Result<(), CommandError> {
        let not_found = || CommandError::from(DomainError::not_found("incident", id));
        let Some(cold) = self.shared.journal.cold() else {
            return Err(not_found());
        };
        let _thaws = self.shared.thaw_lock.lock().await;
        if self.state().incidents.contains_key(&id) {
            return Ok(());
        }
        match blocking(move || cold.get(id)).await? {
            // The slot's basis is the row's retirement (shared journals): a change to it
            // decided meanwhile elsewhere refuses this one's append, which decides again.
            Some((incident, retired)) => {
                self.state().thaw_at(incident, retired);
                Ok(())
            }
            None => Err(not_found()),
        }
    }

    /// Moves resolved incidents whose resolution is older than `older_than` (and whose
    /// pages are all settled) out of memory into the cold index, a batch per journal
    /// record. Returns how many left. A journal without a cold index keeps everything.
    pub async fn retire_resolved(&self, older_than: Timestamp) -> Result<usize, CommandError> {
        const BATCH: usize = 512;
        if self.shared.journal.cold().is_none() {
            return Ok(0);
        }
        let state = self.state();
        let candidates: Vec<IncidentId> = {
            let order = state::read(&state.order);
            order
                .values()
                .filter(|id| {
                    state
                        .incidents
                        .get(id)
                        .is_some_and(|slot| retirable(&slot.current(), older_than))
                })
                .copied()
                .collect()
        };
        let mut retired = 0;
        for batch in candidates.chunks(BATCH) {
            let _thaws = self.shared.thaw_lock.lock().await;
            let mut guards = Vec::with_capacity(batch.len());
            let mut rows = Vec::with_capacity(batch.len());
            let mut ids = Vec::with_capacity(batch.len());
            let mut checks = Vec::with_capacity(batch.len());
            for id in batch {
                // An incident someone is changing is left for the next cut.
                let Some(guard) = state.locks.try_lock(*id) else {
                    continue;
                };
                let Some((current, pos)) = state.incidents.get(id).map(|s| s.current_with_pos())
                else {
                    continue;
                };
                if !retirable(&current, older_than) {
                    continue;
                }
                rows.push(cold::ColdRow::of(&current).map_err(|e| JournalError(e.to_string()))?);
                checks.push((replica::incident_key(current.id), pos));
                ids.push(current.id);
                guards.push(guard);
            }
            if ids.is_empty() {
                continue;
            }
            let n = ids.len();
            let event = Event::IncidentsRetired {
                at: self.shared.clock.now(),
                ids,
            };
            if let Some(pg) = self.shared.journal.postgres() {
                // Applied by the fold, here and in every other process.
                match self.retire_shared(pg, &event, checks, rows).await {
                    Ok(()) => {}
                    // One of them changed through another process: the next cut.
                    Err(CommandError::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                }
            } else {
                self.shared.journal.retire(&event, rows).await?;
                state.apply(&event);
            }
            retired += n;
            drop(guards);
        }
        Ok(retired)
    }

    /// Open incidents, newest first.
    pub fn open_incidents(&self) -> Vec<Arc<Incident>> {
        let ids: Vec<IncidentId> = {
            let order = state::read(&self.state().order);
            let open = state::read(&self.state().open);
            open.iter()
                .rev()
                .filter_map(|seq| order.get(seq).copied())
                .collect()
        };
        ids.into_iter().filter_map(|id| self.incident(id)).collect()
    }

    /// The incidents in memory that match `filter`, as a page; totals include retired
    /// incidents only for state filters (the caller adds the cold part otherwise).
    fn hot_incidents(
        &self,
        filter: &IncidentFilter,
        first: usize,
        after: Option<u64>,
    ) -> IncidentPage {
        let state = self.state();
        let open_only = matches!(
            filter.state,
            Some(IncidentState::Triggered | IncidentState::Acknowledged)
        );
        // `order` before `open`, the order `State` writes them in (never both at once).
        let order = state::read(&state.order);
        let open = open_only.then(|| state::read(&state.open));
        let upper = after.unwrap_or(u64::MAX);
        let mut nodes = Vec::with_capacity(first.min(64));
        let mut has_next_page = false;
        let mut matched: u64 = 0;
        // Only state filters have kept counts; any other filter counts while it scans, and
        // then it scans the whole index once (the total ignores the cursor).
        let count_all = !filter.only_state();
        let needle = filter.search.as_deref().map(str::to_lowercase);
        let needle = needle.as_deref();
        let range = ..if count_all { u64::MAX } else { upper };
        // The open list holds `seq`s only; `order` names their incidents.
        let scan: Box<dyn Iterator<Item = (&u64, &IncidentId)>> = match &open {
            Some(open) => Box::new(
                open.range(range)
                    .rev()
                    .filter_map(|seq| order.get_key_value(seq)),
            ),
            None => Box::new(order.range(range).rev()),
        };
        for (seq, id) in scan {
            let Some(incident) = state.incident(*id) else {
                continue;
            };
            if !filter.matches(&incident, needle) {
                continue;
            }
            matched += 1;
            if *seq >= upper {
                continue;
            }
            if nodes.len() < first {
                nodes.push(incident);
            } else {
                has_next_page = true;
                if !count_all {
                    break;
                }
            }
        }
        let total_count = match (count_all, filter.state) {
            (true, _) => matched,
            (false, Some(s)) => state.count(s),
            (false, None) => state.total(),
        };
        IncidentPage {
            nodes,
            total_count,
            has_next_page,
        }
    }
}
