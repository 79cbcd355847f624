//! The incident state machine: trigger, acknowledge, resolve, escalate (by hand or by
//! timeout), deduplicated repeats, and notification delivery.
//!
//! Each command is a pure decision on the current [`Incident`] that returns the change to
//! record (`Ok(None)` for a no-op); [`Incident::apply`] is the only code that mutates an
//! incident, and it serves both live changes and replay from the journal.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::auth::Actor;
use super::event::IncidentChangeKind;
use super::schedule::LevelTarget;
use super::{
    ContactMethodId, DomainError, EscalationPolicy, IncidentId, NotificationId, Schedule,
    ScheduleId, ServiceId, Timestamp, UserId, text,
};

/// How bad it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Can wait for office hours.
    Low,
    /// Needs attention soon.
    Medium,
    /// Wake someone up.
    High,
}

impl Severity {
    /// The UPPER_CASE word the API, messages and exports show.
    pub fn upper(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
        }
    }
}

impl IncidentState {
    /// The UPPER_CASE word the API, messages and exports show.
    pub fn upper(self) -> &'static str {
        match self {
            Self::Triggered => "TRIGGERED",
            Self::Acknowledged => "ACKNOWLEDGED",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// Where an incident is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    /// Open and unacknowledged: escalation timers run.
    Triggered,
    /// Someone is on it: no automatic escalation.
    Acknowledged,
    /// Over. Terminal, except that a new trigger opens a new incident.
    Resolved,
}

/// Why an incident moved up a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// The level's timeout passed without an acknowledgement.
    Timeout,
    /// Someone asked for it.
    Manual,
    /// Nobody was on call when it was triggered.
    NoOneOnCall,
}

/// Why a page was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationReason {
    /// The incident was triggered and this is the on-call responder.
    Triggered,
    /// The incident escalated to this person (timeout, or nobody on call).
    Escalated,
    /// Someone escalated by hand.
    Manual,
    /// Someone handed the incident to this person.
    Reassigned,
    /// A snooze ran out, or an acknowledgement timed out.
    Retriggered,
    /// Its service's maintenance ended and the page held back was sent.
    MaintenanceEnded,
}

impl NotificationReason {
    /// The lower-case word the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Escalated => "escalated",
            Self::Manual => "manual",
            Self::Reassigned => "reassigned",
            Self::Retriggered => "retriggered",
            Self::MaintenanceEnded => "maintenance_ended",
        }
    }
}

/// One step up the escalation ladder, kept in the incident's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationStep {
    /// Level before the step.
    pub from_level: u32,
    /// Level after the step.
    pub to_level: u32,
    /// Who the incident was assigned to by the step.
    pub to: Option<UserId>,
    /// Why.
    pub reason: EscalationReason,
    /// When.
    pub at: Timestamp,
    /// Who moved it: the timer (the system) or the person or script that escalated.
    /// Filled from the recorded change's actor when the step is applied.
    #[serde(default)]
    pub actor: Actor,
}

/// One page sent (or being sent) to a person about an incident.
///
/// What most pages never have (a contact method of their own, a delay, a failure's
/// reason, follow-up rules) sits behind one pointer, `rare` (`None` while all of it is
/// empty): a page is then 80 bytes, one allocator block of 80 in an incident's one-page
/// list (128 with them inline). Read through the accessors, changed through the setters.
/// It still serializes flat, field by field, as before ([`NotificationRef`] writes it,
/// [`NotificationWire`] reads it).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "NotificationWire")]
pub struct Notification {
    /// Stable id, used to record delivery.
    pub id: NotificationId,
    /// Who was paged.
    pub user_id: UserId,
    /// Which notifier channel carried it (`log`, ...). A boxed string: an incident keeps
    /// its pages for life, and never grows one.
    pub channel: Box<str>,
    /// Why it was sent.
    pub reason: NotificationReason,
    /// When it was decided.
    pub at: Timestamp,
    /// Whether the channel confirmed delivery. Starts false; delivery happens after the
    /// change that decided the page is durable, so a crash can never lose a decided page.
    pub delivered: bool,
    /// Attempts made so far.
    pub attempts: u32,
    /// Its channel gave up on it after every attempt.
    pub failed: bool,
    /// The rarely set parts.
    rare: Option<Box<NotificationRare>>,
}

/// The rarely set parts of a [`Notification`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NotificationRare {
    /// The contact method it goes to; `None` for the default page (the user's email when
    /// SMTP is set up, else the log).
    contact_method_id: Option<ContactMethodId>,
    /// How long after the page decision it is due (its notification rule's delay).
    delay_ms: i64,
    /// Why the last attempt failed.
    last_error: Option<Box<str>>,
    /// Only on a page decision: the user's other notification rules, each sent as its own
    /// notification once its delay has passed (see [`Notification::expand`]).
    follow_ups: Box<[FollowUp]>,
}

/// A [`Notification`] as it is serialized: every field flat, in the order it always had.
#[derive(Serialize)]
#[serde(rename = "Notification")]
struct NotificationRef<'a> {
    id: NotificationId,
    user_id: UserId,
    channel: &'a str,
    reason: NotificationReason,
    at: Timestamp,
    delivered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_method_id: Option<ContactMethodId>,
    #[serde(skip_serializing_if = "is_zero")]
    delay_ms: i64,
    #[serde(skip_serializing_if = "is_zero_u32")]
    attempts: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    failed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<&'a str>,
    #[serde(skip_serializing_if = "<[FollowUp]>::is_empty")]
    follow_ups: &'a [FollowUp],
}

impl Serialize for Notification {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        NotificationRef {
            id: self.id,
            user_id: self.user_id,
            channel: &self.channel,
            reason: self.reason,
            at: self.at,
            delivered: self.delivered,
            contact_method_id: self.contact_method_id(),
            delay_ms: self.delay_ms(),
            attempts: self.attempts,
            failed: self.failed,
            last_error: self.last_error(),
            follow_ups: self.follow_ups(),
        }
        .serialize(serializer)
    }
}

/// A [`Notification`] as it is read back: every field flat.
#[derive(Deserialize)]
struct NotificationWire {
    id: NotificationId,
    user_id: UserId,
    channel: Box<str>,
    reason: NotificationReason,
    at: Timestamp,
    delivered: bool,
    #[serde(default)]
    contact_method_id: Option<ContactMethodId>,
    #[serde(default)]
    delay_ms: i64,
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    failed: bool,
    #[serde(default)]
    last_error: Option<Box<str>>,
    #[serde(default)]
    follow_ups: Box<[FollowUp]>,
}

impl From<NotificationWire> for Notification {
    fn from(w: NotificationWire) -> Self {
        let mut n = Notification {
            id: w.id,
            user_id: w.user_id,
            channel: w.channel,
            reason: w.reason,
            at: w.at,
            delivered: w.delivered,
            attempts: w.attempts,
            failed: w.failed,
            rare: Some(Box::new(NotificationRare {
                contact_method_id: w.contact_method_id,
                delay_ms: w.delay_ms,
                last_error: w.last_error,
                follow_ups: w.follow_ups,
            })),
        };
        n.tidy();
        n
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// One more notification rule of a paged user: a notification with this id is due on
/// this contact method `delay_ms` after the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// The id its notification gets (decided with the page, so replay agrees).
    pub id: NotificationId,
    /// Where it goes.
    pub contact_method_id: ContactMethodId,
    /// Its channel name.
    pub channel: String,
    /// How long after the page.
    pub delay_ms: i64,
}

impl Notification {
    /// A fresh, pending page decision to `user_id` (the store fills in its channels).
    pub fn decided(page: Page, user_id: UserId, reason: NotificationReason, at: Timestamp) -> Self {
        Self {
            id: page.id,
            user_id,
            channel: page.channel.into_boxed_str(),
            reason,
            at,
            delivered: false,
            attempts: 0,
            failed: false,
            rare: None,
        }
    }

    /// The contact method it goes to; `None` for the default page (the user's email when
    /// SMTP is set up, else the log).
    pub fn contact_method_id(&self) -> Option<ContactMethodId> {
        self.rare.as_ref().and_then(|r| r.contact_method_id)
    }

    /// How long after the page decision it is due (its notification rule's delay).
    pub fn delay_ms(&self) -> i64 {
        self.rare.as_ref().map_or(0, |r| r.delay_ms)
    }

    /// Why the last attempt failed.
    pub fn last_error(&self) -> Option<&str> {
        self.rare.as_ref().and_then(|r| r.last_error.as_deref())
    }

    /// On a page decision: the user's other notification rules.
    pub fn follow_ups(&self) -> &[FollowUp] {
        self.rare.as_ref().map_or(&[], |r| &r.follow_ups)
    }

    /// Sends it to this contact method, `delay_ms` after the decision.
    pub fn set_rule(&mut self, contact_method_id: ContactMethodId, delay_ms: i64) {
        let rare = self.rare.get_or_insert_with(Box::default);
        rare.contact_method_id = Some(contact_method_id);
        rare.delay_ms = delay_ms;
        self.tidy();
    }

    /// Records why the last attempt failed.
    pub fn set_last_error(&mut self, error: &str) {
        self.rare.get_or_insert_with(Box::default).last_error = Some(error.into());
    }

    /// Sets the user's other notification rules (a page decision's).
    pub fn set_follow_ups(&mut self, follow_ups: Box<[FollowUp]>) {
        self.rare.get_or_insert_with(Box::default).follow_ups = follow_ups;
        self.tidy();
    }

    /// Drops the rarely set parts' box when they are all empty.
    fn tidy(&mut self) {
        if self
            .rare
            .as_deref()
            .is_some_and(|r| *r == NotificationRare::default())
        {
            self.rare = None;
        }
    }

    /// Where it stands.
    pub fn status(&self) -> super::webhook::DeliveryStatus {
        use super::webhook::DeliveryStatus;
        if self.delivered {
            DeliveryStatus::Sent
        } else if self.failed {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Pending
        }
    }

    /// When it is due: its decision plus its delay.
    pub fn due_at(&self) -> Timestamp {
        self.at + Duration::milliseconds(self.delay_ms())
    }

    /// The notifications a page decision stands for: itself (its first rule, or the
    /// default page) and one per follow-up rule, each with `at` the decision instant and
    /// its own delay. Deterministic, so the live path and replay agree.
    pub fn expand(&self) -> impl Iterator<Item = Notification> + '_ {
        let without_follow_ups = || {
            let mut n = self.clone();
            n.set_follow_ups(Box::default());
            n
        };
        std::iter::once(without_follow_ups()).chain(self.follow_ups().iter().map(move |f| {
            let mut n = without_follow_ups();
            n.id = f.id;
            n.channel = f.channel.as_str().into();
            n.set_rule(f.contact_method_id, f.delay_ms);
            n
        }))
    }
}

/// What a page is sent with: decided outside the domain (ids and channels are not rules).
#[derive(Clone, Debug)]
pub struct Page {
    /// The id the new notification gets.
    pub id: NotificationId,
    /// The channel that will carry it.
    pub channel: String,
}

/// An incident: something is wrong with a service and someone must act.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "IncidentWire")]
pub struct Incident {
    /// Stable id.
    pub id: IncidentId,
    /// Creation order across all incidents (pagination cursors, newest-first lists).
    pub seq: u64,
    /// Short summary. This, the description and the dedup key are boxed strings, not
    /// `String`s: without their spare capacity's words the `Arc<Incident>` (304 bytes and
    /// the counts) fits the allocator's 320-byte size class instead of 384.
    pub title: Box<str>,
    /// Details (read with [`Incident::description`]).
    description: Option<Box<str>>,
    /// The broken service (the schedule's service at trigger time).
    pub service_id: ServiceId,
    /// The schedule that decided who was paged.
    pub schedule_id: ScheduleId,
    /// How bad.
    pub severity: Severity,
    /// Lifecycle state.
    pub state: IncidentState,
    /// When it was opened.
    pub triggered_at: Timestamp,
    /// When it was last acknowledged (cleared when escalated back to triggered).
    pub acknowledged_at: Option<Timestamp>,
    /// When it was first acknowledged; unlike `acknowledged_at`, an escalation back to
    /// triggered keeps it (time to acknowledge is measured from here).
    #[serde(default)]
    pub first_acknowledged_at: Option<Timestamp>,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
    /// Who opened it.
    #[serde(default)]
    pub triggered_by: Actor,
    /// Who acknowledged it (cleared with `acknowledged_at`).
    #[serde(default)]
    pub acknowledged_by: Option<Box<Actor>>,
    /// Who resolved it.
    #[serde(default)]
    pub resolved_by: Option<Box<Actor>>,
    /// Who must act now; `None` when nobody could be paged.
    pub assigned_to: Option<UserId>,
    /// 0 = the on-call responder; k = `escalation_policy.levels[k - 1]`.
    pub escalation_level: u32,
    /// The schedule's policy as it was at trigger time.
    pub escalation_policy: std::sync::Arc<EscalationPolicy>,
    /// Every page, oldest first.
    pub notifications: Vec<Notification>,
    /// Repeated triggers with this key on an open incident of the same service fold in.
    pub dedup_key: Option<Box<str>>,
    /// 1 + the number of deduplicated repeats.
    pub alert_count: u32,
    /// When the current level times out; `None` when acknowledged, resolved or at the last
    /// level. The escalation engine fires at this instant, and a timer whose deadline no
    /// longer matches is stale and does nothing.
    pub escalation_deadline: Option<Timestamp>,
    /// The whole story, oldest first: one entry per recorded change (and per page).
    #[serde(default)]
    pub timeline: super::Timeline,
    /// Its service is in maintenance: nobody was paged for it and no timer runs until the
    /// maintenance ends ([`Incident::release`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paging_held: bool,
    /// What most incidents never have (escalations, a snooze, alerts, pending
    /// notification rules), behind one pointer: `None` while all of it is empty.
    /// Read through the accessors ([`Incident::escalation_history`], ...), changed through
    /// [`Incident::extras_mut`].
    extras: Option<Box<IncidentExtras>>,
}

/// The rarely set parts of an [`Incident`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentExtras {
    /// Every level change, oldest first.
    pub escalation_history: Vec<EscalationStep>,
    /// While snoozed: when it returns to triggered.
    pub snoozed_until: Option<Timestamp>,
    /// While acknowledged under a policy with an acknowledge timeout: when it returns to
    /// triggered unless resolved first.
    pub acknowledge_deadline: Option<Timestamp>,
    /// The alerts monitors sent with it, capped (see [`super::integration`]); shared, so
    /// cloning an incident for a change does not copy them.
    pub alerts: Vec<std::sync::Arc<super::integration::Alert>>,
    /// Notification rules whose delay has not passed yet, soonest first. Each becomes a
    /// notification when due while the incident is still triggered; an acknowledgement or
    /// resolution drops them (they send nothing).
    pub pending_notifications: Vec<Notification>,
}

impl IncidentExtras {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Incident {
    /// Details.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Every level change, oldest first.
    pub fn escalation_history(&self) -> &[EscalationStep] {
        self.extras.as_ref().map_or(&[], |e| &e.escalation_history)
    }

    /// While snoozed: when it returns to triggered.
    pub fn snoozed_until(&self) -> Option<Timestamp> {
        self.extras.as_ref().and_then(|e| e.snoozed_until)
    }

    /// While acknowledged under a policy with an acknowledge timeout: when it returns to
    /// triggered unless resolved first.
    pub fn acknowledge_deadline(&self) -> Option<Timestamp> {
        self.extras.as_ref().and_then(|e| e.acknowledge_deadline)
    }

    /// The alerts monitors sent with it.
    pub fn alerts(&self) -> &[std::sync::Arc<super::integration::Alert>] {
        self.extras.as_ref().map_or(&[], |e| &e.alerts)
    }

    /// Notification rules whose delay has not passed yet, soonest first.
    pub fn pending_notifications(&self) -> &[Notification] {
        self.extras
            .as_ref()
            .map_or(&[], |e| &e.pending_notifications)
    }

    /// The rarely set parts, to change (made empty first if there were none). Call
    /// [`Incident::tidy`] after, so an incident left with none holds no allocation.
    pub fn extras_mut(&mut self) -> &mut IncidentExtras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Sets the snooze and acknowledge deadlines; clearing them touches nothing when
    /// there are no rarely set parts (no allocation on every acknowledge and resolve).
    fn set_wake_deadlines(
        &mut self,
        snoozed_until: Option<Timestamp>,
        acknowledge: Option<Timestamp>,
    ) {
        if snoozed_until.is_none() && acknowledge.is_none() && self.extras.is_none() {
            return;
        }
        let extras = self.extras_mut();
        extras.snoozed_until = snoozed_until;
        extras.acknowledge_deadline = acknowledge;
    }

    /// Drops the rarely set parts when all of them are empty again.
    pub fn tidy(&mut self) {
        if self.extras.as_ref().is_some_and(|e| e.is_empty()) {
            self.extras = None;
        }
    }
}

impl From<IncidentWire> for Incident {
    fn from(w: IncidentWire) -> Self {
        let mut incident = Incident {
            id: w.id,
            seq: w.seq,
            title: w.title.into_boxed_str(),
            description: w.description.map(String::into_boxed_str),
            service_id: w.service_id,
            schedule_id: w.schedule_id,
            severity: w.severity,
            state: w.state,
            triggered_at: w.triggered_at,
            acknowledged_at: w.acknowledged_at,
            first_acknowledged_at: w.first_acknowledged_at,
            resolved_at: w.resolved_at,
            triggered_by: w.triggered_by,
            acknowledged_by: w.acknowledged_by,
            resolved_by: w.resolved_by,
            assigned_to: w.assigned_to,
            escalation_level: w.escalation_level,
            escalation_policy: w.escalation_policy,
            notifications: w.notifications,
            dedup_key: w.dedup_key.map(String::into_boxed_str),
            alert_count: w.alert_count,
            escalation_deadline: w.escalation_deadline,
            timeline: w.timeline,
            paging_held: w.paging_held,
            extras: Some(Box::new(IncidentExtras {
                escalation_history: w.escalation_history,
                snoozed_until: w.snoozed_until,
                acknowledge_deadline: w.acknowledge_deadline,
                alerts: w.alerts,
                pending_notifications: w.pending_notifications,
            })),
        };
        incident.tidy();
        incident
    }
}

impl Serialize for Incident {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        IncidentRef {
            id: &self.id,
            seq: self.seq,
            title: &self.title,
            description: self.description(),
            service_id: self.service_id,
            schedule_id: self.schedule_id,
            severity: self.severity,
            state: self.state,
            triggered_at: self.triggered_at,
            acknowledged_at: self.acknowledged_at,
            first_acknowledged_at: self.first_acknowledged_at,
            resolved_at: self.resolved_at,
            triggered_by: &self.triggered_by,
            acknowledged_by: self.acknowledged_by.as_deref(),
            resolved_by: self.resolved_by.as_deref(),
            assigned_to: self.assigned_to,
            escalation_level: self.escalation_level,
            escalation_policy: &self.escalation_policy,
            escalation_history: self.escalation_history(),
            notifications: &self.notifications,
            dedup_key: self.dedup_key.as_deref(),
            alert_count: self.alert_count,
            escalation_deadline: self.escalation_deadline,
            snoozed_until: self.snoozed_until(),
            acknowledge_deadline: self.acknowledge_deadline(),
            timeline: &self.timeline,
            alerts: self.alerts(),
            paging_held: self.paging_held,
            pending_notifications: self.pending_notifications(),
        }
        .serialize(serializer)
    }
}

/// An incident as it is serialized (journal, snapshots, cold rows): every field flat, as
/// before the rarely set ones moved into [`IncidentExtras`].
#[derive(Deserialize)]
struct IncidentWire {
    id: IncidentId,
    seq: u64,
    title: String,
    description: Option<String>,
    service_id: ServiceId,
    schedule_id: ScheduleId,
    severity: Severity,
    state: IncidentState,
    triggered_at: Timestamp,
    acknowledged_at: Option<Timestamp>,
    #[serde(default)]
    first_acknowledged_at: Option<Timestamp>,
    resolved_at: Option<Timestamp>,
    #[serde(default)]
    triggered_by: Actor,
    #[serde(default)]
    acknowledged_by: Option<Box<Actor>>,
    #[serde(default)]
    resolved_by: Option<Box<Actor>>,
    assigned_to: Option<UserId>,
    escalation_level: u32,
    escalation_policy: std::sync::Arc<EscalationPolicy>,
    escalation_history: Vec<EscalationStep>,
    notifications: Vec<Notification>,
    dedup_key: Option<String>,
    alert_count: u32,
    escalation_deadline: Option<Timestamp>,
    #[serde(default)]
    snoozed_until: Option<Timestamp>,
    #[serde(default)]
    acknowledge_deadline: Option<Timestamp>,
    #[serde(default)]
    timeline: super::Timeline,
    #[serde(default)]
    alerts: Vec<std::sync::Arc<super::integration::Alert>>,
    #[serde(default)]
    paging_held: bool,
    #[serde(default)]
    pending_notifications: Vec<Notification>,
}

/// [`IncidentWire`], borrowed: what an incident serializes as.
#[derive(Serialize)]
struct IncidentRef<'a> {
    id: &'a IncidentId,
    seq: u64,
    title: &'a str,
    description: Option<&'a str>,
    service_id: ServiceId,
    schedule_id: ScheduleId,
    severity: Severity,
    state: IncidentState,
    triggered_at: Timestamp,
    acknowledged_at: Option<Timestamp>,
    first_acknowledged_at: Option<Timestamp>,
    resolved_at: Option<Timestamp>,
    triggered_by: &'a Actor,
    acknowledged_by: Option<&'a Actor>,
    resolved_by: Option<&'a Actor>,
    assigned_to: Option<UserId>,
    escalation_level: u32,
    escalation_policy: &'a EscalationPolicy,
    escalation_history: &'a [EscalationStep],
    notifications: &'a [Notification],
    dedup_key: Option<&'a str>,
    alert_count: u32,
    escalation_deadline: Option<Timestamp>,
    snoozed_until: Option<Timestamp>,
    acknowledge_deadline: Option<Timestamp>,
    timeline: &'a super::Timeline,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    alerts: &'a [std::sync::Arc<super::integration::Alert>],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    paging_held: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pending_notifications: &'a [Notification],
}

/// Why an acknowledged incident went back to triggered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetriggerCause {
    /// Its snooze ran out.
    SnoozeEnded,
    /// It stayed acknowledged, unresolved, for the policy's acknowledge timeout.
    AcknowledgeTimedOut,
}

/// What a timeline entry tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// Opened.
    Triggered,
    /// A repeated alert folded in.
    AlertFolded,
    /// A page was decided, or its channel confirmed it.
    Notified,
    /// A channel could not deliver a page.
    DeliveryFailed,
    /// Moved up a level (or round again).
    Escalated,
    /// Someone is on it.
    Acknowledged,
    /// A note.
    Note,
    /// Handed to someone.
    Reassigned,
    /// Acknowledged for a while.
    Snoozed,
    /// Back to triggered (snooze over, acknowledge timeout).
    Retriggered,
    /// Over.
    Resolved,
    /// Its service is in maintenance: no page, no escalation, until it ends.
    PagingHeld,
    /// The maintenance ended: paged, escalating again.
    PagingReleased,
}

/// One line of an incident's story, recorded as the change is applied. Names are looked
/// up when it is read (`describe`), so the record stays small and ids stay the truth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineRecord {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: TimelineKind,
    /// Who.
    pub actor: Actor,
    /// The person it concerns (paged, assigned), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
    /// The details that make the sentence: the note's text, the channel, the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The level after the change, where it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
}

impl TimelineRecord {
    /// A sentence a person can read. `name` gives a user's display name.
    pub fn describe(&self, name: &dyn Fn(UserId) -> String) -> String {
        let who = || self.user.map(name).unwrap_or_else(|| "nobody".into());
        let detail = self.detail.as_deref().unwrap_or("");
        let by = &self.actor.name;
        let level = self.level.unwrap_or(0);
        match self.kind {
            TimelineKind::Triggered => format!("Triggered by {by}"),
            TimelineKind::AlertFolded => format!("A repeated alert folded in ({detail} alerts)"),
            TimelineKind::Notified if detail.starts_with("delivered") => {
                format!("Page to {} {detail}", who())
            }
            TimelineKind::Notified => format!("Paged {} ({detail})", who()),
            TimelineKind::DeliveryFailed => format!("Page to {} failed: {detail}", who()),
            TimelineKind::Escalated => {
                let by = match self.actor.kind {
                    super::ActorKind::System => "the timer".to_owned(),
                    _ => by.to_string(),
                };
                match detail {
                    "no_one_on_call" => {
                        format!("Nobody was on call: escalated to level {level}, {}", who())
                    }
                    d if d.starts_with("repeat") => format!(
                        "Escalated by {by}: the policy starts over ({d}), level 0, {}",
                        who()
                    ),
                    _ => format!("Escalated by {by} to level {level}, {}", who()),
                }
            }
            TimelineKind::Acknowledged => format!("Acknowledged by {by}"),
            TimelineKind::Note => detail.to_owned(),
            TimelineKind::Reassigned => format!("Reassigned by {by} to {}", who()),
            TimelineKind::Snoozed => format!("Snoozed by {by} until {detail}"),
            TimelineKind::Retriggered => match detail {
                "acknowledge_timed_out" => {
                    "Acknowledged too long without a resolution: triggered again".into()
                }
                _ => "The snooze ended: triggered again".into(),
            },
            TimelineKind::Resolved => format!("Resolved by {by}"),
            TimelineKind::PagingHeld => match detail {
                "" => "Paging held: the service is in maintenance".into(),
                cause => format!("Paging held: the service is in maintenance ({cause})"),
            },
            TimelineKind::PagingReleased => {
                "The service's maintenance ended: paging and escalation resume".into()
            }
        }
    }
}

/// Longest note.
pub const MAX_NOTE_CHARS: usize = 10_000;

/// The validated client-supplied fields of a new incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    /// Validated title.
    pub title: String,
    /// Validated description.
    pub description: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Validated dedup key.
    pub dedup_key: Option<String>,
}

impl NewIncident {
    /// Validates raw input.
    pub fn parse(
        title: &str,
        description: Option<&str>,
        severity: Severity,
        dedup_key: Option<&str>,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            title: text::name("title", title)?,
            description: text::description("description", description)?,
            severity,
            dedup_key: text::dedup_key("dedupKey", dedup_key)?,
        })
    }
}

fn after(now: Timestamp, ms: u32) -> Timestamp {
    now + Duration::milliseconds(i64::from(ms))
}

impl Incident {
    /// Opens an incident on `schedule` at `now`, paging whoever is on call.
    ///
    /// Nobody on call: straight to level 1 (reason `NO_ONE_ON_CALL`), with level 1's
    /// timeout counting from now. No level at all either: unassigned at level 0, no page.
    /// `who` says whom a level pages now (a user, or a schedule's on-call user).
    pub fn trigger(
        id: IncidentId,
        seq: u64,
        new: NewIncident,
        schedule: &Schedule,
        now: Timestamp,
        page: Page,
        who: LevelTarget<'_>,
    ) -> Incident {
        let policy = schedule.escalation_policy.clone();
        let mut incident = Incident {
            id,
            seq,
            title: new.title.into_boxed_str(),
            description: new.description.map(String::into_boxed_str),
            service_id: schedule.service_id,
            schedule_id: schedule.id,
            severity: new.severity,
            state: IncidentState::Triggered,
            triggered_at: now,
            acknowledged_at: None,
            first_acknowledged_at: None,
            resolved_at: None,
            triggered_by: Actor::system(),
            acknowledged_by: None,
            resolved_by: None,
            assigned_to: None,
            escalation_level: 0,
            escalation_policy: policy,
            notifications: Vec::new(),
            dedup_key: new.dedup_key.map(String::into_boxed_str),
            alert_count: 1,
            escalation_deadline: None,
            timeline: super::Timeline::default(),
            paging_held: false,
            extras: None,
        };

        let (level, user, reason) = match schedule.on_call(now) {
            Some(user) => (0, Some(user), NotificationReason::Triggered),
            None => match incident.escalation_policy.level(1) {
                Some(first) => {
                    let user = who(first);
                    incident
                        .extras_mut()
                        .escalation_history
                        .push(EscalationStep {
                            from_level: 0,
                            to_level: 1,
                            to: user,
                            reason: EscalationReason::NoOneOnCall,
                            at: now,
                            actor: Actor::system(),
                        });
                    (1, user, NotificationReason::Escalated)
                }
                None => return incident,
            },
        };
        incident.escalation_level = level;
        incident.assigned_to = user;
        incident
            .notifications
            .extend(user.map(|user_id| Notification::decided(page, user_id, reason, now)));
        incident.escalation_deadline = incident
            .escalation_policy
            .timeout_at(level, 0)
            .map(|ms| after(now, ms));
        incident
    }

    /// How many times the policy has started over.
    pub fn loops(&self) -> u32 {
        self.escalation_history()
            .iter()
            .filter(|s| s.to_level < s.from_level)
            .count() as u32
    }

    /// The one "wake" timer an acknowledged incident can have: its snooze's end, or its
    /// acknowledge timeout.
    pub fn wake_deadline(&self) -> Option<Timestamp> {
        self.snoozed_until().or(self.acknowledge_deadline())
    }

    /// A note; any open or resolved incident takes one.
    pub fn add_note(&self, text: &str) -> Result<IncidentChangeKind, DomainError> {
        let text = text.trim();
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_NOTE_CHARS {
            return Err(DomainError::invalid(
                "text",
                format!("a note is 1 to {MAX_NOTE_CHARS} characters (got {chars})"),
            ));
        }
        Ok(IncidentChangeKind::NoteAdded {
            text: text.to_owned(),
        })
    }

    /// Hands the incident to `to` at its current level: paged at once, back to triggered,
    /// the level's timeout counted afresh.
    pub fn reassign(
        &self,
        to: UserId,
        now: Timestamp,
        page: Page,
    ) -> Result<IncidentChangeKind, DomainError> {
        if !self.is_open() {
            return Err(DomainError::InvalidState(format!(
                "incident {} is resolved; a resolved incident cannot be reassigned",
                self.id
            )));
        }
        Ok(IncidentChangeKind::Reassigned {
            to,
            notification: Notification::decided(page, to, NotificationReason::Reassigned, now),
            deadline: self.level_deadline(now),
        })
    }

    /// Acknowledged now, triggered again at `now + duration_ms`.
    pub fn snooze(
        &self,
        duration_ms: u32,
        now: Timestamp,
    ) -> Result<IncidentChangeKind, DomainError> {
        if !self.is_open() {
            return Err(DomainError::InvalidState(format!(
                "incident {} is resolved; a resolved incident cannot be snoozed",
                self.id
            )));
        }
        Ok(IncidentChangeKind::Snoozed {
            until: after(now, duration_ms),
        })
    }

    /// The wake timer armed for `deadline` fired: back to triggered at the same level,
    /// paged again (the assignee, or the level's target now), the level's timeout counted
    /// afresh. A stale timer (acknowledged again, resolved, re-snoozed) does nothing.
    pub fn wake(
        &self,
        deadline: Timestamp,
        now: Timestamp,
        page: Page,
        target: Option<UserId>,
    ) -> Option<IncidentChangeKind> {
        let live =
            self.state == IncidentState::Acknowledged && self.wake_deadline() == Some(deadline);
        if !live {
            return None;
        }
        let cause = if self.snoozed_until() == Some(deadline) {
            RetriggerCause::SnoozeEnded
        } else {
            RetriggerCause::AcknowledgeTimedOut
        };
        let to = self.assigned_to.or(target);
        Some(IncidentChangeKind::Retriggered {
            cause,
            notification: to.map(|user_id| {
                Notification::decided(page, user_id, NotificationReason::Retriggered, now)
            }),
            deadline: self.level_deadline(now),
        })
    }

    /// A new incident on a service in maintenance: recorded, but nobody assigned or paged
    /// and no timer armed until the maintenance ends. Call before [`Incident::open_timeline`].
    pub fn hold_paging(&mut self) {
        self.escalation_level = 0;
        self.assigned_to = None;
        if !self.escalation_history().is_empty() {
            self.extras_mut().escalation_history.clear();
            self.tidy();
        }
        self.notifications.clear();
        self.escalation_deadline = None;
        self.paging_held = true;
    }

    /// The escalation timer for `deadline` fired while the service is in maintenance: hold
    /// instead of escalating. Stale timers do nothing, as in [`Incident::escalate_on_timeout`].
    pub fn hold_on_timeout(&self, deadline: Timestamp) -> Option<IncidentChangeKind> {
        let live =
            self.state == IncidentState::Triggered && self.escalation_deadline == Some(deadline);
        live.then_some(IncidentChangeKind::PagingHeld { retrigger: None })
    }

    /// The wake timer for `deadline` fired while the service is in maintenance: back to
    /// triggered, but held (no page, no timer). Stale timers do nothing, as in
    /// [`Incident::wake`].
    pub fn hold_on_wake(&self, deadline: Timestamp) -> Option<IncidentChangeKind> {
        let live =
            self.state == IncidentState::Acknowledged && self.wake_deadline() == Some(deadline);
        if !live {
            return None;
        }
        let cause = if self.snoozed_until() == Some(deadline) {
            RetriggerCause::SnoozeEnded
        } else {
            RetriggerCause::AcknowledgeTimedOut
        };
        Some(IncidentChangeKind::PagingHeld {
            retrigger: Some(cause),
        })
    }

    /// The service's maintenance ended at `now`: a held incident pages its current level's
    /// target (its assignee, or the level's target now; at level 0 with nobody on call,
    /// level 1 as a trigger would) and that level's timeout counts from `now`. An
    /// acknowledged one is only un-held (someone is on it). Not held: nothing to do.
    pub fn release(
        &self,
        now: Timestamp,
        page: Page,
        on_call_now: Option<UserId>,
        who: LevelTarget<'_>,
    ) -> Option<IncidentChangeKind> {
        if !self.paging_held || !self.is_open() {
            return None;
        }
        if self.state == IncidentState::Acknowledged {
            return Some(IncidentChangeKind::PagingReleased {
                step: None,
                to: self.assigned_to,
                notification: None,
                deadline: None,
            });
        }
        let mut level = self.escalation_level;
        let mut step = None;
        let mut reason = NotificationReason::MaintenanceEnded;
        let mut to = match level {
            0 => self.assigned_to.or(on_call_now),
            k => self
                .assigned_to
                .or_else(|| self.escalation_policy.level(k).and_then(who)),
        };
        if level == 0 && to.is_none() {
            if let Some(first) = self.escalation_policy.level(1) {
                to = who(first);
                level = 1;
                reason = NotificationReason::Escalated;
                step = Some(EscalationStep {
                    from_level: 0,
                    to_level: 1,
                    to,
                    reason: EscalationReason::NoOneOnCall,
                    at: now,
                    actor: Actor::system(),
                });
            }
        }
        Some(IncidentChangeKind::PagingReleased {
            step,
            to,
            notification: to.map(|user_id| Notification::decided(page, user_id, reason, now)),
            deadline: self
                .escalation_policy
                .timeout_at(level, self.loops())
                .map(|ms| after(now, ms)),
        })
    }

    /// When the current level would time out if it started now.
    fn level_deadline(&self, now: Timestamp) -> Option<Timestamp> {
        self.escalation_policy
            .timeout_at(self.escalation_level, self.loops())
            .map(|ms| after(now, ms))
    }

    /// Whether the incident still needs someone (not resolved).
    pub fn is_open(&self) -> bool {
        self.state != IncidentState::Resolved
    }

    /// Whether a manual escalation is possible now.
    pub fn can_escalate(&self) -> bool {
        self.is_open() && self.escalation_level < self.escalation_policy.last_level()
    }

    /// Someone is on it: automatic escalation stops. Idempotent; refused once resolved.
    pub fn acknowledge(&self) -> Result<Option<IncidentChangeKind>, DomainError> {
        match self.state {
            IncidentState::Triggered => Ok(Some(IncidentChangeKind::Acknowledged)),
            IncidentState::Acknowledged => Ok(None),
            IncidentState::Resolved => Err(DomainError::InvalidState(format!(
                "incident {} is resolved; a resolved incident cannot be acknowledged",
                self.id
            ))),
        }
    }

    /// It is over. Idempotent.
    pub fn resolve(&self) -> Option<IncidentChangeKind> {
        self.is_open().then_some(IncidentChangeKind::Resolved)
    }

    /// A repeated trigger folded into this open incident (same service and dedup key).
    pub fn repeat_alert(&self) -> Option<IncidentChangeKind> {
        self.is_open().then_some(IncidentChangeKind::AlertRepeated)
    }

    /// Alerts from a monitor for this open incident: folded in, and resolving it when the
    /// update says so. A resolved incident takes none (a new trigger opens a new one).
    pub fn receive_alerts(
        &self,
        update: super::integration::AlertUpdate,
    ) -> Option<IncidentChangeKind> {
        self.is_open()
            .then(|| IncidentChangeKind::AlertsReceived(Box::new(update)))
    }

    /// Escalate by hand: next level, reassigned, paged, back to triggered, timer restarted.
    pub fn escalate_manually(
        &self,
        now: Timestamp,
        page: Page,
        who: LevelTarget<'_>,
    ) -> Result<IncidentChangeKind, DomainError> {
        if !self.is_open() {
            return Err(DomainError::InvalidState(format!(
                "incident {} is resolved; a resolved incident cannot be escalated",
                self.id
            )));
        }
        if !self.can_escalate() {
            return Err(DomainError::InvalidState(format!(
                "incident {} is already at the last escalation level ({})",
                self.id, self.escalation_level
            )));
        }
        Ok(self.step_up(
            EscalationReason::Manual,
            NotificationReason::Manual,
            now,
            page,
            who,
        ))
    }

    /// The timer armed for `deadline` fired. Only acts when that timer is still the live
    /// one: the incident is triggered and its deadline is exactly `deadline`. A timer that
    /// lost a race with an acknowledge, resolve or manual escalation is stale and does nothing.
    /// At the last level with a repeat left, the policy starts over at level 0, paging
    /// `on_call_now` (the schedule's on-call responder at this instant).
    pub fn escalate_on_timeout(
        &self,
        deadline: Timestamp,
        now: Timestamp,
        page: Page,
        who: LevelTarget<'_>,
        on_call_now: Option<UserId>,
    ) -> Option<IncidentChangeKind> {
        let live =
            self.state == IncidentState::Triggered && self.escalation_deadline == Some(deadline);
        if !live {
            return None;
        }
        if self.can_escalate() {
            return Some(self.step_up(
                EscalationReason::Timeout,
                NotificationReason::Escalated,
                now,
                page,
                who,
            ));
        }
        let loops = self.loops();
        if loops >= self.escalation_policy.repeat {
            return None;
        }
        Some(IncidentChangeKind::Escalated {
            step: EscalationStep {
                from_level: self.escalation_level,
                to_level: 0,
                to: on_call_now,
                reason: EscalationReason::Timeout,
                at: now,
                actor: Actor::system(),
            },
            notification: on_call_now.map(|user_id| {
                Notification::decided(page, user_id, NotificationReason::Escalated, now)
            }),
            deadline: self
                .escalation_policy
                .timeout_at(0, loops + 1)
                .map(|ms| after(now, ms)),
        })
    }

    fn step_up(
        &self,
        reason: EscalationReason,
        page_reason: NotificationReason,
        now: Timestamp,
        page: Page,
        who: LevelTarget<'_>,
    ) -> IncidentChangeKind {
        let to_level = self.escalation_level + 1;
        let to = self.escalation_policy.level(to_level).and_then(who);
        IncidentChangeKind::Escalated {
            step: EscalationStep {
                from_level: self.escalation_level,
                to_level,
                to,
                reason,
                at: now,
                actor: Actor::system(),
            },
            notification: to.map(|user_id| Notification::decided(page, user_id, page_reason, now)),
            deadline: self
                .escalation_policy
                .timeout_at(to_level, self.loops())
                .map(|ms| after(now, ms)),
        }
    }

    /// What a channel reported on one of its notifications: sent, or given up after
    /// `attempts` with `error`. No-op for an unknown or already-settled notification.
    pub fn record_outcome(
        &mut self,
        at: Timestamp,
        id: NotificationId,
        attempts: u32,
        error: Option<&str>,
    ) {
        let Some(n) = self
            .notifications
            .iter_mut()
            .find(|n| n.id == id && !n.delivered && !n.failed)
        else {
            return;
        };
        n.attempts = n.attempts.max(attempts);
        let (user, channel) = (n.user_id, n.channel.clone());
        let (kind, detail) = match error {
            None => {
                n.delivered = true;
                (TimelineKind::Notified, format!("delivered via {channel}"))
            }
            Some(error) => {
                n.failed = true;
                n.set_last_error(error);
                (
                    TimelineKind::DeliveryFailed,
                    format!("via {channel} after {attempts} attempts: {error}"),
                )
            }
        };
        self.timeline.push(TimelineRecord {
            at,
            kind,
            actor: Actor::system(),
            user: Some(user),
            detail: Some(detail),
            level: None,
        });
    }

    /// Applies a recorded change. The one place an existing incident is mutated, used for
    /// live changes and for replay alike.
    /// `actor` is who made the change (recorded with it in the journal).
    pub fn apply(&mut self, at: Timestamp, change: &IncidentChangeKind, actor: &Actor) {
        self.apply_change(at, change, actor);
        // A rule due after an acknowledgement or resolution sends nothing.
        if self.state != IncidentState::Triggered && !self.pending_notifications().is_empty() {
            self.extras_mut().pending_notifications.clear();
        }
        self.tidy();
    }

    fn apply_change(&mut self, at: Timestamp, change: &IncidentChangeKind, actor: &Actor) {
        let record = |kind: TimelineKind| TimelineRecord {
            at,
            kind,
            actor: actor.clone(),
            user: None,
            detail: None,
            level: None,
        };
        match change {
            IncidentChangeKind::Triggered(incident) => *self = (**incident).clone(),
            IncidentChangeKind::AlertRepeated => {
                self.alert_count = self.alert_count.saturating_add(1);
                self.timeline.push(TimelineRecord {
                    detail: Some(self.alert_count.to_string()),
                    ..record(TimelineKind::AlertFolded)
                });
            }
            IncidentChangeKind::AlertsReceived(update) => {
                update.merge_into(&mut self.extras_mut().alerts);
                if update.fold {
                    self.apply(at, &IncidentChangeKind::AlertRepeated, actor);
                }
                if update.resolve && self.is_open() {
                    self.apply(at, &IncidentChangeKind::Resolved, actor);
                }
            }
            IncidentChangeKind::Acknowledged => {
                self.state = IncidentState::Acknowledged;
                self.acknowledged_at = Some(at);
                self.acknowledged_by = Some(Box::new(actor.clone()));
                self.first_acknowledged_at.get_or_insert(at);
                self.escalation_deadline = None;
                let deadline = self
                    .escalation_policy
                    .acknowledge_timeout_ms
                    .map(|ms| after(at, ms));
                self.set_wake_deadlines(None, deadline);
                self.timeline.push(record(TimelineKind::Acknowledged));
            }
            IncidentChangeKind::Resolved => {
                self.state = IncidentState::Resolved;
                self.resolved_at = Some(at);
                self.resolved_by = Some(Box::new(actor.clone()));
                self.escalation_deadline = None;
                self.set_wake_deadlines(None, None);
                self.timeline.push(record(TimelineKind::Resolved));
            }
            IncidentChangeKind::Escalated {
                step,
                notification,
                deadline,
            } => {
                self.back_to_triggered();
                self.assigned_to = step.to;
                self.record_step(step, actor);
                self.page(notification.as_ref());
                self.escalation_deadline = *deadline;
            }
            IncidentChangeKind::NotificationsDue { ids } => {
                for id in ids {
                    if let Some(index) = self
                        .pending_notifications()
                        .iter()
                        .position(|n| n.id == *id)
                    {
                        let n = self.extras_mut().pending_notifications.remove(index);
                        self.notify(&n);
                    }
                }
            }
            IncidentChangeKind::NotificationDelivered { notification_id } => {
                if let Some(n) = self
                    .notifications
                    .iter_mut()
                    .find(|n| n.id == *notification_id && !n.delivered)
                {
                    n.delivered = true;
                    let (user, channel) = (n.user_id, n.channel.clone());
                    self.timeline.push(TimelineRecord {
                        user: Some(user),
                        detail: Some(format!("delivered via {channel}")),
                        ..record(TimelineKind::Notified)
                    });
                }
            }
            IncidentChangeKind::NoteAdded { text } => {
                self.timeline.push(TimelineRecord {
                    detail: Some(text.clone()),
                    ..record(TimelineKind::Note)
                });
            }
            IncidentChangeKind::Reassigned {
                to,
                notification,
                deadline,
            } => {
                self.back_to_triggered();
                self.assigned_to = Some(*to);
                self.timeline.push(TimelineRecord {
                    user: Some(*to),
                    level: Some(self.escalation_level),
                    ..record(TimelineKind::Reassigned)
                });
                self.page(Some(notification));
                self.escalation_deadline = *deadline;
            }
            IncidentChangeKind::Snoozed { until } => {
                self.state = IncidentState::Acknowledged;
                if self.acknowledged_at.is_none() {
                    self.acknowledged_at = Some(at);
                    self.acknowledged_by = Some(Box::new(actor.clone()));
                }
                self.escalation_deadline = None;
                self.set_wake_deadlines(Some(*until), None);
                self.timeline.push(TimelineRecord {
                    detail: Some(until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    ..record(TimelineKind::Snoozed)
                });
            }
            IncidentChangeKind::Retriggered {
                cause,
                notification,
                deadline,
            } => {
                self.back_to_triggered();
                if let Some(n) = notification {
                    self.assigned_to = Some(n.user_id);
                }
                let detail = match cause {
                    RetriggerCause::SnoozeEnded => "snooze_ended",
                    RetriggerCause::AcknowledgeTimedOut => "acknowledge_timed_out",
                };
                self.timeline.push(TimelineRecord {
                    detail: Some(detail.into()),
                    level: Some(self.escalation_level),
                    ..record(TimelineKind::Retriggered)
                });
                self.page(notification.as_ref());
                self.escalation_deadline = *deadline;
            }
            IncidentChangeKind::PagingHeld { retrigger } => {
                self.escalation_deadline = None;
                let mut detail = None;
                if let Some(cause) = retrigger {
                    self.back_to_triggered();
                    detail = Some(
                        match cause {
                            RetriggerCause::SnoozeEnded => "the snooze ended",
                            RetriggerCause::AcknowledgeTimedOut => "the acknowledgement timed out",
                        }
                        .to_owned(),
                    );
                }
                self.paging_held = true;
                self.timeline.push(TimelineRecord {
                    detail,
                    level: Some(self.escalation_level),
                    ..record(TimelineKind::PagingHeld)
                });
            }
            IncidentChangeKind::PagingReleased {
                step,
                to,
                notification,
                deadline,
            } => {
                self.paging_held = false;
                self.assigned_to = *to;
                self.timeline.push(TimelineRecord {
                    level: Some(self.escalation_level),
                    ..record(TimelineKind::PagingReleased)
                });
                if let Some(step) = step {
                    self.record_step(step, actor);
                }
                self.page(notification.as_ref());
                self.escalation_deadline = *deadline;
            }
        }
    }

    /// Back to TRIGGERED: no acknowledgement, snooze or acknowledge timeout left, paging
    /// no longer held.
    fn back_to_triggered(&mut self) {
        self.state = IncidentState::Triggered;
        self.paging_held = false;
        self.acknowledged_at = None;
        self.acknowledged_by = None;
        self.set_wake_deadlines(None, None);
    }

    /// Takes an escalation step made by `actor`: the new level, in the history and on the
    /// timeline.
    fn record_step(&mut self, step: &EscalationStep, actor: &Actor) {
        self.escalation_level = step.to_level;
        let step = EscalationStep {
            actor: actor.clone(),
            ..step.clone()
        };
        // The history first: the record counts the policy's repeats from it.
        self.extras_mut().escalation_history.push(step.clone());
        self.timeline.push(self.escalation_record(&step));
    }

    /// Records a decided page: each of its notifications due now in the notifications and
    /// on the timeline, the later ones among the pending.
    fn page(&mut self, notification: Option<&Notification>) {
        let Some(decision) = notification else {
            return;
        };
        for n in decision.expand() {
            if n.delay_ms() > 0 {
                let at = n.due_at();
                let index = self
                    .pending_notifications()
                    .partition_point(|p| p.due_at() <= at);
                self.extras_mut().pending_notifications.insert(index, n);
            } else {
                self.notify(&n);
            }
        }
    }

    /// When the next pending notification is due.
    pub fn next_notification_due(&self) -> Option<Timestamp> {
        self.pending_notifications()
            .first()
            .map(Notification::due_at)
    }

    /// The pending notifications due at `now`, while it is still triggered: `None` when
    /// there are none (a stale timer).
    pub fn notifications_due(&self, now: Timestamp) -> Option<IncidentChangeKind> {
        if self.state != IncidentState::Triggered {
            return None;
        }
        let ids: Vec<NotificationId> = self
            .pending_notifications()
            .iter()
            .take_while(|n| n.due_at() <= now)
            .map(|n| n.id)
            .collect();
        (!ids.is_empty()).then_some(IncidentChangeKind::NotificationsDue { ids })
    }

    /// Records one notification sent now: in the list and on the timeline.
    fn notify(&mut self, n: &Notification) {
        self.notifications.push(n.clone());
        self.timeline.push(TimelineRecord {
            at: n.due_at(),
            kind: TimelineKind::Notified,
            actor: Actor::system(),
            user: Some(n.user_id),
            detail: Some(format!("{}, via {}", n.reason.as_str(), n.channel)),
            level: Some(self.escalation_level),
        });
    }

    fn escalation_record(&self, step: &EscalationStep) -> TimelineRecord {
        let detail = match step.reason {
            EscalationReason::NoOneOnCall => Some("no_one_on_call".to_owned()),
            _ if step.to_level < step.from_level => Some(format!(
                "repeat {} of {}",
                self.loops(),
                self.escalation_policy.repeat
            )),
            _ => None,
        };
        TimelineRecord {
            at: step.at,
            kind: TimelineKind::Escalated,
            actor: step.actor.clone(),
            user: step.to,
            detail,
            level: Some(step.to_level),
        }
    }

    /// The story of a freshly triggered incident (its trigger, a nobody-on-call step, its
    /// first page), set by the store before the incident is recorded.
    pub fn open_timeline(&mut self) {
        let mut timeline = vec![TimelineRecord {
            at: self.triggered_at,
            kind: TimelineKind::Triggered,
            actor: self.triggered_by.clone(),
            user: None,
            detail: None,
            level: Some(0),
        }];
        for step in self.escalation_history() {
            timeline.push(self.escalation_record(step));
        }
        if self.paging_held {
            timeline.push(TimelineRecord {
                at: self.triggered_at,
                kind: TimelineKind::PagingHeld,
                actor: Actor::system(),
                user: None,
                detail: None,
                level: Some(0),
            });
        }
        self.timeline = timeline.into();
        let pages = std::mem::take(&mut self.notifications);
        for page in &pages {
            self.page(Some(page));
        }
    }

    /// The timeline to show: the recorded one, or, for an incident recorded before
    /// timelines existed, one rebuilt from what it kept (its trigger, pages, escalations,
    /// last acknowledgement and resolution).
    pub fn story(&self) -> Vec<TimelineRecord> {
        if !self.timeline.is_empty() {
            return self.timeline.to_vec();
        }
        let mut rebuilt = Incident {
            timeline: super::Timeline::default(),
            notifications: Vec::new(),
            ..self.clone()
        };
        rebuilt.extras_mut().escalation_history.clear();
        rebuilt.timeline.push(TimelineRecord {
            at: self.triggered_at,
            kind: TimelineKind::Triggered,
            actor: self.triggered_by.clone(),
            user: None,
            detail: None,
            level: Some(0),
        });
        for step in self.escalation_history() {
            rebuilt.extras_mut().escalation_history.push(step.clone());
            let record = rebuilt.escalation_record(step);
            rebuilt.timeline.push(record);
        }
        for page in &self.notifications {
            rebuilt.page(Some(page));
        }
        let mut at = |at: Option<Timestamp>, kind, actor: Option<&Actor>| {
            if let Some(at) = at {
                rebuilt.timeline.push(TimelineRecord {
                    at,
                    kind,
                    actor: actor.cloned().unwrap_or_default(),
                    user: None,
                    detail: None,
                    level: None,
                });
            }
        };
        at(
            self.acknowledged_at,
            TimelineKind::Acknowledged,
            self.acknowledged_by.as_deref(),
        );
        at(
            self.resolved_at,
            TimelineKind::Resolved,
            self.resolved_by.as_deref(),
        );
        let mut story = rebuilt.timeline.to_vec();
        story.sort_by_key(|r| r.at);
        story
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RotationEntry;
    use crate::domain::schedule::EscalationLevel;
    use chrono::{TimeZone, Utc};

    struct Team {
        alice: UserId,
        bob: UserId,
        carol: UserId,
        schedule: Schedule,
    }

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn ms(n: i64) -> Duration {
        Duration::milliseconds(n)
    }

    /// Levels in these tests name users directly.
    fn direct(level: &EscalationLevel) -> Option<UserId> {
        level.user_id
    }

    fn page() -> Page {
        Page {
            id: NotificationId::new(),
            channel: "log".into(),
        }
    }

    /// Alice on call around t0; Bob then Carol as levels 1 and 2.
    fn team() -> Team {
        let (alice, bob, carol) = (UserId::new(), UserId::new(), UserId::new());
        let schedule = Schedule {
            id: ScheduleId::new(),
            name: "primary".into(),
            service_id: ServiceId::new(),
            time_zone: "UTC".into(),
            rotations: vec![],
            overrides: vec![],
            rotation: vec![RotationEntry {
                user_id: alice,
                start: t0() - Duration::hours(1),
                end: t0() + Duration::hours(1),
            }],
            escalation_policy: std::sync::Arc::new(EscalationPolicy {
                initial_timeout_ms: 1_000,
                levels: vec![
                    EscalationLevel {
                        user_id: Some(bob),
                        schedule_id: None,
                        timeout_ms: 2_000,
                    },
                    EscalationLevel {
                        user_id: Some(carol),
                        schedule_id: None,
                        timeout_ms: 3_000,
                    },
                ],
                repeat: 0,
                acknowledge_timeout_ms: None,
            }),
            calendar_key: None,
            deleted_at: None,
        };
        Team {
            alice,
            bob,
            carol,
            schedule,
        }
    }

    fn new_incident() -> NewIncident {
        NewIncident::parse("db down", None, Severity::High, None).unwrap()
    }

    #[test]
    fn a_page_keeps_its_rare_parts_behind_one_pointer_and_serializes_flat() {
        let plain = Notification::decided(
            Page {
                id: NotificationId::new(),
                channel: "log".into(),
            },
            UserId::new(),
            NotificationReason::Triggered,
            t0(),
        );
        assert!(plain.rare.is_none());
        let json = serde_json::to_value(&plain).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        // serde_json's map sorts keys; what matters is which are there.
        assert_eq!(
            keys,
            ["at", "channel", "delivered", "id", "reason", "user_id"]
        );
        let back: Notification =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&plain).unwrap()).unwrap();
        assert_eq!(back, plain);
        assert!(back.rare.is_none(), "empty parts read back as none");

        let mut rich = plain.clone();
        rich.set_rule(ContactMethodId::new(), 30_000);
        rich.set_last_error("550 mailbox unavailable");
        rich.set_follow_ups(
            vec![FollowUp {
                id: NotificationId::new(),
                contact_method_id: ContactMethodId::new(),
                channel: "slack".into(),
                delay_ms: 60_000,
            }]
            .into(),
        );
        rich.attempts = 3;
        rich.failed = true;
        // The fields in the order they were always written, flat.
        let bytes = rmp_serde::to_vec_named(&rich).unwrap();
        let position = |name: &str| {
            // A key is a MessagePack fixstr: its length byte, then the name.
            let mut key = vec![0xa0 | name.len() as u8];
            key.extend_from_slice(name.as_bytes());
            bytes.windows(key.len()).position(|w| w == key.as_slice())
        };
        let order = [
            "id",
            "user_id",
            "channel",
            "reason",
            "at",
            "delivered",
            "contact_method_id",
            "delay_ms",
            "attempts",
            "failed",
            "last_error",
            "follow_ups",
        ]
        .map(|name| position(name).unwrap_or_else(|| panic!("{name} is written")));
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        let back: Notification = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, rich);
        assert_eq!(back.delay_ms(), 30_000);
        assert_eq!(back.last_error(), Some("550 mailbox unavailable"));
        assert_eq!(back.follow_ups().len(), 1);
        // Its follow-up expands to a page of its own, without follow-ups.
        let expanded: Vec<Notification> = back.expand().collect();
        assert_eq!(expanded.len(), 2);
        assert!(expanded.iter().all(|n| n.follow_ups().is_empty()));
        assert_eq!(expanded[1].delay_ms(), 60_000);
    }

    #[test]
    fn the_rarely_set_parts_take_one_pointer_and_serialize_flat_as_before() {
        // At most 320 bytes: the allocator's size class of the `Arc<Incident>` (its
        // counts included) is then 320, not 384.
        assert!(
            size_of::<Incident>() <= 320 - 16,
            "{}",
            size_of::<Incident>()
        );
        // And a page at most 80: an incident's one-page vector is then one 80-byte block.
        assert!(
            size_of::<Notification>() <= 80,
            "{}",
            size_of::<Notification>()
        );
        let team = team();
        let plain = open(&team, t0());
        assert!(plain.extras.is_none());
        let bytes = rmp_serde::to_vec_named(&plain).unwrap();
        let back: Incident = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, plain);
        assert!(back.extras.is_none(), "empty parts read back as none");
        let mut rich = plain.clone();
        {
            let extras = rich.extras_mut();
            extras.snoozed_until = Some(t0() + ms(60_000));
            extras.acknowledge_deadline = Some(t0() + ms(90_000));
            extras.escalation_history.push(EscalationStep {
                from_level: 0,
                to_level: 1,
                to: Some(team.bob),
                reason: EscalationReason::Manual,
                at: t0() + ms(5),
                actor: Actor::system(),
            });
        }
        let bytes = rmp_serde::to_vec_named(&rich).unwrap();
        let back: Incident = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, rich);
        // Flat: the same field names at the top level as before the move.
        let json = serde_json::to_value(&rich).unwrap();
        assert_eq!(json["escalation_history"][0]["to_level"], 1);
        assert!(json["snoozed_until"].is_string());
        assert!(json.get("extras").is_none());
        // Emptied again, the parts go away.
        {
            let extras = rich.extras_mut();
            *extras = IncidentExtras::default();
        }
        rich.tidy();
        assert!(rich.extras.is_none());
    }

    fn open(team: &Team, at: Timestamp) -> Incident {
        Incident::trigger(
            IncidentId::new(),
            1,
            new_incident(),
            &team.schedule,
            at,
            page(),
            &direct,
        )
    }

    fn applied(mut incident: Incident, at: Timestamp, change: IncidentChangeKind) -> Incident {
        incident.apply(at, &change, &Actor::system());
        incident
    }

    #[test]
    fn trigger_assigns_on_call_at_level_zero_and_pages_them() {
        let team = team();
        let inc = open(&team, t0());
        assert_eq!(inc.state, IncidentState::Triggered);
        assert_eq!(inc.escalation_level, 0);
        assert_eq!(inc.assigned_to, Some(team.alice));
        assert_eq!(inc.notifications.len(), 1);
        assert_eq!(inc.notifications[0].user_id, team.alice);
        assert_eq!(inc.notifications[0].reason, NotificationReason::Triggered);
        assert!(inc.escalation_history().is_empty());
        assert_eq!(inc.escalation_deadline, Some(t0() + ms(1_000)));
        assert_eq!(inc.alert_count, 1);
    }

    #[test]
    fn trigger_with_nobody_on_call_goes_to_level_one() {
        let team = team();
        let later = t0() + Duration::hours(5);
        let inc = open(&team, later);
        assert_eq!(inc.escalation_level, 1);
        assert_eq!(inc.assigned_to, Some(team.bob));
        assert_eq!(inc.escalation_history().len(), 1);
        assert_eq!(
            inc.escalation_history()[0].reason,
            EscalationReason::NoOneOnCall
        );
        assert_eq!(inc.escalation_history()[0].from_level, 0);
        assert_eq!(inc.escalation_history()[0].to_level, 1);
        // Level 1's timeout counts from the trigger.
        assert_eq!(inc.escalation_deadline, Some(later + ms(2_000)));
    }

    #[test]
    fn trigger_with_nobody_and_no_levels_stays_unassigned() {
        let mut team = team();
        std::sync::Arc::make_mut(&mut team.schedule.escalation_policy)
            .levels
            .clear();
        let inc = open(&team, t0() + Duration::hours(5));
        assert_eq!(inc.escalation_level, 0);
        assert_eq!(inc.assigned_to, None);
        assert!(inc.notifications.is_empty());
        assert_eq!(inc.escalation_deadline, None);
        assert_eq!(inc.state, IncidentState::Triggered);
    }

    #[test]
    fn on_call_with_no_levels_has_no_timer() {
        let mut team = team();
        std::sync::Arc::make_mut(&mut team.schedule.escalation_policy)
            .levels
            .clear();
        let inc = open(&team, t0());
        assert_eq!(inc.assigned_to, Some(team.alice));
        assert_eq!(inc.escalation_deadline, None);
    }

    #[test]
    fn timeout_escalates_to_the_next_level() {
        let team = team();
        let inc = open(&team, t0());
        let deadline = inc.escalation_deadline.unwrap();
        let change = inc
            .escalate_on_timeout(deadline, deadline, page(), &direct, None)
            .unwrap();
        let inc = applied(inc, deadline, change);
        assert_eq!(inc.escalation_level, 1);
        assert_eq!(inc.assigned_to, Some(team.bob));
        assert_eq!(
            inc.escalation_history()[0].reason,
            EscalationReason::Timeout
        );
        assert_eq!(inc.notifications.len(), 2);
        assert_eq!(inc.notifications[1].user_id, team.bob);
        assert_eq!(inc.notifications[1].reason, NotificationReason::Escalated);
        assert_eq!(inc.escalation_deadline, Some(deadline + ms(2_000)));
    }

    #[test]
    fn a_repeating_policy_cycles_back_to_level_zero_then_stays() {
        let mut team = team();
        std::sync::Arc::make_mut(&mut team.schedule.escalation_policy).repeat = 2;
        let mut inc = open(&team, t0());
        let mut levels = Vec::new();
        for _ in 0..8 {
            let Some(d) = inc.escalation_deadline else {
                break;
            };
            let change = inc
                .escalate_on_timeout(d, d, page(), &direct, Some(team.alice))
                .unwrap();
            inc = applied(inc, d, change);
            levels.push(inc.escalation_level);
        }
        // Two levels, two repeats: 1 2 | 0 1 2 | 0 1 2, then it stays at the last level.
        assert_eq!(levels, [1, 2, 0, 1, 2, 0, 1, 2]);
        assert_eq!(inc.loops(), 2);
        assert_eq!(inc.escalation_deadline, None);
        let loop_steps: Vec<_> = inc
            .timeline
            .iter()
            .filter(|r| r.detail.as_deref().is_some_and(|d| d.starts_with("repeat")))
            .map(|r| r.detail.clone().unwrap())
            .collect();
        assert_eq!(loop_steps, ["repeat 1 of 2", "repeat 2 of 2"]);
    }

    #[test]
    fn a_snooze_acknowledges_and_its_wake_up_retriggers_at_the_same_level() {
        let team = team();
        let inc = open(&team, t0());
        let snooze = inc.snooze(60_000, t0()).unwrap();
        let inc = applied(inc, t0(), snooze);
        assert_eq!(inc.state, IncidentState::Acknowledged);
        assert_eq!(inc.wake_deadline(), Some(t0() + ms(60_000)));
        assert_eq!(inc.escalation_deadline, None);
        // A timer for another deadline is stale.
        assert!(
            inc.wake(t0() + ms(59_999), t0() + ms(59_999), page(), None)
                .is_none()
        );
        let woke = inc
            .wake(t0() + ms(60_000), t0() + ms(60_000), page(), None)
            .unwrap();
        let inc = applied(inc, t0() + ms(60_000), woke);
        assert_eq!(inc.state, IncidentState::Triggered);
        assert_eq!(inc.escalation_level, 0);
        assert_eq!(inc.notifications.len(), 2);
        assert_eq!(inc.notifications[1].reason, NotificationReason::Retriggered);
        assert_eq!(inc.escalation_deadline, Some(t0() + ms(61_000)));
        assert_eq!(inc.timeline.last().unwrap().kind, TimelineKind::Notified);
    }

    #[test]
    fn an_acknowledge_timeout_is_armed_by_each_acknowledgement() {
        let mut team = team();
        std::sync::Arc::make_mut(&mut team.schedule.escalation_policy).acknowledge_timeout_ms =
            Some(30_000);
        let inc = open(&team, t0());
        let ack = inc.acknowledge().unwrap().unwrap();
        let inc = applied(inc, t0() + ms(10), ack);
        assert_eq!(inc.acknowledge_deadline(), Some(t0() + ms(30_010)));
        let woke = inc
            .wake(t0() + ms(30_010), t0() + ms(30_010), page(), None)
            .unwrap();
        assert!(matches!(
            woke,
            IncidentChangeKind::Retriggered {
                cause: RetriggerCause::AcknowledgeTimedOut,
                ..
            }
        ));
        let inc = applied(inc, t0() + ms(30_010), woke);
        assert_eq!(inc.state, IncidentState::Triggered);
        assert_eq!(inc.acknowledge_deadline(), None);
        // Resolved: no wake-up at all.
        let resolve = inc.resolve().unwrap();
        let inc = applied(inc, t0() + ms(40_000), resolve);
        assert_eq!(inc.wake_deadline(), None);
    }

    #[test]
    fn a_note_is_one_to_ten_thousand_characters() {
        let team = team();
        let inc = open(&team, t0());
        assert!(inc.add_note("   ").is_err());
        assert!(inc.add_note(&"x".repeat(10_001)).is_err());
        let note = inc.add_note(" rolled back ").unwrap();
        let inc = applied(inc, t0(), note);
        let last = inc.timeline.last().unwrap();
        assert_eq!(last.kind, TimelineKind::Note);
        assert_eq!(last.describe(&|_| "x".into()), "rolled back");
    }

    #[test]
    fn reassigning_keeps_the_level_and_pages_the_new_assignee() {
        let team = team();
        let inc = open(&team, t0());
        let ack = inc.acknowledge().unwrap().unwrap();
        let inc = applied(inc, t0(), ack);
        let change = inc.reassign(team.carol, t0() + ms(500), page()).unwrap();
        let inc = applied(inc, t0() + ms(500), change);
        assert_eq!(inc.state, IncidentState::Triggered);
        assert_eq!(inc.escalation_level, 0);
        assert_eq!(inc.assigned_to, Some(team.carol));
        assert_eq!(inc.escalation_deadline, Some(t0() + ms(1_500)));
        let resolved = applied(inc.clone(), t0(), inc.resolve().unwrap());
        assert!(resolved.reassign(team.bob, t0(), page()).is_err());
    }

    #[test]
    fn an_incident_from_before_timelines_gets_its_story_rebuilt() {
        let team = team();
        let mut inc = open(&team, t0());
        let ack = inc.acknowledge().unwrap().unwrap();
        inc = applied(inc, t0() + ms(5), ack);
        inc.timeline.clear();
        let kinds: Vec<_> = inc.story().iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                TimelineKind::Triggered,
                TimelineKind::Notified,
                TimelineKind::Acknowledged
            ]
        );
    }

    #[test]
    fn last_level_stays_there() {
        let team = team();
        let mut inc = open(&team, t0());
        for _ in 0..2 {
            let d = inc.escalation_deadline.unwrap();
            let change = inc
                .escalate_on_timeout(d, d, page(), &direct, None)
                .unwrap();
            inc = applied(inc, d, change);
        }
        assert_eq!(inc.escalation_level, 2);
        assert_eq!(inc.assigned_to, Some(team.carol));
        assert_eq!(inc.escalation_deadline, None);
        assert!(
            inc.escalate_on_timeout(t0(), t0(), page(), &direct, None)
                .is_none()
        );
    }

    #[test]
    fn acknowledge_stops_escalation() {
        let team = team();
        let inc = open(&team, t0());
        let deadline = inc.escalation_deadline.unwrap();
        let inc = applied(inc, t0(), inc_ack(&team));
        assert_eq!(inc.state, IncidentState::Acknowledged);
        assert_eq!(inc.acknowledged_at, Some(t0()));
        assert_eq!(inc.escalation_deadline, None);
        assert!(
            inc.escalate_on_timeout(deadline, deadline, page(), &direct, None)
                .is_none()
        );
    }

    fn inc_ack(_team: &Team) -> IncidentChangeKind {
        IncidentChangeKind::Acknowledged
    }

    #[test]
    fn acknowledge_twice_is_a_no_op() {
        let team = team();
        let inc = applied(open(&team, t0()), t0(), IncidentChangeKind::Acknowledged);
        assert_eq!(inc.acknowledge(), Ok(None));
    }

    #[test]
    fn acknowledge_resolved_is_invalid_state() {
        let team = team();
        let inc = applied(open(&team, t0()), t0(), IncidentChangeKind::Resolved);
        assert!(matches!(
            inc.acknowledge(),
            Err(DomainError::InvalidState(_))
        ));
    }

    #[test]
    fn resolve_from_triggered_or_acknowledged_and_twice_is_a_no_op() {
        let team = team();
        let triggered = open(&team, t0());
        assert_eq!(triggered.resolve(), Some(IncidentChangeKind::Resolved));
        let acked = applied(triggered, t0(), IncidentChangeKind::Acknowledged);
        assert_eq!(acked.resolve(), Some(IncidentChangeKind::Resolved));
        let resolved = applied(acked, t0() + ms(5), IncidentChangeKind::Resolved);
        assert_eq!(resolved.resolved_at, Some(t0() + ms(5)));
        assert_eq!(resolved.escalation_deadline, None);
        assert_eq!(resolved.resolve(), None);
    }

    #[test]
    fn manual_escalate_from_acknowledged_retriggers_and_restarts_timer() {
        let team = team();
        let inc = applied(open(&team, t0()), t0(), IncidentChangeKind::Acknowledged);
        let now = t0() + ms(500);
        let change = inc.escalate_manually(now, page(), &direct).unwrap();
        let inc = applied(inc, now, change);
        assert_eq!(inc.state, IncidentState::Triggered);
        assert_eq!(inc.acknowledged_at, None);
        assert_eq!(inc.escalation_level, 1);
        assert_eq!(inc.assigned_to, Some(team.bob));
        assert_eq!(inc.escalation_history()[0].reason, EscalationReason::Manual);
        assert_eq!(inc.notifications[1].reason, NotificationReason::Manual);
        assert_eq!(inc.escalation_deadline, Some(now + ms(2_000)));
    }

    #[test]
    fn manual_escalate_at_last_level_is_invalid_state() {
        let team = team();
        let mut inc = open(&team, t0());
        for _ in 0..2 {
            let change = inc.escalate_manually(t0(), page(), &direct).unwrap();
            inc = applied(inc, t0(), change);
        }
        assert!(matches!(
            inc.escalate_manually(t0(), page(), &direct),
            Err(DomainError::InvalidState(_))
        ));
    }

    #[test]
    fn manual_escalate_resolved_is_invalid_state() {
        let team = team();
        let inc = applied(open(&team, t0()), t0(), IncidentChangeKind::Resolved);
        assert!(matches!(
            inc.escalate_manually(t0(), page(), &direct),
            Err(DomainError::InvalidState(_))
        ));
    }

    #[test]
    fn stale_timer_after_manual_escalation_does_nothing() {
        let team = team();
        let inc = open(&team, t0());
        let old_deadline = inc.escalation_deadline.unwrap();
        let change = inc
            .escalate_manually(t0() + ms(10), page(), &direct)
            .unwrap();
        let inc = applied(inc, t0() + ms(10), change);
        assert!(
            inc.escalate_on_timeout(old_deadline, old_deadline, page(), &direct, None)
                .is_none()
        );
    }

    #[test]
    fn repeated_alert_counts_only_while_open() {
        let team = team();
        let inc = open(&team, t0());
        let inc = applied(inc.clone(), t0(), inc.repeat_alert().unwrap());
        assert_eq!(inc.alert_count, 2);
        assert_eq!(inc.notifications.len(), 1, "a repeat pages nobody");
        let resolved = applied(inc, t0(), IncidentChangeKind::Resolved);
        assert_eq!(resolved.repeat_alert(), None);
    }

    #[test]
    fn new_incident_validates_title() {
        assert!(NewIncident::parse(" ", None, Severity::Low, None).is_err());
        assert!(NewIncident::parse(&"t".repeat(201), None, Severity::Low, None).is_err());
        let n = NewIncident::parse(" x ", Some("  "), Severity::Low, Some(" ")).unwrap();
        assert_eq!(
            (n.title.as_str(), n.description, n.dedup_key),
            ("x", None, None)
        );
    }

    // ---- maintenance: held paging --------------------------------------------------

    fn held(team: &Team, at: Timestamp) -> Incident {
        let mut incident = open(team, at);
        incident.hold_paging();
        incident.open_timeline();
        incident
    }

    #[test]
    fn a_held_trigger_is_recorded_without_a_page_or_a_timer() {
        let team = team();
        let inc = held(&team, t0());
        assert!(inc.paging_held);
        assert_eq!(inc.state, IncidentState::Triggered);
        assert!(inc.notifications.is_empty());
        assert_eq!(inc.escalation_deadline, None);
        assert_eq!(inc.assigned_to, None);
        assert!(
            inc.timeline
                .iter()
                .any(|r| r.kind == TimelineKind::PagingHeld)
        );
    }

    #[test]
    fn release_pages_the_on_call_and_counts_the_timeout_from_the_end() {
        let team = team();
        let inc = held(&team, t0());
        let end = t0() + ms(50_000);
        let change = inc.release(end, page(), Some(team.alice), &direct).unwrap();
        let inc = applied(inc, end, change);
        assert!(!inc.paging_held);
        assert_eq!(inc.assigned_to, Some(team.alice));
        assert_eq!(inc.notifications.len(), 1);
        assert_eq!(
            inc.notifications[0].reason,
            NotificationReason::MaintenanceEnded
        );
        assert_eq!(inc.escalation_deadline, Some(end + ms(1_000)));
        assert!(
            inc.release(end, page(), Some(team.alice), &direct)
                .is_none(),
            "once"
        );
    }

    #[test]
    fn release_with_nobody_on_call_goes_to_level_one_like_a_trigger() {
        let team = team();
        let inc = held(&team, t0());
        let end = t0() + ms(5_000);
        let inc = applied(
            inc.clone(),
            end,
            inc.release(end, page(), None, &direct).unwrap(),
        );
        assert_eq!(inc.escalation_level, 1);
        assert_eq!(inc.assigned_to, Some(team.bob));
        assert_eq!(
            inc.escalation_history()[0].reason,
            EscalationReason::NoOneOnCall
        );
        assert_eq!(inc.escalation_deadline, Some(end + ms(2_000)));
    }

    #[test]
    fn a_timeout_during_maintenance_holds_instead_of_escalating() {
        let team = team();
        let inc = open(&team, t0());
        let deadline = inc.escalation_deadline.unwrap();
        assert!(
            inc.hold_on_timeout(deadline + ms(1)).is_none(),
            "stale timer"
        );
        let inc = applied(
            inc.clone(),
            deadline,
            inc.hold_on_timeout(deadline).unwrap(),
        );
        assert!(inc.paging_held);
        assert_eq!(inc.escalation_level, 0);
        assert_eq!(inc.escalation_deadline, None);
        // At the end the current level's assignee is paged again, its timeout afresh.
        let end = deadline + ms(60_000);
        let inc = applied(
            inc.clone(),
            end,
            inc.release(end, page(), Some(team.carol), &direct).unwrap(),
        );
        assert_eq!(inc.assigned_to, Some(team.alice));
        assert_eq!(inc.notifications.len(), 2);
        assert_eq!(inc.escalation_deadline, Some(end + ms(1_000)));
    }

    #[test]
    fn a_snooze_ending_during_maintenance_retriggers_held() {
        let team = team();
        let inc = open(&team, t0());
        let inc = applied(inc.clone(), t0(), inc.snooze(1_000, t0()).unwrap());
        let until = t0() + ms(1_000);
        let inc = applied(inc.clone(), until, inc.hold_on_wake(until).unwrap());
        assert_eq!(inc.state, IncidentState::Triggered);
        assert!(inc.paging_held);
        assert_eq!(inc.wake_deadline(), None);
        assert_eq!(inc.notifications.len(), 1, "not paged again yet");
    }

    #[test]
    fn an_acknowledged_held_incident_is_released_without_a_page() {
        let team = team();
        let inc = held(&team, t0());
        let inc = applied(inc.clone(), t0(), inc.acknowledge().unwrap().unwrap());
        let end = t0() + ms(5_000);
        let inc = applied(
            inc.clone(),
            end,
            inc.release(end, page(), Some(team.alice), &direct).unwrap(),
        );
        assert!(!inc.paging_held);
        assert!(inc.notifications.is_empty());
        assert_eq!(inc.escalation_deadline, None);
    }
}
