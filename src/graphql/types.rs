//! GraphQL object types: thin views over domain values. They resolve relations through the
//! [`Store`] and hold no rules of their own.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, SimpleObject};

use super::error::{api_error, code, coded};
use super::scalars::DateTime;
use crate::domain::oncall::{Restriction, Rotation, ScheduleOverride, ShiftSource};
use crate::domain::{
    self, EscalationPolicy, EscalationStep, Incident, Notification, RotationEntry, Schedule,
    ScheduleId, ServiceId, UserId,
};
use crate::store::{IncidentUpdate, Store, UpdateKind};

/// The address people and monitors reach this server at (links and feed URLs).
#[derive(Clone, Debug)]
pub struct PublicUrl(pub String);

/// The authenticated caller. Every request that reaches a resolver has one (the HTTP and
/// WebSocket edges refuse those without); its absence is reported, never a panic.
pub(crate) fn principal<'a>(ctx: &Context<'a>) -> Result<&'a domain::Principal> {
    ctx.data_opt::<domain::Principal>().ok_or_else(|| {
        coded(
            code::UNAUTHENTICATED,
            "this needs a credential: log in, or send Authorization: Bearer <API token>",
        )
    })
}

pub(crate) fn store<'a>(ctx: &Context<'a>) -> &'a Store {
    // Data is inserted once when the schema is built; its absence is a programming error
    // that every test would catch, reported as INTERNAL rather than a panic.
    ctx.data_unchecked::<Store>()
}

/// A service filter argument: must name a service (deleted ones too: history filters).
pub(crate) fn known_service(store: &Store, id: &ID) -> Result<ServiceId> {
    let id: ServiceId = id.parse().map_err(api_error)?;
    store
        .state()
        .service_any(id)
        .map(|s| s.id)
        .ok_or_else(|| api_error(domain::DomainError::not_found("service", id)))
}

/// A schedule filter argument: must name a schedule (deleted ones too).
pub(crate) fn known_schedule(store: &Store, id: &ID) -> Result<ScheduleId> {
    let id: ScheduleId = id.parse().map_err(api_error)?;
    store
        .state()
        .schedule_any(id)
        .map(|s| s.id)
        .ok_or_else(|| api_error(domain::DomainError::not_found("schedule", id)))
}

fn user_of(ctx: &Context<'_>, id: UserId) -> Result<UserObject> {
    store(ctx)
        .state()
        .user_any(id)
        .map(UserObject)
        .ok_or_else(|| coded(code::INTERNAL, format!("user {id} is missing")))
}

pub(crate) fn schedule_of(ctx: &Context<'_>, id: ScheduleId) -> Result<ScheduleObject> {
    store(ctx)
        .state()
        .schedule_any(id)
        .map(ScheduleObject)
        .ok_or_else(|| coded(code::INTERNAL, format!("schedule {id} is missing")))
}

pub(crate) fn service_of(ctx: &Context<'_>, id: ServiceId) -> Result<ServiceObject> {
    store(ctx)
        .state()
        .service_any(id)
        .map(ServiceObject)
        .ok_or_else(|| coded(code::INTERNAL, format!("service {id} is missing")))
}

/// How bad an incident is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "Severity", remote = "domain::Severity")]
pub enum Severity {
    /// Can wait for office hours.
    Low,
    /// Needs attention soon.
    Medium,
    /// Wake someone up.
    High,
}

/// Where an incident is in its lifecycle.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "IncidentState", remote = "domain::IncidentState")]
pub enum IncidentState {
    /// Open, nobody has acknowledged it; escalation timers run.
    Triggered,
    /// Someone is on it; no automatic escalation.
    Acknowledged,
    /// Over.
    Resolved,
}

/// Why an incident moved up a level.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "EscalationReason", remote = "domain::EscalationReason")]
pub enum EscalationReason {
    /// The level's timeout passed without an acknowledgement.
    Timeout,
    /// Someone escalated it by hand.
    Manual,
    /// Nobody was on call when it was triggered.
    NoOneOnCall,
}

/// What happened to an incident, in a subscription event.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum IncidentEventKind {
    /// Opened.
    Triggered,
    /// Acknowledged.
    Acknowledged,
    /// Resolved.
    Resolved,
    /// Moved up a level (timeout, manual, or nobody on call).
    Escalated,
    /// A repeated trigger with the same dedup key folded in; `alertCount` went up.
    Deduplicated,
    /// Back to TRIGGERED: a snooze ended or an acknowledgement timed out; paged again.
    Retriggered,
    /// A note was added (see `timeline`).
    NoteAdded,
    /// Handed to someone else, who was paged.
    Reassigned,
    /// Snoozed: acknowledged until `snoozedUntil`.
    Snoozed,
    /// Its service is in maintenance: a timer passed, nobody was paged (`pagingHeld`).
    PagingHeld,
    /// Its service's maintenance ended: paged, escalating again from now.
    PagingReleased,
}

impl From<UpdateKind> for IncidentEventKind {
    fn from(kind: UpdateKind) -> Self {
        match kind {
            UpdateKind::Triggered => Self::Triggered,
            UpdateKind::Acknowledged => Self::Acknowledged,
            UpdateKind::Resolved => Self::Resolved,
            UpdateKind::Escalated => Self::Escalated,
            UpdateKind::Deduplicated => Self::Deduplicated,
            UpdateKind::Retriggered => Self::Retriggered,
            UpdateKind::NoteAdded => Self::NoteAdded,
            UpdateKind::Reassigned => Self::Reassigned,
            UpdateKind::Snoozed => Self::Snoozed,
            UpdateKind::PagingHeld => Self::PagingHeld,
            UpdateKind::PagingReleased => Self::PagingReleased,
        }
    }
}

/// A person who can be on call.
pub struct UserObject(pub Arc<domain::User>);

#[Object(name = "User")]
impl UserObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    /// What they may do.
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// Whether they can log in with a password (the password itself is never returned).
    async fn has_password(&self) -> bool {
        self.0.password.is_some()
    }
    /// Their contact methods, by creation; empty unless you are this user or an admin.
    async fn contact_methods(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<super::contacts::ContactMethodObject>> {
        let contacts = super::contacts::contacts_for(ctx, self.0.id)?;
        Ok(contacts
            .methods
            .iter()
            .cloned()
            .map(super::contacts::ContactMethodObject)
            .collect())
    }
    /// Their notification rules, soonest first; empty unless you are this user or an
    /// admin. A user with no rules is paged once, at once: by email to `email` when SMTP is
    /// set up, else on the log channel.
    async fn notification_rules(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<super::contacts::NotificationRuleObject>> {
        let contacts = super::contacts::contacts_for(ctx, self.0.id)?;
        Ok(contacts
            .rules
            .iter()
            .cloned()
            .map(super::contacts::NotificationRuleObject)
            .collect())
    }
}

/// What a user or API token may do; each role can do everything the one after it can.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "Role", remote = "domain::Role")]
pub enum Role {
    /// Everything, including users, services, schedules, integrations and API tokens.
    Admin,
    /// Also triggers, acknowledges, resolves, escalates and edits overrides.
    Responder,
    /// Reads everything except secrets, and subscribes.
    Viewer,
}

/// What kind of party made a change.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ActorKind", remote = "domain::ActorKind")]
pub enum ActorKind {
    /// A person.
    User,
    /// A script, through an API token (`KLAXON_ADMIN_TOKEN` included).
    ApiToken,
    /// A monitoring tool, through an integration.
    Integration,
    /// Klaxon itself: timers, heartbeats, and changes recorded before actors were.
    System,
}

/// Who made a change. `name` is as it was at the time of the change.
pub struct ActorObject(pub domain::Actor);

#[Object(name = "Actor")]
impl ActorObject {
    async fn kind(&self) -> ActorKind {
        self.0.kind.into()
    }
    /// The user's, token's or integration's name ("Klaxon" for the system).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The person, when the actor is one (deleted users still resolve).
    async fn user(&self, ctx: &Context<'_>) -> Option<UserObject> {
        self.0
            .user_id()
            .and_then(|id| store(ctx).state().user_any(id))
            .map(UserObject)
    }
}

/// Something that can break, with schedules of people on call for it.
pub struct ServiceObject(pub Arc<domain::Service>);

#[Object(name = "Service")]
impl ServiceObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The service's schedules, by name.
    async fn schedules(&self, ctx: &Context<'_>) -> Vec<ScheduleObject> {
        store(ctx)
            .schedules_of(self.0.id)
            .into_iter()
            .map(ScheduleObject)
            .collect()
    }
    /// While in maintenance: when it ends (nobody is paged until then); null otherwise.
    async fn maintenance_until(&self, ctx: &Context<'_>) -> Option<DateTime> {
        self.0
            .in_maintenance(store(ctx).clock().now())
            .map(DateTime)
    }
}

/// One explicit shift: `user` is on call from `startTime` (inclusive) to `endTime` (exclusive).
pub struct RotationEntryObject(pub RotationEntry);

#[Object(name = "RotationEntry")]
impl RotationEntryObject {
    async fn user(&self, ctx: &Context<'_>) -> Result<UserObject> {
        user_of(ctx, self.0.user_id)
    }
    async fn start_time(&self) -> DateTime {
        DateTime(self.0.start)
    }
    async fn end_time(&self) -> DateTime {
        DateTime(self.0.end)
    }
}

/// One escalation level: page `user` (or whoever is on call for `schedule` at that
/// moment), wait `timeoutMs` for an acknowledgement.
pub struct EscalationLevelObject(pub domain::EscalationLevel);

#[Object(name = "EscalationLevel")]
impl EscalationLevelObject {
    /// Who this level pages: its user; for a schedule level, whoever is on call there now
    /// (or, in a gap, whoever is on call next within a year; such a level must have
    /// coverage when it is set).
    async fn user(&self, ctx: &Context<'_>) -> Result<UserObject> {
        let store = store(ctx);
        let now = store.clock().now();
        let next = || {
            let schedule = store.state().schedule_any(self.0.schedule_id?)?;
            schedule.on_call_or_next(now)
        };
        match store.level_target(&self.0, now).or_else(next) {
            Some(id) => user_of(ctx, id),
            None => Err(coded(
                code::INVALID_STATE,
                "nobody is on call for this level's schedule in the coming year",
            )),
        }
    }
    /// Set when the level pages a schedule's on-call user rather than a fixed user.
    async fn schedule(&self, ctx: &Context<'_>) -> Option<ScheduleObject> {
        self.0
            .schedule_id
            .and_then(|id| store(ctx).state().schedule_any(id))
            .map(ScheduleObject)
    }
    async fn timeout_ms(&self) -> i32 {
        // Validated to at most 7 days, which fits an Int.
        i32::try_from(self.0.timeout_ms).unwrap_or(i32::MAX)
    }
}

/// How an unacknowledged incident climbs: the on-call responder has `initialTimeoutMs`,
/// then each level in turn.
pub struct EscalationPolicyObject(pub std::sync::Arc<EscalationPolicy>);

#[Object(name = "EscalationPolicy")]
impl EscalationPolicyObject {
    async fn initial_timeout_ms(&self) -> i32 {
        i32::try_from(self.0.initial_timeout_ms).unwrap_or(i32::MAX)
    }
    async fn escalation_levels(&self) -> Vec<EscalationLevelObject> {
        self.0
            .levels
            .iter()
            .cloned()
            .map(EscalationLevelObject)
            .collect()
    }
    /// After the last level's timeout, the policy starts over at level 0 this many times
    /// (each step an escalation with reason TIMEOUT).
    async fn repeat(&self) -> i32 {
        i32::try_from(self.0.repeat).unwrap_or(i32::MAX)
    }
    /// An acknowledged incident left unresolved this long returns to TRIGGERED; null: never.
    async fn acknowledge_timeout_ms(&self) -> Option<i32> {
        self.0
            .acknowledge_timeout_ms
            .map(|ms| i32::try_from(ms).unwrap_or(i32::MAX))
    }
}

/// What a timeline entry tells.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "TimelineEntryKind", remote = "domain::TimelineKind")]
pub enum TimelineEntryKind {
    /// Opened.
    Triggered,
    /// A repeated alert folded in.
    AlertFolded,
    /// A page was sent, or its channel confirmed delivery.
    Notified,
    /// A channel could not deliver a page.
    DeliveryFailed,
    /// Moved up a level, or round the policy again.
    Escalated,
    /// Someone acknowledged it.
    Acknowledged,
    /// A note.
    Note,
    /// Handed to someone else.
    Reassigned,
    /// Snoozed.
    Snoozed,
    /// Back to TRIGGERED after a snooze or an acknowledge timeout.
    Retriggered,
    /// Resolved.
    Resolved,
    /// Its service is in maintenance: nobody paged, no escalation, until it ends.
    PagingHeld,
    /// The maintenance ended: paged, escalating again.
    PagingReleased,
}

/// One line of an incident's story.
pub struct TimelineEntryObject(pub domain::TimelineRecord);

#[Object(name = "TimelineEntry")]
impl TimelineEntryObject {
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
    async fn kind(&self) -> TimelineEntryKind {
        self.0.kind.into()
    }
    /// Who: a person, a token, an integration, or the system (timers, deliveries).
    async fn actor(&self) -> ActorObject {
        ActorObject(self.0.actor.clone())
    }
    /// A sentence a person can read ("Acknowledged by Alice Nguyen").
    async fn message(&self, ctx: &Context<'_>) -> String {
        let state = store(ctx).state();
        self.0.describe(&|id| {
            state
                .user_any(id)
                .map_or_else(|| id.to_string(), |u| u.name.clone())
        })
    }
    /// The person it concerns (who was paged or assigned), if any.
    async fn user(&self, ctx: &Context<'_>) -> Option<UserObject> {
        self.0
            .user
            .and_then(|id| store(ctx).state().user_any(id))
            .map(UserObject)
    }
    /// A note's text.
    async fn note(&self) -> Option<&str> {
        (self.0.kind == domain::TimelineKind::Note)
            .then_some(self.0.detail.as_deref())
            .flatten()
    }
}

/// Who is on call for a service, and how to escalate.
pub struct ScheduleObject(pub Arc<Schedule>);

#[Object(name = "Schedule")]
impl ScheduleObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn service(&self, ctx: &Context<'_>) -> Result<ServiceObject> {
        service_of(ctx, self.0.service_id)
    }
    /// The schedule's display zone (IANA); calendars and the UI use it.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    /// Recurring rotation layers, lowest first: a later rotation in the list wins where
    /// both cover.
    async fn rotations(&self) -> Vec<RotationObject> {
        self.0
            .rotations
            .iter()
            .cloned()
            .map(RotationObject)
            .collect()
    }
    /// Overrides: they beat every rotation; a later one wins.
    async fn overrides(&self) -> Vec<ScheduleOverrideObject> {
        self.0
            .overrides
            .iter()
            .cloned()
            .map(ScheduleOverrideObject)
            .collect()
    }
    /// The final, rendered timeline over `from..to` (at most 366 days): overrides, then
    /// rotation layers, then the explicit entries. Adjacent stretches of one user from one
    /// layer are merged. Always agrees with `onCall`.
    async fn shifts(&self, from: DateTime, to: DateTime) -> Result<Vec<ShiftObject>> {
        Schedule::check_window(from.0, to.0).map_err(api_error)?;
        Ok(self
            .0
            .shifts(from.0, to.0)
            .into_iter()
            .map(|shift| ShiftObject {
                source: shift_source(&self.0, &shift),
                shift,
            })
            .collect())
    }
    /// The stretches of `from..to` (at most 366 days) with nobody on call.
    async fn coverage_gaps(&self, from: DateTime, to: DateTime) -> Result<Vec<Gap>> {
        Schedule::check_window(from.0, to.0).map_err(api_error)?;
        Ok(self
            .0
            .coverage_gaps(from.0, to.0)
            .into_iter()
            .map(|g| Gap {
                start: DateTime(g.start),
                end: DateTime(g.end),
            })
            .collect())
    }
    /// Explicit shifts; where entries overlap, the first in the list wins.
    async fn rotation(&self) -> Vec<RotationEntryObject> {
        self.0
            .rotation
            .iter()
            .cloned()
            .map(RotationEntryObject)
            .collect()
    }
    async fn escalation_policy(&self) -> EscalationPolicyObject {
        EscalationPolicyObject(self.0.escalation_policy.clone())
    }
    /// The calendar feed (iCalendar) with a secret of its own in the URL, for calendar apps
    /// that cannot send credentials. `rotateCalendarUrl` replaces the secret.
    async fn calendar_url(&self, ctx: &Context<'_>) -> String {
        let base = ctx
            .data_opt::<PublicUrl>()
            .map_or("", |u| u.0.trim_end_matches('/'));
        format!(
            "{base}/schedules/{}/calendar.ics?key={}",
            self.0.id,
            self.0.calendar_key.as_deref().unwrap_or("")
        )
    }
    /// The monitoring integrations whose alerts open incidents here, oldest first.
    async fn integrations(&self, ctx: &Context<'_>) -> Vec<super::integrations::IntegrationObject> {
        store(ctx)
            .integrations_of(self.0.id)
            .into_iter()
            .map(super::integrations::IntegrationObject)
            .collect()
    }
    /// The heartbeats whose outages page this schedule, by name.
    async fn heartbeats(&self, ctx: &Context<'_>) -> Vec<super::heartbeats::HeartbeatObject> {
        store(ctx)
            .heartbeats_of(self.0.id)
            .into_iter()
            .map(super::heartbeats::HeartbeatObject)
            .collect()
    }
    /// Who is on call at `at` (default: now); null when nobody is.
    async fn on_call(&self, ctx: &Context<'_>, at: Option<DateTime>) -> Option<UserObject> {
        store(ctx).on_call(&self.0, at.map(|a| a.0)).map(UserObject)
    }
    /// The rendered shift covering `at` (default: now), with when it ends; null in a gap.
    async fn current_shift(&self, ctx: &Context<'_>, at: Option<DateTime>) -> Option<ShiftObject> {
        let at = at.map_or_else(|| store(ctx).clock().now(), |a| a.0);
        let shift = self.0.shift_at(at)?;
        Some(ShiftObject {
            source: shift_source(&self.0, &shift),
            shift,
        })
    }
}

/// The unit of a rotation's shift length.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ShiftUnit", remote = "domain::oncall::ShiftUnit")]
pub enum ShiftUnit {
    /// Real elapsed hours (daylight saving does not move them).
    Hour,
    /// Days: hands off at the same local wall-clock time every day.
    Day,
    /// Weeks: hands off at the same local time and weekday.
    Week,
}

/// A day of the week.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "Weekday", remote = "chrono::Weekday")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

/// Limits a rotation to some weekdays and local clock hours; outside them lower layers
/// show through.
pub struct RestrictionObject(pub Restriction);

#[Object(name = "RotationRestriction")]
impl RestrictionObject {
    /// Days the window opens on; empty means every day.
    async fn weekdays(&self) -> Vec<Weekday> {
        self.0.weekdays.iter().map(|d| (*d).into()).collect()
    }
    /// Local start, `HH:MM`.
    async fn start_time(&self) -> String {
        self.0.start.format("%H:%M").to_string()
    }
    /// Local end, `HH:MM`; at or before the start means the window runs past midnight.
    async fn end_time(&self) -> String {
        self.0.end.format("%H:%M").to_string()
    }
}

/// A recurring rotation: participants take turns, `shiftLength` units each, from `start`.
///
/// `DAY` and `WEEK` rotations hand off at the same local wall-clock time in `timeZone`,
/// across daylight-saving changes (a 09:00 Europe/Berlin handoff is 08:00Z in winter and
/// 07:00Z in summer); `HOUR` counts real elapsed hours. A local handoff time that does not
/// exist (spring forward) hands off at the first instant after the gap; one that happens
/// twice (fall back) hands off at its first occurrence.
pub struct RotationObject(pub Rotation);

#[Object(name = "Rotation")]
impl RotationObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// IANA time zone of the handoffs.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    /// The first handoff: the first participant starts here.
    async fn start(&self) -> DateTime {
        DateTime(self.0.start)
    }
    async fn shift_length(&self) -> i32 {
        i32::try_from(self.0.shift_length).unwrap_or(i32::MAX)
    }
    async fn shift_unit(&self) -> ShiftUnit {
        self.0.shift_unit.into()
    }
    /// Who takes turns, in order.
    async fn participants(&self, ctx: &Context<'_>) -> Result<Vec<UserObject>> {
        self.0
            .participants
            .iter()
            .map(|id| user_of(ctx, *id))
            .collect()
    }
    async fn restriction(&self) -> Option<RestrictionObject> {
        self.0.restriction.clone().map(RestrictionObject)
    }
}

/// Someone on call instead of the rotations for a while (only instead of `replaces`, when
/// given).
pub struct ScheduleOverrideObject(pub ScheduleOverride);

#[Object(name = "ScheduleOverride")]
impl ScheduleOverrideObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<UserObject> {
        user_of(ctx, self.0.user_id)
    }
    async fn start(&self) -> DateTime {
        DateTime(self.0.start)
    }
    async fn end(&self) -> DateTime {
        DateTime(self.0.end)
    }
    /// Only this user's shifts are overridden.
    async fn replaces(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        self.0.replaces.map(|id| user_of(ctx, id)).transpose()
    }
}

/// One stretch of the rendered on-call timeline.
pub struct ShiftObject {
    shift: domain::oncall::Shift,
    source: String,
}

fn shift_source(schedule: &Schedule, shift: &domain::oncall::Shift) -> String {
    match shift.source {
        ShiftSource::Override(_) => "override".to_owned(),
        ShiftSource::Entry => "entry".to_owned(),
        ShiftSource::Rotation(id) => schedule
            .rotations
            .iter()
            .find(|r| r.id == id)
            .map(|r| format!("rotation:{}", r.name))
            .unwrap_or_else(|| "rotation".to_owned()),
    }
}

#[Object(name = "Shift")]
impl ShiftObject {
    async fn user(&self, ctx: &Context<'_>) -> Result<UserObject> {
        user_of(ctx, self.shift.user_id)
    }
    async fn start(&self) -> DateTime {
        DateTime(self.shift.start)
    }
    async fn end(&self) -> DateTime {
        DateTime(self.shift.end)
    }
    /// Which layer decided it: `override`, `rotation:<name>` or `entry`.
    async fn source(&self) -> &str {
        &self.source
    }
}

/// A stretch with nobody on call.
#[derive(SimpleObject)]
pub struct Gap {
    /// From (inclusive).
    pub start: DateTime,
    /// To (exclusive).
    pub end: DateTime,
}

/// One step up the escalation ladder.
pub struct EscalationEventObject(pub EscalationStep);

#[Object(name = "EscalationEvent")]
impl EscalationEventObject {
    async fn from_level(&self) -> i32 {
        self.0.from_level as i32
    }
    async fn to_level(&self) -> i32 {
        self.0.to_level as i32
    }
    /// Who the step assigned the incident to.
    async fn to(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        self.0.to.map(|id| user_of(ctx, id)).transpose()
    }
    async fn reason(&self) -> EscalationReason {
        self.0.reason.into()
    }
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
    /// Who moved it: the system for the timer and for nobody on call, else the person or
    /// script that escalated.
    async fn actor(&self) -> ActorObject {
        ActorObject(self.0.actor.clone())
    }
}

/// One page sent to a person about an incident.
pub struct NotificationObject(pub Notification);

#[Object(name = "Notification")]
impl NotificationObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<UserObject> {
        user_of(ctx, self.0.user_id)
    }
    /// The channel that carries it: `email`, `slack`, `webhook` or `log`.
    async fn channel(&self) -> &str {
        &self.0.channel
    }
    /// The contact method it goes to; null for the default page (the user's email when
    /// SMTP is set up, else the log). Its target shows only to its owner and admins.
    async fn contact_method(
        &self,
        ctx: &Context<'_>,
    ) -> Option<super::contacts::ContactMethodObject> {
        let id = self.0.contact_method_id()?;
        store(ctx)
            .contact_method(id)
            .map(super::contacts::ContactMethodObject)
    }
    /// PENDING until its channel answers; SENT; FAILED after its attempts.
    async fn status(&self) -> super::contacts::NotificationStatus {
        self.0.status().into()
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        i32::try_from(self.0.attempts).unwrap_or(i32::MAX)
    }
    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error()
    }
    /// `triggered`, `escalated` or `manual`.
    async fn reason(&self) -> &str {
        self.0.reason.as_str()
    }
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
    /// `status == SENT`. Pages are sent right after the change that decided them is
    /// recorded, so this turns true a moment after the change.
    async fn delivered(&self) -> bool {
        self.0.delivered
    }
}

/// Something is wrong with a service and someone must act.
pub struct IncidentObject(pub Arc<Incident>);

#[Object(name = "Incident")]
impl IncidentObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description()
    }
    async fn service(&self, ctx: &Context<'_>) -> Result<ServiceObject> {
        service_of(ctx, self.0.service_id)
    }
    async fn schedule(&self, ctx: &Context<'_>) -> Result<ScheduleObject> {
        let id = self.0.schedule_id;
        store(ctx)
            .state()
            .schedule_any(id)
            .map(ScheduleObject)
            .ok_or_else(|| coded(code::INTERNAL, format!("schedule {id} is missing")))
    }
    async fn severity(&self) -> Severity {
        self.0.severity.into()
    }
    async fn state(&self) -> IncidentState {
        self.0.state.into()
    }
    async fn triggered_at(&self) -> DateTime {
        DateTime(self.0.triggered_at)
    }
    async fn acknowledged_at(&self) -> Option<DateTime> {
        self.0.acknowledged_at.map(DateTime)
    }
    async fn resolved_at(&self) -> Option<DateTime> {
        self.0.resolved_at.map(DateTime)
    }
    /// Who opened it.
    async fn triggered_by(&self) -> ActorObject {
        ActorObject(self.0.triggered_by.clone())
    }
    /// Who acknowledged it (cleared when it escalates back to TRIGGERED).
    async fn acknowledged_by(&self) -> Option<ActorObject> {
        self.0.acknowledged_by.as_deref().cloned().map(ActorObject)
    }
    /// Who resolved it.
    async fn resolved_by(&self) -> Option<ActorObject> {
        self.0.resolved_by.as_deref().cloned().map(ActorObject)
    }
    /// The whole story, oldest first: trigger, folded alerts, pages and deliveries,
    /// escalations, acknowledgements, notes, reassignments, snoozes, resolution.
    async fn timeline(&self) -> Vec<TimelineEntryObject> {
        self.0
            .story()
            .into_iter()
            .map(TimelineEntryObject)
            .collect()
    }
    /// While snoozed: when it returns to TRIGGERED.
    async fn snoozed_until(&self) -> Option<DateTime> {
        self.0.snoozed_until().map(DateTime)
    }
    /// While acknowledged under a policy with an acknowledge timeout: when it returns to
    /// TRIGGERED unless resolved first.
    async fn acknowledge_timeout_at(&self) -> Option<DateTime> {
        self.0.acknowledge_deadline().map(DateTime)
    }
    /// Who must act now; null when nobody could be paged.
    async fn assigned_to(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        self.0.assigned_to.map(|id| user_of(ctx, id)).transpose()
    }
    /// 0 = the on-call responder; k = escalationPolicy.escalationLevels[k-1]
    async fn escalation_level(&self) -> i32 {
        self.0.escalation_level as i32
    }
    /// The schedule's policy as it was when the incident was triggered.
    async fn escalation_policy(&self) -> EscalationPolicyObject {
        EscalationPolicyObject(self.0.escalation_policy.clone())
    }
    async fn escalation_history(&self) -> Vec<EscalationEventObject> {
        self.0
            .escalation_history()
            .iter()
            .cloned()
            .map(EscalationEventObject)
            .collect()
    }
    async fn notifications(&self) -> Vec<NotificationObject> {
        self.0
            .notifications
            .iter()
            .cloned()
            .map(NotificationObject)
            .collect()
    }
    async fn dedup_key(&self) -> Option<&str> {
        self.0.dedup_key.as_deref()
    }
    /// How many triggers this incident absorbed (1 + deduplicated repeats).
    async fn alert_count(&self) -> i32 {
        i32::try_from(self.0.alert_count).unwrap_or(i32::MAX)
    }
    /// What monitors sent. Alertmanager/Grafana: the group's current alerts (the first
    /// 100); PagerDuty and generic events: the latest 100, newest last. Empty for
    /// incidents opened by people.
    async fn alerts(&self) -> Vec<super::integrations::AlertObject> {
        self.0
            .alerts()
            .iter()
            .cloned()
            .map(super::integrations::AlertObject)
            .collect()
    }
    /// When the current level times out and the incident escalates; null when
    /// acknowledged, resolved, or at the last level.
    async fn next_escalation_at(&self) -> Option<DateTime> {
        self.0.escalation_deadline.map(DateTime)
    }
    /// Its service is in maintenance: nobody was paged and no timer runs until it ends.
    async fn paging_held(&self) -> bool {
        self.0.paging_held
    }
    /// Whether `escalateIncident` would succeed now.
    async fn can_escalate(&self) -> bool {
        self.0.can_escalate()
    }
}

/// A change to an incident, delivered to subscribers in the order it happened.
pub struct IncidentEventObject(pub IncidentUpdate);

#[Object(name = "IncidentEvent")]
impl IncidentEventObject {
    async fn kind(&self) -> IncidentEventKind {
        self.0.kind.into()
    }
    /// The incident as it was right after this change.
    async fn incident(&self) -> IncidentObject {
        IncidentObject(self.0.incident.clone())
    }
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
}

/// Relay-style pagination state.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// More incidents follow `endCursor`.
    pub has_next_page: bool,
    /// This page started after a cursor.
    pub has_previous_page: bool,
    /// Cursor of the first node.
    pub start_cursor: Option<String>,
    /// Cursor of the last node; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// One incident in a connection.
pub struct IncidentEdge(pub Arc<Incident>);

#[Object]
impl IncidentEdge {
    /// Pass as `after` to continue after this incident.
    async fn cursor(&self) -> String {
        cursor_of(&self.0)
    }
    async fn node(&self) -> IncidentObject {
        IncidentObject(self.0.clone())
    }
}

/// The opaque cursor of an incident.
pub fn cursor_of(incident: &Incident) -> String {
    incident.seq.to_string()
}

/// A page of incidents, newest first.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct IncidentConnection {
    #[graphql(skip)]
    pub incidents: Vec<Arc<Incident>>,
    /// Pagination state.
    pub page_info: PageInfo,
    /// How many incidents match, across all pages.
    pub total_count: i32,
}

#[ComplexObject]
impl IncidentConnection {
    async fn nodes(&self) -> Vec<IncidentObject> {
        self.incidents.iter().cloned().map(IncidentObject).collect()
    }
    async fn edges(&self) -> Vec<IncidentEdge> {
        self.incidents.iter().cloned().map(IncidentEdge).collect()
    }
}
