//! Mutations: each turns its input into a store command and maps the error once.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};

use super::error::api_error;
use super::scalars::DateTime;
use super::types::{
    IncidentObject, Role, RotationObject, ScheduleObject, ScheduleOverrideObject, ServiceObject,
    Severity, ShiftUnit, UserObject, Weekday, principal, store,
};
use crate::domain::auth::check_password;
use crate::domain::oncall::{Restriction, RotationDraft, parse_clock};
use crate::domain::schedule::{LevelInput, PolicyInput, RotationInput};
use crate::domain::user::UserFields;
use crate::domain::{Action, PasswordHash};
use crate::domain::{DomainError, NewIncident};
use crate::store::{OverrideDraft, RotationPatch, ScheduleDraft, SchedulePatch, UserPatch};

/// The seed's default: the on-call responder has five minutes.
const DEFAULT_INITIAL_TIMEOUT_MS: i32 = 5 * 60 * 1000;

/// A new user.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// 1 to 200 characters.
    pub name: String,
    /// An email address.
    pub email: String,
    /// Optional phone number.
    pub phone: Option<String>,
    /// What they may do; default RESPONDER.
    #[graphql(default_with = "Role::Responder")]
    pub role: Role,
    /// Lets them log in: at least 12 characters, stored only as an argon2id hash.
    pub password: Option<String>,
}

/// Changes to a user; omitted fields stay as they are, `phone: null` clears the phone.
#[derive(InputObject)]
pub struct UpdateUserInput {
    /// New name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New phone, or null to clear it.
    pub phone: MaybeUndefined<String>,
    /// New role (applies at once to their live sessions).
    pub role: Option<Role>,
    /// New password, at least 12 characters (ends their other sessions).
    pub password: Option<String>,
}

/// A new service.
#[derive(InputObject)]
pub struct CreateServiceInput {
    /// 1 to 200 characters.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
}

/// Changes to a service; omitted fields stay, `description: null` clears it.
#[derive(InputObject)]
pub struct UpdateServiceInput {
    /// New name.
    pub name: Option<String>,
    /// New description, or null to clear it.
    pub description: MaybeUndefined<String>,
}

/// One explicit shift; `endTime` must be after `startTime`.
#[derive(InputObject)]
pub struct RotationEntryInput {
    /// Who is on call.
    pub user_id: ID,
    /// First instant covered.
    pub start_time: DateTime,
    /// First instant no longer covered.
    pub end_time: DateTime,
}

/// One escalation level: give exactly one of `userId` and `scheduleId`.
#[derive(InputObject)]
pub struct EscalationLevelInput {
    /// Who is paged at this level.
    pub user_id: Option<ID>,
    /// Or: page whoever is on call for this schedule at that moment.
    pub schedule_id: Option<ID>,
    /// How long this level waits before escalating further: 1 ms to 7 days.
    pub timeout_ms: i32,
}

/// An escalation policy: at most 20 levels.
#[derive(InputObject)]
pub struct EscalationPolicyInput {
    /// How long the on-call responder has before level 1 is paged: 1 ms to 7 days.
    pub initial_timeout_ms: i32,
    /// The levels after the on-call responder, in order.
    #[graphql(default)]
    pub escalation_levels: Vec<EscalationLevelInput>,
    /// After the last level's timeout, start over at level 0 this many times (0 to 9).
    #[graphql(default)]
    pub repeat: i32,
    /// An acknowledged incident left unresolved this long returns to TRIGGERED and is paged
    /// again (1 s to 7 days; null: never).
    pub acknowledge_timeout_ms: Option<i32>,
}

/// A new schedule.
#[derive(InputObject)]
pub struct CreateScheduleInput {
    /// 1 to 200 characters.
    pub name: String,
    /// The service it covers.
    pub service_id: ID,
    /// IANA time zone for display and calendars; default UTC.
    pub time_zone: Option<String>,
    /// Explicit shifts.
    #[graphql(default)]
    pub rotation: Vec<RotationEntryInput>,
    /// Recurring rotation layers, lowest first.
    #[graphql(default)]
    pub rotations: Vec<NewRotationInput>,
    /// Defaults to a 5-minute initial timeout and no further levels.
    pub escalation_policy: Option<EscalationPolicyInput>,
}

/// A weekday / clock-hour window for a rotation, in the rotation's zone.
#[derive(InputObject)]
pub struct RestrictionInput {
    /// Days the window opens on; empty or omitted means every day.
    #[graphql(default)]
    pub weekdays: Vec<Weekday>,
    /// Local start, `HH:MM` (24-hour).
    pub start_time: String,
    /// Local end, `HH:MM`; at or before the start runs past midnight.
    pub end_time: String,
}

/// A rotation layer inside `createSchedule`.
#[derive(InputObject)]
pub struct NewRotationInput {
    /// 1 to 200 characters.
    pub name: String,
    /// IANA time zone of the handoffs, e.g. Europe/Berlin.
    pub time_zone: String,
    /// The first handoff.
    pub start: DateTime,
    /// At least 1.
    pub shift_length: i32,
    /// HOUR, DAY or WEEK.
    pub shift_unit: ShiftUnit,
    /// Who takes turns, in order (at least one, at most 100).
    pub participants: Vec<ID>,
    /// Optional weekday / clock-hour window.
    pub restriction: Option<RestrictionInput>,
}

/// A rotation layer added on top of a schedule's others.
#[derive(InputObject)]
pub struct AddRotationInput {
    /// The schedule.
    pub schedule_id: ID,
    /// The rotation (its fields are inlined).
    #[graphql(flatten)]
    pub rotation: NewRotationInput,
}

/// Changes to a rotation; omitted fields stay, `restriction: null` removes the window.
#[derive(InputObject)]
pub struct UpdateRotationInput {
    /// New name.
    pub name: Option<String>,
    /// New zone.
    pub time_zone: Option<String>,
    /// New first handoff.
    pub start: Option<DateTime>,
    /// New length.
    pub shift_length: Option<i32>,
    /// New unit.
    pub shift_unit: Option<ShiftUnit>,
    /// New participants, in order.
    pub participants: Option<Vec<ID>>,
    /// New window, or null to remove it.
    pub restriction: MaybeUndefined<RestrictionInput>,
}

/// Someone covers a stretch instead of the rotations.
#[derive(InputObject)]
pub struct AddOverrideInput {
    /// The schedule.
    pub schedule_id: ID,
    /// Who is on call instead.
    pub user_id: ID,
    /// From (inclusive).
    pub start: DateTime,
    /// To (exclusive); must be after `start`.
    pub end: DateTime,
    /// Only override this user's shifts.
    pub replaces: Option<ID>,
}

/// Changes to a schedule; given parts replace the old ones wholesale. Open incidents keep
/// the policy they were triggered with.
#[derive(InputObject)]
pub struct UpdateScheduleInput {
    /// New name.
    pub name: Option<String>,
    /// Move to another service.
    pub service_id: Option<ID>,
    /// Replacement rotation.
    pub rotation: Option<Vec<RotationEntryInput>>,
    /// Replacement policy.
    pub escalation_policy: Option<EscalationPolicyInput>,
    /// New display zone.
    pub time_zone: Option<String>,
}

/// A new incident (or a repeat of an open one with the same `dedupKey`).
#[derive(InputObject)]
pub struct TriggerIncidentInput {
    /// Short summary, 1 to 200 characters.
    pub title: String,
    /// Details.
    pub description: Option<String>,
    /// The schedule whose on-call responder is paged.
    pub schedule_id: ID,
    /// Defaults to MEDIUM.
    #[graphql(default_with = "Severity::Medium")]
    pub severity: Severity,
    /// Repeats with the same key on an open incident of the same service fold into it.
    pub dedup_key: Option<String>,
}

fn rotation(input: Vec<RotationEntryInput>) -> Vec<RotationInput> {
    input
        .into_iter()
        .map(|e| RotationInput {
            user_id: e.user_id.0,
            start: e.start_time.0,
            end: e.end_time.0,
        })
        .collect()
}

fn policy(input: EscalationPolicyInput) -> PolicyInput {
    PolicyInput {
        initial_timeout_ms: i64::from(input.initial_timeout_ms),
        levels: input
            .escalation_levels
            .into_iter()
            .map(|l| LevelInput {
                user_id: l.user_id.map(|id| id.0),
                schedule_id: l.schedule_id.map(|id| id.0),
                timeout_ms: i64::from(l.timeout_ms),
            })
            .collect(),
        repeat: i64::from(input.repeat),
        acknowledge_timeout_ms: input.acknowledge_timeout_ms.map(i64::from),
    }
}

fn restriction(input: RestrictionInput) -> Result<Restriction, DomainError> {
    Ok(Restriction {
        weekdays: input.weekdays.into_iter().map(Into::into).collect(),
        start: parse_clock("restriction.startTime", &input.start_time)?,
        end: parse_clock("restriction.endTime", &input.end_time)?,
    })
}

fn rotation_draft(input: NewRotationInput) -> Result<RotationDraft, DomainError> {
    Ok(RotationDraft {
        name: input.name,
        time_zone: input.time_zone,
        start: input.start.0,
        shift_length: i64::from(input.shift_length),
        shift_unit: input.shift_unit.into(),
        participants: input.participants.into_iter().map(|id| id.0).collect(),
        restriction: input.restriction.map(restriction).transpose()?,
    })
}

/// Validates and hashes a new password, after checking the caller may set it (hashing is
/// deliberately slow: nobody who may not change users gets to spend it).
pub(crate) async fn new_password(
    ctx: &Context<'_>,
    field: &str,
    password: Option<&str>,
) -> Result<Option<PasswordHash>> {
    let Some(password) = password else {
        return Ok(None);
    };
    check_password(field, password).map_err(api_error)?;
    let gate = ctx.data::<crate::auth::Gate>()?;
    Ok(Some(gate.passwords().hash(password).await))
}

fn maybe(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// Mutation root.
#[derive(Default)]
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Creates a user.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<UserObject> {
        let by = principal(ctx)?;
        by.require(Action::Configure).map_err(api_error)?;
        let fields = UserFields::parse(
            &input.name,
            &input.email,
            input.phone.as_deref(),
            input.role.into(),
        )
        .map_err(api_error)?;
        let password = new_password(ctx, "password", input.password.as_deref()).await?;
        store(ctx)
            .create_user(by, fields, password)
            .await
            .map(UserObject)
            .map_err(api_error)
    }

    /// Updates a user.
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateUserInput,
    ) -> Result<UserObject> {
        let by = principal(ctx)?;
        by.require(Action::Configure).map_err(api_error)?;
        let patch = UserPatch {
            name: input.name,
            email: input.email,
            phone: maybe(input.phone),
            role: input.role.map(Into::into),
            password: new_password(ctx, "password", input.password.as_deref()).await?,
        };
        store(ctx)
            .update_user(by, &id, patch)
            .await
            .map(UserObject)
            .map_err(api_error)
    }

    /// Deletes a user. Fails with INVALID_STATE while a schedule still names them.
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        store(ctx)
            .delete_user(principal(ctx)?, &id)
            .await
            .map(|id| ID(id.to_string()))
            .map_err(api_error)
    }

    /// Creates a service.
    async fn create_service(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceInput,
    ) -> Result<ServiceObject> {
        store(ctx)
            .create_service(principal(ctx)?, &input.name, input.description.as_deref())
            .await
            .map(ServiceObject)
            .map_err(api_error)
    }

    /// Updates a service.
    async fn update_service(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateServiceInput,
    ) -> Result<ServiceObject> {
        let description = maybe(input.description);
        store(ctx)
            .update_service(
                principal(ctx)?,
                &id,
                input.name.as_deref(),
                description.as_ref().map(|d| d.as_deref()),
            )
            .await
            .map(ServiceObject)
            .map_err(api_error)
    }

    /// Deletes a service. Fails with INVALID_STATE while it has schedules.
    async fn delete_service(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        store(ctx)
            .delete_service(principal(ctx)?, &id)
            .await
            .map(|id| ID(id.to_string()))
            .map_err(api_error)
    }

    /// Creates a schedule.
    async fn create_schedule(
        &self,
        ctx: &Context<'_>,
        input: CreateScheduleInput,
    ) -> Result<ScheduleObject> {
        principal(ctx)?
            .require(Action::Configure)
            .map_err(api_error)?;
        let rotations = input
            .rotations
            .into_iter()
            .enumerate()
            .map(|(i, r)| rotation_draft(r).map_err(|e| e.within(&format!("rotations[{i}]"))))
            .collect::<Result<_, _>>()
            .map_err(api_error)?;
        let draft = ScheduleDraft {
            name: input.name,
            service_id: input.service_id.0,
            time_zone: input.time_zone,
            rotations,
            rotation: rotation(input.rotation),
            escalation_policy: input.escalation_policy.map(policy).unwrap_or(PolicyInput {
                initial_timeout_ms: i64::from(DEFAULT_INITIAL_TIMEOUT_MS),
                levels: Vec::new(),
                repeat: 0,
                acknowledge_timeout_ms: None,
            }),
        };
        store(ctx)
            .create_schedule(principal(ctx)?, draft)
            .await
            .map(ScheduleObject)
            .map_err(api_error)
    }

    /// Updates a schedule.
    async fn update_schedule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateScheduleInput,
    ) -> Result<ScheduleObject> {
        let patch = SchedulePatch {
            name: input.name,
            service_id: input.service_id.map(|s| s.0),
            rotation: input.rotation.map(rotation),
            escalation_policy: input.escalation_policy.map(policy),
            time_zone: input.time_zone,
        };
        store(ctx)
            .update_schedule(principal(ctx)?, &id, patch)
            .await
            .map(ScheduleObject)
            .map_err(api_error)
    }

    /// Deletes a schedule. Fails with INVALID_STATE while it has open incidents.
    async fn delete_schedule(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        store(ctx)
            .delete_schedule(principal(ctx)?, &id)
            .await
            .map(|id| ID(id.to_string()))
            .map_err(api_error)
    }

    /// Adds a rotation layer on top of the schedule's others.
    async fn add_rotation(
        &self,
        ctx: &Context<'_>,
        input: AddRotationInput,
    ) -> Result<RotationObject> {
        principal(ctx)?
            .require(Action::Configure)
            .map_err(api_error)?;
        let draft = rotation_draft(input.rotation).map_err(api_error)?;
        store(ctx)
            .add_rotation(principal(ctx)?, &input.schedule_id, draft)
            .await
            .map(RotationObject)
            .map_err(api_error)
    }

    /// Changes a rotation in place.
    async fn update_rotation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateRotationInput,
    ) -> Result<RotationObject> {
        principal(ctx)?
            .require(Action::Configure)
            .map_err(api_error)?;
        let window = match input.restriction {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(r) => Some(Some(restriction(r).map_err(api_error)?)),
        };
        let patch = RotationPatch {
            name: input.name,
            time_zone: input.time_zone,
            start: input.start.map(|s| s.0),
            shift_length: input.shift_length.map(i64::from),
            shift_unit: input.shift_unit.map(Into::into),
            participants: input
                .participants
                .map(|p| p.into_iter().map(|id| id.0).collect()),
            restriction: window,
        };
        store(ctx)
            .update_rotation(principal(ctx)?, &id, patch)
            .await
            .map(RotationObject)
            .map_err(api_error)
    }

    /// Removes a rotation layer; returns its schedule.
    async fn remove_rotation(&self, ctx: &Context<'_>, id: ID) -> Result<ScheduleObject> {
        store(ctx)
            .remove_rotation(principal(ctx)?, &id)
            .await
            .map(ScheduleObject)
            .map_err(api_error)
    }

    /// Puts someone on call instead of the rotations for a while.
    async fn add_override(
        &self,
        ctx: &Context<'_>,
        input: AddOverrideInput,
    ) -> Result<ScheduleOverrideObject> {
        let draft = OverrideDraft {
            schedule_id: input.schedule_id.0,
            user_id: input.user_id.0,
            start: input.start.0,
            end: input.end.0,
            replaces: input.replaces.map(|id| id.0),
        };
        store(ctx)
            .add_override(principal(ctx)?, draft)
            .await
            .map(ScheduleOverrideObject)
            .map_err(api_error)
    }

    /// Removes an override; returns its schedule.
    async fn remove_override(&self, ctx: &Context<'_>, id: ID) -> Result<ScheduleObject> {
        store(ctx)
            .remove_override(principal(ctx)?, &id)
            .await
            .map(ScheduleObject)
            .map_err(api_error)
    }

    /// Opens an incident and pages whoever is on call for the schedule. With a `dedupKey`
    /// that matches an open incident of the same service, returns that incident with its
    /// `alertCount` raised instead (no new page).
    async fn trigger_incident(
        &self,
        ctx: &Context<'_>,
        input: TriggerIncidentInput,
    ) -> Result<IncidentObject> {
        principal(ctx)?
            .require(Action::TriggerIncident)
            .map_err(api_error)?;
        let new = NewIncident::parse(
            &input.title,
            input.description.as_deref(),
            input.severity.into(),
            input.dedup_key.as_deref(),
        )
        .map_err(api_error)?;
        store(ctx)
            .trigger(principal(ctx)?, &input.schedule_id, new)
            .await
            .map(IncidentObject)
            .map_err(api_error)
    }

    /// Stops automatic escalation. A no-op on an acknowledged incident; INVALID_STATE on a
    /// resolved one.
    async fn acknowledge_incident(&self, ctx: &Context<'_>, id: ID) -> Result<IncidentObject> {
        store(ctx)
            .acknowledge(principal(ctx)?, &id)
            .await
            .map(IncidentObject)
            .map_err(api_error)
    }

    /// Resolves an incident. A no-op on a resolved one.
    async fn resolve_incident(&self, ctx: &Context<'_>, id: ID) -> Result<IncidentObject> {
        store(ctx)
            .resolve(principal(ctx)?, &id)
            .await
            .map(IncidentObject)
            .map_err(api_error)
    }

    /// Adds a note (1 to 10,000 characters) to the incident's timeline.
    async fn add_note(
        &self,
        ctx: &Context<'_>,
        incident_id: ID,
        text: String,
    ) -> Result<IncidentObject> {
        store(ctx)
            .add_note(principal(ctx)?, &incident_id, &text)
            .await
            .map(IncidentObject)
            .map_err(api_error)
    }

    /// Assigns the incident to `userId` at its current level and pages them at once; it
    /// is TRIGGERED again and the level's timeout starts afresh. INVALID_STATE once resolved.
    async fn reassign_incident(
        &self,
        ctx: &Context<'_>,
        id: ID,
        user_id: ID,
    ) -> Result<IncidentObject> {
        store(ctx)
            .reassign(principal(ctx)?, &id, &user_id)
            .await
            .map(IncidentObject)
            .map_err(api_error)
    }

    /// Acknowledges the incident now; after `durationMs` (1 s to 7 days) it returns to
    /// TRIGGERED at the same level, is paged again, and its level's timeout starts afresh
    /// (an incident event of kind RETRIGGERED). INVALID_STATE once resolved.
    async fn snooze_incident(
        &self,
        ctx: &Context<'_>,
        id: ID,
        duration_ms: i32,
    ) -> Result<IncidentObject> {
        store(ctx)
            .snooze(principal(ctx)?, &id, i64::from(duration_ms))
            .await
            .map(IncidentObject)
            .map_err(api_error)
    }

    /// Next level, reassigned, paged, back to TRIGGERED, timer restarted. INVALID_STATE at
    /// the last level or on a resolved incident.
    async fn escalate_incident(&self, ctx: &Context<'_>, id: ID) -> Result<IncidentObject> {
        store(ctx)
            .escalate(principal(ctx)?, &id)
            .await
            .map(IncidentObject)
            .map_err(api_error)
    }
}
