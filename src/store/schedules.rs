//! Schedule layers (rotations, overrides), escalation targets and on-call handoffs.
//!
//! Every layer change is recorded as a whole-schedule `ScheduleUpdated` event, so the
//! journal's event set does not grow with each feature. Handoffs are not state changes:
//! the engine fires a timer at each schedule's next change and this module publishes it.

use std::sync::Arc;

use chrono::Duration;
use tokio::sync::broadcast;

use super::{CommandError, OnCallChange, Store};
use crate::domain::oncall::{
    MAX_OVERRIDES, MAX_ROTATIONS, Restriction, Rotation, RotationDraft, ScheduleOverride, ShiftUnit,
};
use crate::domain::schedule::EscalationLevel;
use crate::domain::{
    Action, DomainError, Event, OverrideId, Principal, RotationId, Schedule, ScheduleId, Timestamp,
    UserId,
};
use crate::engine::{TimerCommand, TimerKey};

/// Changes to a rotation; `None` keeps a field, `restriction: Some(None)` removes it.
#[derive(Clone, Debug, Default)]
pub struct RotationPatch {
    /// New name.
    pub name: Option<String>,
    /// New zone.
    pub time_zone: Option<String>,
    /// New first handoff.
    pub start: Option<Timestamp>,
    /// New length.
    pub shift_length: Option<i64>,
    /// New unit.
    pub shift_unit: Option<ShiftUnit>,
    /// New participants (raw ids), in order.
    pub participants: Option<Vec<String>>,
    /// New window, or `Some(None)` to remove it.
    pub restriction: Option<Option<Restriction>>,
}

/// An override as a client sent it.
#[derive(Clone, Debug)]
pub struct OverrideDraft {
    /// Raw schedule id.
    pub schedule_id: String,
    /// Raw id of who covers.
    pub user_id: String,
    /// From.
    pub start: Timestamp,
    /// To.
    pub end: Timestamp,
    /// Raw id of whose shifts only are covered.
    pub replaces: Option<String>,
}

impl Store {
    pub(super) fn schedule_exists(&self) -> impl Fn(ScheduleId) -> bool + '_ {
        |id| self.state().schedule(id).is_some()
    }

    /// A schedule level must be able to page someone: its schedule needs coverage in the
    /// coming year (so `EscalationLevel.user` always has an answer).
    pub(super) fn check_level_coverage(
        &self,
        policy: &crate::domain::EscalationPolicy,
    ) -> Result<(), DomainError> {
        let now = self.shared.clock.now();
        for (i, level) in policy.levels.iter().enumerate() {
            let Some(schedule) = level.schedule_id.and_then(|id| self.state().schedule(id)) else {
                continue;
            };
            if schedule.on_call_or_next(now).is_none() {
                return Err(DomainError::invalid(
                    format!("escalationPolicy.escalationLevels[{i}].scheduleId"),
                    format!(
                        "schedule '{}' has nobody on call in the coming year; it cannot page anyone",
                        schedule.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whom an escalation level pages at `at`: its user, or its schedule's on-call user.
    pub fn level_target(&self, level: &EscalationLevel, at: Timestamp) -> Option<UserId> {
        level.user_id.or_else(|| {
            level
                .schedule_id
                .and_then(|id| self.state().schedule_any(id))
                .and_then(|schedule| schedule.on_call(at))
        })
    }

    /// A new receiver of on-call handoffs.
    pub fn subscribe_handoffs(&self) -> broadcast::Receiver<OnCallChange> {
        self.shared.handoffs.sender.subscribe()
    }

    /// The `seq` of the latest published handoff (0 before the first).
    pub fn handoff_seq(&self) -> u64 {
        self.shared.handoffs.last()
    }

    /// Records a changed schedule and re-arms its handoff timer. Caller holds the config lock.
    pub(super) async fn save_schedule(
        &self,
        by: &Principal,
        schedule: Schedule,
    ) -> Result<Arc<Schedule>, CommandError> {
        self.commit(Event::ScheduleUpdated {
            schedule: schedule.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        self.arm_handoff(&schedule, self.shared.clock.now());
        Ok(Arc::new(schedule))
    }

    /// Arms the engine for the schedule's next handoff after `after` (or disarms it).
    pub(super) fn arm_handoff(&self, schedule: &Schedule, after: Timestamp) {
        let key = TimerKey::Handoff(schedule.id);
        let command = match schedule.next_change(after) {
            Some(at) => TimerCommand::Arm(key, at),
            None => TimerCommand::Disarm(key),
        };
        let _ = self.shared.timers.send(command);
    }

    /// The engine's handoff timer for `at` fired: publish who handed over to whom, and arm
    /// the next one.
    pub fn hand_off(&self, id: ScheduleId, at: Timestamp) {
        let Some(schedule) = self.state().schedule(id) else {
            return;
        };
        let from = schedule.on_call(at - Duration::milliseconds(1));
        let to = schedule.on_call(at);
        if from != to {
            self.shared.handoffs.send(|seq| OnCallChange {
                seq,
                schedule_id: id,
                from,
                to,
                at,
            });
        }
        self.arm_handoff(&schedule, at);
    }

    fn live_schedule(&self, raw: &str) -> Result<Arc<Schedule>, DomainError> {
        let id: ScheduleId = raw.parse()?;
        self.state()
            .schedule(id)
            .ok_or_else(|| DomainError::not_found("schedule", id))
    }

    fn schedule_with_rotation(
        &self,
        id: RotationId,
    ) -> Result<(Arc<Schedule>, usize), DomainError> {
        self.schedules()
            .into_iter()
            .find_map(|s| {
                let index = s.rotations.iter().position(|r| r.id == id)?;
                Some((s, index))
            })
            .ok_or_else(|| DomainError::not_found("rotation", id))
    }

    /// Adds a rotation layer on top of a schedule's others.
    pub async fn add_rotation(
        &self,
        by: &Principal,
        schedule_id: &str,
        draft: RotationDraft,
    ) -> Result<Rotation, CommandError> {
        by.require(Action::Configure)?;
        let _config = self.config_lock().await?;
        let mut schedule = (*self.live_schedule(schedule_id)?).clone();
        if schedule.rotations.len() >= MAX_ROTATIONS {
            return Err(DomainError::InvalidState(format!(
                "schedule {} already has {MAX_ROTATIONS} rotation layers",
                schedule.id
            ))
            .into());
        }
        let rotation = draft.parse(RotationId::new(), &self.user_exists())?;
        schedule.rotations.push(rotation.clone());
        self.save_schedule(by, schedule).await?;
        Ok(rotation)
    }

    /// Changes a rotation in place (its layer position stays).
    pub async fn update_rotation(
        &self,
        by: &Principal,
        id: &str,
        patch: RotationPatch,
    ) -> Result<Rotation, CommandError> {
        by.require(Action::Configure)?;
        let id: RotationId = id.parse()?;
        let _config = self.config_lock().await?;
        let (schedule, index) = self.schedule_with_rotation(id)?;
        let current = &schedule.rotations[index];
        let draft = RotationDraft {
            name: patch.name.unwrap_or_else(|| current.name.clone()),
            time_zone: patch.time_zone.unwrap_or_else(|| current.time_zone.clone()),
            start: patch.start.unwrap_or(current.start),
            shift_length: patch
                .shift_length
                .unwrap_or(i64::from(current.shift_length)),
            shift_unit: patch.shift_unit.unwrap_or(current.shift_unit),
            participants: patch
                .participants
                .unwrap_or_else(|| current.participants.iter().map(|u| u.to_string()).collect()),
            restriction: patch
                .restriction
                .unwrap_or_else(|| current.restriction.clone()),
        };
        let rotation = draft.parse(id, &self.user_exists())?;
        let mut schedule = (*schedule).clone();
        schedule.rotations[index] = rotation.clone();
        self.save_schedule(by, schedule).await?;
        Ok(rotation)
    }

    /// Removes a rotation layer.
    pub async fn remove_rotation(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<Arc<Schedule>, CommandError> {
        by.require(Action::Configure)?;
        let id: RotationId = id.parse()?;
        let _config = self.config_lock().await?;
        let (schedule, index) = self.schedule_with_rotation(id)?;
        let mut schedule = (*schedule).clone();
        schedule.rotations.remove(index);
        self.save_schedule(by, schedule).await
    }

    /// Adds an override.
    pub async fn add_override(
        &self,
        by: &Principal,
        draft: OverrideDraft,
    ) -> Result<ScheduleOverride, CommandError> {
        by.require(Action::EditOverrides)?;
        let _config = self.config_lock().await?;
        let mut schedule = (*self.live_schedule(&draft.schedule_id)?).clone();
        if schedule.overrides.len() >= MAX_OVERRIDES {
            return Err(DomainError::InvalidState(format!(
                "schedule {} already has {MAX_OVERRIDES} overrides; remove old ones first",
                schedule.id
            ))
            .into());
        }
        let known = |field: &str, raw: &str| -> Result<UserId, DomainError> {
            let id: UserId = raw.parse().map_err(|e: DomainError| e.at(field))?;
            self.state()
                .user(id)
                .map(|u| u.id)
                .ok_or_else(|| DomainError::not_found("user", id).at(field))
        };
        let user_id = known("userId", &draft.user_id)?;
        let replaces = draft
            .replaces
            .as_deref()
            .map(|raw| known("replaces", raw))
            .transpose()?;
        if draft.end <= draft.start {
            return Err(DomainError::invalid("end", "must be after start").into());
        }
        let over = ScheduleOverride {
            id: OverrideId::new(),
            user_id,
            start: draft.start,
            end: draft.end,
            replaces,
        };
        schedule.overrides.push(over.clone());
        self.save_schedule(by, schedule).await?;
        Ok(over)
    }

    /// Removes an override.
    pub async fn remove_override(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<Arc<Schedule>, CommandError> {
        by.require(Action::EditOverrides)?;
        let id: OverrideId = id.parse()?;
        let _config = self.config_lock().await?;
        let (schedule, index) = self
            .schedules()
            .into_iter()
            .find_map(|s| {
                let index = s.overrides.iter().position(|o| o.id == id)?;
                Some((s, index))
            })
            .ok_or_else(|| DomainError::not_found("override", id))?;
        let mut schedule = (*schedule).clone();
        schedule.overrides.remove(index);
        self.save_schedule(by, schedule).await
    }
}
