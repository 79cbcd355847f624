//! Heartbeat commands: create, delete, beat, and the engine's missed-deadline callback.
//!
//! A heartbeat's changes (beats, its miss timer, deletion) are serialized by a lock of its
//! own, held from the decision to the effects, so a beat and a firing timer never
//! interleave. The outage incident goes through the ordinary trigger and resolve paths.
//! Beats that change nothing but the deadline are journaled at most once per tenth of the
//! interval (see [`Heartbeat::beat`]); the ones in between live in [`Beats::unrecorded`].

use std::sync::Arc;

use dashmap::DashMap;

use super::{CommandError, Store};
use crate::domain::heartbeat::{TOKEN_CHARS, token_shape_ok};
use crate::domain::{
    Action, Credential, DomainError, Event, Heartbeat, HeartbeatId, NewIncident, Principal, Role,
    ScheduleId, Severity, Timestamp,
};
use crate::engine::{TimerCommand, TimerKey};

/// The store's in-memory side of heartbeats.
#[derive(Default)]
pub(super) struct Beats {
    /// One lock per heartbeat, made on first use (a tokio mutex: its holder awaits the
    /// journal). Dropped when the heartbeat is deleted.
    locks: DashMap<HeartbeatId, Arc<tokio::sync::Mutex<()>>>,
    /// The latest beat of each heartbeat whose latest beat was not journaled. A restart
    /// forgets these, which brings a deadline forward by less than a tenth of its interval.
    unrecorded: DashMap<HeartbeatId, Timestamp>,
}

/// A fresh URL token: 128 bits from the OS, as hex.
fn new_token() -> String {
    let mut token = crate::secret::random_secret("");
    token.truncate(TOKEN_CHARS);
    token
}

impl Store {
    fn heartbeat_lock(&self, id: HeartbeatId) -> Arc<tokio::sync::Mutex<()>> {
        self.shared.beats.locks.entry(id).or_default().clone()
    }

    /// A heartbeat as readers see it: its latest beat counts unrecorded ones.
    fn heartbeat_view(&self, heartbeat: Arc<Heartbeat>) -> Arc<Heartbeat> {
        match self.shared.beats.unrecorded.get(&heartbeat.id).map(|t| *t) {
            Some(latest) if Some(latest) > heartbeat.last_beat_at => {
                let mut view = (*heartbeat).clone();
                view.last_beat_at = Some(latest);
                Arc::new(view)
            }
            _ => heartbeat,
        }
    }

    pub(super) fn arm_heartbeat(&self, heartbeat: &Heartbeat) {
        let key = TimerKey::Heartbeat(heartbeat.id);
        let command = match heartbeat.deadline(None) {
            Some(deadline) => TimerCommand::Arm(key, deadline),
            None => TimerCommand::Disarm(key),
        };
        let _ = self.shared.timers.send(command);
    }

    /// A live heartbeat (latest beat included).
    pub fn heartbeat(&self, id: HeartbeatId) -> Option<Arc<Heartbeat>> {
        self.state().heartbeat(id).map(|h| self.heartbeat_view(h))
    }

    /// Live heartbeats, by name.
    pub fn heartbeats(&self) -> Vec<Arc<Heartbeat>> {
        let mut heartbeats: Vec<_> = self
            .state()
            .heartbeats
            .iter()
            .filter(|h| h.deleted_at.is_none())
            .map(|h| self.heartbeat_view(h.clone()))
            .collect();
        heartbeats.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        heartbeats
    }

    /// Live heartbeats of one schedule, by name.
    pub fn heartbeats_of(&self, schedule: ScheduleId) -> Vec<Arc<Heartbeat>> {
        let mut heartbeats = self.heartbeats();
        heartbeats.retain(|h| h.schedule_id == schedule);
        heartbeats
    }

    /// Makes a heartbeat on a schedule (ADMIN: configuration). It starts inactive.
    pub async fn create_heartbeat(
        &self,
        by: &Principal,
        schedule_id: &str,
        name: &str,
        interval_ms: i64,
    ) -> Result<Arc<Heartbeat>, CommandError> {
        by.require(Action::Configure)?;
        let schedule_id: ScheduleId = schedule_id
            .parse()
            .map_err(|e: DomainError| e.at("scheduleId"))?;
        let now = self.shared.clock.now();
        let heartbeat = Heartbeat::new(
            HeartbeatId::new(),
            name,
            schedule_id,
            interval_ms,
            new_token(),
            now,
            by.actor.clone(),
        )?;
        let _config = self.config_lock().await?;
        if self.state().schedule(schedule_id).is_none() {
            return Err(DomainError::not_found("schedule", schedule_id)
                .at("scheduleId")
                .into());
        }
        self.commit(Event::HeartbeatCreated {
            heartbeat: heartbeat.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(Arc::new(heartbeat))
    }

    /// Deletes a heartbeat: its URL stops working and its timer is disarmed. An open
    /// outage incident stays open for people to resolve.
    pub async fn delete_heartbeat(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<HeartbeatId, CommandError> {
        by.require(Action::Configure)?;
        let id: HeartbeatId = id.parse()?;
        let lock = self.heartbeat_lock(id);
        let _serialized = lock.lock().await;
        if self.state().heartbeat(id).is_none() {
            return Err(DomainError::not_found("heartbeat", id).into());
        }
        let at = self.shared.clock.now();
        self.commit(Event::HeartbeatDeleted {
            id,
            at,
            actor: by.actor.clone(),
        })
        .await?;
        let _ = self
            .shared
            .timers
            .send(TimerCommand::Disarm(TimerKey::Heartbeat(id)));
        self.shared.beats.unrecorded.remove(&id);
        self.shared.beats.locks.remove(&id);
        Ok(id)
    }

    /// A beat on the heartbeat whose URL token is `token`; `None` when no live heartbeat
    /// has it. Healthy afterwards, its deadline re-armed; an outage's incident is resolved
    /// first (so a crash in between leaves it unhealthy, and the next beat tries again).
    pub async fn beat(&self, token: &str) -> Result<Option<Arc<Heartbeat>>, CommandError> {
        if !token_shape_ok(token) {
            return Ok(None);
        }
        let Some(id) = self.state().heartbeat_tokens.get(token).map(|id| *id) else {
            return Ok(None);
        };
        let lock = self.heartbeat_lock(id);
        let _serialized = lock.lock().await;
        let Some(recorded) = self.state().heartbeat(id) else {
            return Ok(None);
        };
        let now = self.shared.clock.now();
        let decision = recorded.beat(now);
        if let Some(incident) = decision.resolve {
            let actor = recorded.actor();
            match self
                .transition(incident, &actor, |incident, _| Ok(incident.resolve()))
                .await
            {
                Ok(_) | Err(CommandError::Domain(DomainError::NotFound { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        // On a shared journal every beat is recorded: the process that runs the timers
        // must see beats that reached any other.
        if decision.record || self.folds_shared_log() {
            self.commit(Event::HeartbeatBeat { id, at: now }).await?;
            self.shared.beats.unrecorded.remove(&id);
        } else {
            self.shared.beats.unrecorded.insert(id, now);
        }
        let _ = self.shared.timers.send(TimerCommand::Arm(
            TimerKey::Heartbeat(id),
            decision.deadline,
        ));
        Ok(self.heartbeat(id))
    }

    /// The engine's timer for `deadline` fired: unless a beat moved the deadline (or the
    /// heartbeat is gone), the heartbeat turns unhealthy and one incident is triggered on
    /// its schedule. The trigger comes first, with a dedup key per heartbeat, so a crash
    /// before the miss is recorded re-fires after the restart and folds into the same
    /// incident instead of opening a second.
    pub async fn heartbeat_missed(
        &self,
        id: HeartbeatId,
        deadline: Timestamp,
    ) -> Result<(), CommandError> {
        let lock = self.heartbeat_lock(id);
        let _serialized = lock.lock().await;
        let Some(heartbeat) = self.heartbeat(id) else {
            return Ok(());
        };
        if !heartbeat.missed(deadline, None) {
            return Ok(());
        }
        let (title, description, dedup_key) = heartbeat.outage_incident(deadline);
        let new = NewIncident::parse(&title, Some(&description), Severity::High, Some(&dedup_key))?;
        let by = Principal {
            actor: heartbeat.actor(),
            role: Role::Responder,
            credential: Credential::System,
            expires_at: None,
        };
        let incident_id = match self
            .trigger(&by, &heartbeat.schedule_id.to_string(), new)
            .await
        {
            Ok(incident) => Some(incident.id),
            Err(CommandError::Domain(error)) => {
                tracing::error!(heartbeat = %id, %error, "a missed heartbeat could not open an incident");
                None
            }
            Err(e) => return Err(e),
        };
        let at = self.shared.clock.now();
        self.commit(Event::HeartbeatMissed {
            id,
            at,
            deadline,
            last_beat_at: heartbeat.last_beat_at,
            incident_id,
        })
        .await?;
        self.shared.beats.unrecorded.remove(&id);
        Ok(())
    }

    /// Re-arms every healthy heartbeat's deadline after replay (overdue ones fire at once).
    pub(super) fn resume_heartbeats(&self) {
        for heartbeat in self.state().heartbeats.iter() {
            self.arm_heartbeat(&heartbeat);
        }
    }

    /// Refuses to delete a schedule that heartbeats still page.
    pub(super) fn check_no_heartbeats(&self, schedule: ScheduleId) -> Result<(), DomainError> {
        let names: Vec<String> = self
            .heartbeats_of(schedule)
            .iter()
            .map(|h| format!("'{}' ({})", h.name, h.id))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        Err(DomainError::InvalidState(format!(
            "schedule {schedule} still has heartbeat {}; delete them first",
            names.join(", ")
        )))
    }
}
