//! Domain events: the record of every accepted change. The in-memory state is the fold of
//! these events, live and on replay; the journal stores exactly these values.

use serde::{Deserialize, Serialize};

use super::contact::{ContactMethod, NotificationRule};
use super::ids::{ContactMethodId, IntegrationId, NotificationRuleId};
use super::incident::RetriggerCause;
use super::integration::{AlertUpdate, Integration};
use super::{
    Actor, ApiToken, ApiTokenId, EscalationStep, Heartbeat, HeartbeatId, Incident, IncidentId,
    Notification, NotificationId, Schedule, ScheduleId, Service, ServiceId, Session, SessionId,
    Timestamp, User, UserId,
};

/// One accepted change to Klaxon's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A user was created.
    UserCreated {
        /// The new user.
        user: User,
        /// Who made the change (the system for records older than actors).
        #[serde(default)]
        actor: Actor,
    },
    /// A user's fields were replaced.
    UserUpdated {
        /// The user after the update.
        user: User,
        /// Who made the change (the system for records older than actors).
        #[serde(default)]
        actor: Actor,
    },
    /// A user was deleted (kept as a tombstone for incident history).
    UserDeleted {
        /// Which.
        id: UserId,
        /// When.
        at: Timestamp,
        /// Who made the change.
        #[serde(default)]
        actor: Actor,
    },
    /// A service was created.
    ServiceCreated {
        /// The new service.
        service: Service,
        /// Who made the change (the system for records older than actors).
        #[serde(default)]
        actor: Actor,
    },
    /// A service's fields were replaced.
    ServiceUpdated {
        /// The service after the update.
        service: Service,
        /// Who made the change (the system for records older than actors).
        #[serde(default)]
        actor: Actor,
    },
    /// A service was deleted.
    ServiceDeleted {
        /// Which.
        id: ServiceId,
        /// When.
        at: Timestamp,
        /// Who made the change.
        #[serde(default)]
        actor: Actor,
    },
    /// A schedule was created.
    ScheduleCreated {
        /// The new schedule.
        schedule: Schedule,
        /// Who made the change (the system for records older than actors).
        #[serde(default)]
        actor: Actor,
    },
    /// A schedule was replaced.
    ScheduleUpdated {
        /// The schedule after the update.
        schedule: Schedule,
        /// Who made the change (the system for records older than actors).
        #[serde(default)]
        actor: Actor,
    },
    /// A schedule was deleted.
    ScheduleDeleted {
        /// Which.
        id: ScheduleId,
        /// When.
        at: Timestamp,
        /// Who made the change.
        #[serde(default)]
        actor: Actor,
    },
    /// An API token was made (only its secret's digest is recorded).
    ApiTokenCreated {
        /// The token.
        token: ApiToken,
    },
    /// An API token was revoked.
    ApiTokenRevoked {
        /// Which.
        id: ApiTokenId,
        /// When.
        at: Timestamp,
        /// Who revoked it.
        actor: Actor,
    },
    /// An API token was presented (recorded at most once a minute per token).
    ApiTokenUsed {
        /// Which.
        id: ApiTokenId,
        /// When.
        at: Timestamp,
    },
    /// A person logged in.
    SessionStarted {
        /// The session (only its secret's digest is recorded).
        session: Session,
    },
    /// A session was used (recorded at most once a minute per session).
    SessionSeen {
        /// Which.
        id: SessionId,
        /// When.
        at: Timestamp,
    },
    /// Sessions ended: a logout, "end this session", or every session of a user whose
    /// password changed or who was deleted.
    SessionsEnded {
        /// Which.
        ids: Vec<SessionId>,
        /// When.
        at: Timestamp,
        /// Who ended them.
        actor: Actor,
    },
    /// An incident changed.
    Incident(IncidentChange),
    /// Resolved incidents older than the hot retention left memory for the cold index
    /// (`store::cold`). The journal holds them still; the cold rows are written in the same
    /// transaction as this record, so a reader of the journal always finds them there.
    IncidentsRetired {
        /// When the cut was made.
        at: Timestamp,
        /// The incidents moved out of memory (each resolved, every page settled).
        ids: Vec<IncidentId>,
    },
    /// Pages confirmed delivered by their channels, recorded in one batch. A delivery flag
    /// commutes with every other incident change, so a batch needs no incident's lock.
    NotificationsDelivered {
        /// When they were recorded.
        at: Timestamp,
        /// Which pages.
        deliveries: Vec<Delivery>,
    },
    /// A user gained a contact method.
    ContactMethodAdded {
        /// The method, with its target.
        method: ContactMethod,
        /// Who added it.
        #[serde(default)]
        actor: Actor,
    },
    /// A contact method was removed, and with it every rule sending to it.
    ContactMethodRemoved {
        /// Which one.
        id: ContactMethodId,
        /// Whose.
        user_id: UserId,
        /// When.
        at: Timestamp,
        /// Who removed it.
        #[serde(default)]
        actor: Actor,
    },
    /// A user gained a notification rule.
    NotificationRuleAdded {
        /// The rule.
        rule: NotificationRule,
        /// Who added it.
        #[serde(default)]
        actor: Actor,
    },
    /// A notification rule was removed.
    NotificationRuleRemoved {
        /// Which one.
        id: NotificationRuleId,
        /// Whose.
        user_id: UserId,
        /// When.
        at: Timestamp,
        /// Who removed it.
        #[serde(default)]
        actor: Actor,
    },
    /// The key that signs the acknowledge and resolve links in emails, made once.
    LinkKeyCreated {
        /// 32 random bytes, hex.
        key: super::integration::IntegrationSecret,
    },
    /// A monitoring integration was made.
    IntegrationCreated {
        /// The integration (its key included: admins read it back).
        integration: Integration,
        /// Who made it.
        #[serde(default)]
        actor: Actor,
    },
    /// An integration's key was rotated or its secret set.
    IntegrationUpdated {
        /// The integration after the change.
        integration: Integration,
        /// Who changed it.
        #[serde(default)]
        actor: Actor,
    },
    /// An integration was deleted: its key stops working at once.
    IntegrationDeleted {
        /// Which.
        id: IntegrationId,
        /// When.
        at: Timestamp,
        /// Who deleted it.
        #[serde(default)]
        actor: Actor,
    },
    /// A heartbeat was made.
    HeartbeatCreated {
        /// The new heartbeat.
        heartbeat: Heartbeat,
        /// Who made it.
        #[serde(default)]
        actor: Actor,
    },
    /// A heartbeat was deleted (its timer disarmed; an open outage incident stays open).
    HeartbeatDeleted {
        /// Which.
        id: HeartbeatId,
        /// When.
        at: Timestamp,
        /// Who deleted it.
        #[serde(default)]
        actor: Actor,
    },
    /// A beat was recorded: a state change, or the first beat a tenth of an interval after
    /// the last recorded one (the beats in between are kept in memory only).
    HeartbeatBeat {
        /// Which.
        id: HeartbeatId,
        /// When it beat.
        at: Timestamp,
    },
    /// A heartbeat's deadline passed without a beat: unhealthy, an incident triggered.
    HeartbeatMissed {
        /// Which.
        id: HeartbeatId,
        /// When it was recorded.
        at: Timestamp,
        /// The deadline that passed.
        deadline: Timestamp,
        /// The last beat, counting unrecorded ones.
        #[serde(default)]
        last_beat_at: Option<Timestamp>,
        /// The outage's incident.
        #[serde(default)]
        incident_id: Option<IncidentId>,
    },
    /// A service went into maintenance until `until` (or its window was moved).
    MaintenanceStarted {
        /// Which.
        service_id: ServiceId,
        /// When it ends by itself.
        until: Timestamp,
        /// When it started.
        at: Timestamp,
        /// Who started it.
        #[serde(default)]
        actor: Actor,
    },
    /// A service's maintenance ended: by hand, or its `until` passed (the system).
    MaintenanceEnded {
        /// Which.
        service_id: ServiceId,
        /// When.
        at: Timestamp,
        /// Who ended it.
        #[serde(default)]
        actor: Actor,
    },
    /// An outbound webhook was made (its signing secret included: every delivery is
    /// signed with it).
    WebhookCreated {
        /// The new webhook.
        webhook: super::Webhook,
        /// Who made it.
        #[serde(default)]
        actor: Actor,
    },
    /// An outbound webhook was deleted: nothing more is sent to it, its pending
    /// deliveries included.
    WebhookDeleted {
        /// Which.
        id: super::WebhookId,
        /// When.
        at: Timestamp,
        /// Who deleted it.
        #[serde(default)]
        actor: Actor,
    },
    /// A webhook delivery was attempted: delivered, to be retried, or given up (which
    /// marks its webhook failing; a delivered one clears that).
    WebhookAttempted(super::webhook::AttemptRecord),
}

/// What a channel made of one page: delivered, or given up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The incident.
    pub incident_id: IncidentId,
    /// The page.
    pub notification_id: NotificationId,
    /// Attempts made (0 in journals from before attempts were counted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// `None`: delivered. Some: the last attempt's error, after which it was given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A change to one incident, at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentChange {
    /// Which incident.
    pub incident_id: IncidentId,
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub kind: IncidentChangeKind,
    /// Who made it happen: a person, a script, an integration, or the system (timers, and
    /// every change journaled before actors were recorded).
    #[serde(default)]
    pub actor: Actor,
}

/// What happened to an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum IncidentChangeKind {
    /// Opened, with its full initial state (assignment, first page, first deadline).
    Triggered(Box<Incident>),
    /// A repeated trigger with the same dedup key folded in.
    AlertRepeated,
    /// Someone acknowledged it.
    Acknowledged,
    /// It was resolved.
    Resolved,
    /// It moved up a level (timeout, manual, or nobody on call).
    Escalated {
        /// The history entry.
        step: EscalationStep,
        /// The page to the new assignee, if there is one.
        notification: Option<Notification>,
        /// When the new level times out, if it does.
        deadline: Option<Timestamp>,
    },
    /// Pending notification rules came due while it was still triggered: they are sent.
    NotificationsDue {
        /// Which pending notifications.
        ids: Vec<NotificationId>,
    },
    /// A page was confirmed delivered by its channel.
    NotificationDelivered {
        /// Which page.
        notification_id: NotificationId,
    },
    /// Someone wrote a note.
    NoteAdded {
        /// 1 to 10,000 characters.
        text: String,
    },
    /// Handed to someone at the current level: paged, back to triggered.
    Reassigned {
        /// The new assignee.
        to: UserId,
        /// Their page.
        notification: Notification,
        /// When the level times out for them.
        deadline: Option<Timestamp>,
    },
    /// Acknowledged until `until`, then triggered again.
    Snoozed {
        /// When the snooze ends.
        until: Timestamp,
    },
    /// An acknowledged incident went back to triggered (snooze over, acknowledge timeout).
    Retriggered {
        /// Why.
        cause: RetriggerCause,
        /// The page to the assignee, if there is one.
        notification: Option<Notification>,
        /// When the level times out again.
        deadline: Option<Timestamp>,
    },
    /// A monitor sent alerts for this open incident: its alert list changes, and it may
    /// count as a repeat or resolve it. Also what dates the integration's `lastEventAt`.
    AlertsReceived(Box<AlertUpdate>),
    /// Its service is in maintenance: its escalation timer (or wake-up) passed while
    /// nobody may be paged, so it waits, unpaged, for the maintenance to end.
    PagingHeld {
        /// A wake-up that passed: back to triggered (without a page) for this reason.
        #[serde(default)]
        retrigger: Option<RetriggerCause>,
    },
    /// Its service's maintenance ended: the current level's target is paged and the
    /// level's timeout counts from now.
    PagingReleased {
        /// Nobody on call at level 0: the step to level 1.
        #[serde(default)]
        step: Option<EscalationStep>,
        /// Who is assigned now.
        to: Option<UserId>,
        /// Their page.
        notification: Option<Notification>,
        /// When the level times out.
        deadline: Option<Timestamp>,
    },
}

impl IncidentChangeKind {
    /// The page this change decided to send, if any: handed to the notifier once durable.
    pub fn page(&self) -> Option<&Notification> {
        match self {
            Self::Triggered(incident) => incident.notifications.first(),
            Self::Escalated { notification, .. }
            | Self::Retriggered { notification, .. }
            | Self::PagingReleased { notification, .. } => notification.as_ref(),
            Self::Reassigned { notification, .. } => Some(notification),
            _ => None,
        }
    }

    /// The page decision this change carries, for the store to fill in the paged user's
    /// channels before it is recorded.
    pub fn page_mut(&mut self) -> Option<&mut Notification> {
        match self {
            Self::Triggered(incident) => incident.notifications.first_mut(),
            Self::Escalated { notification, .. }
            | Self::Retriggered { notification, .. }
            | Self::PagingReleased { notification, .. } => notification.as_mut(),
            Self::Reassigned { notification, .. } => Some(notification),
            _ => None,
        }
    }

    /// The notifications this change sends now, read from the incident it produced: the
    /// page decision's notifications that are due at once, or the rules that came due.
    pub fn sent_now(&self, incident: &Incident) -> Vec<Notification> {
        match self {
            Self::Triggered(_) => incident.notifications.clone(),
            Self::NotificationsDue { ids } => incident
                .notifications
                .iter()
                .filter(|n| ids.contains(&n.id))
                .cloned()
                .collect(),
            other => other
                .page()
                .map(|page| page.expand().filter(|n| n.delay_ms() == 0).collect())
                .unwrap_or_default(),
        }
    }
}
