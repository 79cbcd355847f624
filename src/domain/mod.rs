//! The pure rules of on-call: who is on call, how an incident moves through its lifecycle,
//! and the events that record every change.
//!
//! Nothing in here does I/O, reads a clock, or knows about HTTP or GraphQL: callers pass
//! `now` in, and get back either a decision (an [`event::Event`]) or a [`DomainError`].

pub mod auth;
pub mod contact;
pub mod error;
pub mod event;
pub mod heartbeat;
pub mod ids;
pub mod incident;
pub mod integration;
pub mod oncall;
pub mod schedule;
pub mod text;
pub mod timeline;
pub mod user;
pub mod webhook;

pub use auth::{
    Action, Actor, ActorKind, ApiToken, ApiTokenId, Credential, PasswordHash, Principal, Role,
    SecretDigest, Session, SessionId,
};
pub use error::DomainError;
pub use event::{Delivery, Event, IncidentChange, IncidentChangeKind};
pub use heartbeat::{Heartbeat, HeartbeatState};
pub use ids::{
    ContactMethodId, HeartbeatId, IncidentId, IntegrationId, NotificationId, NotificationRuleId,
    OverrideId, RotationId, ScheduleId, ServiceId, UserId, WebhookDeliveryId, WebhookId,
};
pub use incident::{
    EscalationReason, EscalationStep, Incident, IncidentState, NewIncident, Notification,
    NotificationReason, RetriggerCause, Severity, TimelineKind, TimelineRecord,
};
pub use integration::{Alert, AlertUpdate, Integration, IntegrationKind};
pub use schedule::{EscalationLevel, EscalationPolicy, RotationEntry, Schedule};
pub use timeline::Timeline;
pub use user::{Service, User};
pub use webhook::{Webhook, WebhookDelivery, WebhookEvent};

/// Timestamps everywhere in Klaxon: UTC, kept to the millisecond (the precision the API prints).
pub type Timestamp = chrono::DateTime<chrono::Utc>;
