//! A store on a shared (PostgreSQL) journal: several processes, one ordered log.
//!
//! Every process folds the same log in the same order ([`Store::run_fold`]): its own
//! appends and everyone else's, by position, woken by `NOTIFY` (or a one-second poll, since
//! a notification sent while a connection is down is lost). A command decides on this
//! process's state and names, per conflict key, the position that state was read at: an
//! incident's latest folded position ([`state::IncidentSlot::current_with_pos`]), the
//! configuration's (taken with the configuration lock), a dedup key's (taken with its
//! stripe lock). The append is refused if a key moved since ([`CommandError::Conflict`]);
//! incident changes and triggers then catch up and decide again, so a person and a timer
//! on different processes can never both win. The committer's event is applied by the
//! fold like any other, and the fold runs its effects (timers, pages, publication), so
//! subscribers of every process see every change in log order.
//!
//! Exactly one process holds the engine lock (`PgJournal::run_election`): only it acts
//! on escalation, wake, notification, heartbeat and maintenance timers, sends pages and
//! webhooks. Every process arms timers from the fold, so a new holder only re-runs
//! [`Store::resume`] after catching up.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::postgres::{AppendError, LoggedEvent, PgJournal};
use super::{CommandError, JournalError, Revoked, Store, state};
use crate::domain::{Event, IncidentChangeKind, IncidentId, ServiceId};
use crate::engine::{TimerCommand, TimerKey};

/// The conflict key of an incident.
pub(super) fn incident_key(id: IncidentId) -> String {
    format!("i:{id}")
}

/// The conflict key of an open incident's dedup key on a service.
pub(super) fn dedup_key(service: ServiceId, key: &str) -> String {
    format!("d:{service}:{key}")
}

/// The conflict key of the configuration (users, services, schedules, contacts,
/// integrations, heartbeats' definitions, maintenance windows, webhooks).
const CONFIG_KEY: &str = "config";

/// Whether `event` is a configuration change (made under the configuration lock).
fn is_config(event: &Event) -> bool {
    matches!(
        event,
        Event::UserCreated { .. }
            | Event::UserUpdated { .. }
            | Event::UserDeleted { .. }
            | Event::ServiceCreated { .. }
            | Event::ServiceUpdated { .. }
            | Event::ServiceDeleted { .. }
            | Event::ScheduleCreated { .. }
            | Event::ScheduleUpdated { .. }
            | Event::ScheduleDeleted { .. }
            | Event::ContactMethodAdded { .. }
            | Event::ContactMethodRemoved { .. }
            | Event::NotificationRuleAdded { .. }
            | Event::NotificationRuleRemoved { .. }
            | Event::IntegrationCreated { .. }
            | Event::IntegrationUpdated { .. }
            | Event::IntegrationDeleted { .. }
            | Event::HeartbeatCreated { .. }
            | Event::MaintenanceStarted { .. }
            | Event::MaintenanceEnded { .. }
            | Event::WebhookCreated { .. }
            | Event::WebhookDeleted { .. }
    )
}

/// The conflict keys `event` moves.
fn writes(event: &Event) -> Vec<String> {
    match event {
        Event::Incident(change) => {
            let mut keys = vec![incident_key(change.incident_id)];
            if let IncidentChangeKind::Triggered(incident) = &change.kind {
                if let Some(key) = &incident.dedup_key {
                    keys.push(dedup_key(incident.service_id, key));
                }
            }
            keys
        }
        // A retirement moves its incidents: a decision on one read before it is refused
        // and made again on the cold row.
        Event::IncidentsRetired { ids, .. } => ids.iter().map(|id| incident_key(*id)).collect(),
        event if is_config(event) => vec![CONFIG_KEY.to_owned()],
        _ => Vec::new(),
    }
}

/// The configuration lock: held, the configuration cannot change (in this process, and on
/// a shared journal in any), and the position it was read at is the basis of the
/// configuration changes its holder makes.
pub(super) struct ConfigGuard<'a> {
    _held: tokio::sync::MutexGuard<'a, ()>,
    /// Whose cluster-wide lock to let go of on drop (shared journals).
    shared: Option<Store>,
}

impl Drop for ConfigGuard<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.shared.take() {
            // The unlock is a round trip; the next lock of this process queues behind it
            // on the same session (advisory locks count per session, so order is moot).
            tokio::spawn(async move {
                if let Some(pg) = store.shared.journal.postgres() {
                    pg.unlock_config().await;
                }
            });
        }
    }
}

impl Store {
    /// Takes the configuration lock (see [`ConfigGuard`]). On a shared journal it also
    /// takes the cluster-wide one and catches up first, so configuration changes on
    /// different processes queue instead of failing.
    pub(super) async fn config_lock(&self) -> Result<ConfigGuard<'_>, CommandError> {
        let held = self.shared.config.lock().await;
        let shared = match self.shared.journal.postgres() {
            Some(pg) => {
                pg.lock_config().await?;
                Some(self.clone())
            }
            None => None,
        };
        self.note_config_basis();
        Ok(ConfigGuard {
            _held: held,
            shared,
        })
    }

    fn note_config_basis(&self) {
        if let Some(pg) = self.shared.journal.postgres() {
            self.shared
                .config_basis
                .store(pg.positions.folded(), Ordering::Release);
        }
    }

    /// Whether this process runs the engine: always, except on a shared journal whose
    /// engine lock another process holds.
    pub fn is_engine_holder(&self) -> bool {
        self.shared
            .journal
            .postgres()
            .is_none_or(|pg| pg.holds_engine())
    }

    /// Whether events are applied by the fold of a shared log (not by their committer).
    pub(super) fn folds_shared_log(&self) -> bool {
        self.shared.journal.postgres().is_some()
    }

    /// How far this process's state is behind the newest event it knows of.
    pub fn journal_lag(&self) -> Option<u64> {
        self.shared
            .journal
            .postgres()
            .map(|pg| pg.positions.head().saturating_sub(pg.positions.folded()))
    }

    /// `find()`, and on a shared journal, when it finds nothing, again after catching up
    /// with the head: something just made through another process (a client triggering
    /// on one and acknowledging on another a moment later) is found, not refused.
    pub(super) async fn caught_up<T>(&self, find: impl Fn() -> Option<T>) -> Option<T> {
        if let Some(found) = find() {
            return Some(found);
        }
        let pg = self.shared.journal.postgres()?;
        let head = pg.head().await.ok()?;
        tokio::time::timeout(Duration::from_secs(5), pg.positions.wait_folded(head))
            .await
            .ok()?;
        find()
    }

    /// Waits until this process has applied position `pos` (a conflict's), at most 10 s.
    pub(super) async fn catch_up(&self, pos: u64) -> Result<(), CommandError> {
        let Some(pg) = self.shared.journal.postgres() else {
            return Ok(());
        };
        pg.wake.notify_one();
        tokio::time::timeout(Duration::from_secs(10), pg.positions.wait_folded(pos))
            .await
            .map_err(|_| {
                CommandError::Journal(JournalError(
                    "this process fell behind the shared journal; try again".into(),
                ))
            })
    }

    pub(super) async fn commit_shared(
        &self,
        pg: &PgJournal,
        event: &Event,
        mut checks: Vec<(String, u64)>,
    ) -> Result<Option<state::Applied>, CommandError> {
        let config = is_config(event);
        if config {
            checks.push((
                CONFIG_KEY.to_owned(),
                self.shared.config_basis.load(Ordering::Acquire),
            ));
        }
        let applied = pg
            .append_checked(event, writes(event), checks, Vec::new())
            .await
            .map_err(|e| match e {
                AppendError::Conflict(c) => CommandError::Conflict(c.pos),
                AppendError::Failed(e) => CommandError::Journal(e),
            })?;
        let applied = applied.await.map_err(|_| {
            CommandError::Journal(JournalError(
                "the change was recorded, but this process stopped reading the journal before applying it".into(),
            ))
        })?;
        if config {
            // Still under the lock: the next change of the same command reads this state.
            self.note_config_basis();
        }
        Ok(applied)
    }

    /// Folds the shared log into this process's state, forever: reads after the last
    /// applied position whenever woken (an append here or a notification) and at least
    /// every second.
    pub async fn run_fold(&self) {
        let Some(pg) = self.shared.journal.postgres() else {
            return;
        };
        let mut failing = false;
        loop {
            let from = pg.positions.folded();
            match pg.read_after(from).await {
                Ok(events) if events.is_empty() => {
                    failing = false;
                    tokio::select! {
                        _ = pg.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Ok(events) => {
                    failing = false;
                    for logged in events {
                        let pos = logged.pos;
                        self.thaw_for_fold(pg, &logged.event, pos).await;
                        self.fold_one(logged);
                        pg.positions.set_folded(pos);
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::error!(error = %e, "cannot read the shared journal; retrying every second");
                    }
                    failing = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Reads back the retired incidents `event` changes (each as retired before `pos`),
    /// retrying every second while the database cannot answer: the fold cannot skip it.
    async fn thaw_for_fold(&self, pg: &PgJournal, event: &Event, pos: u64) {
        let mut failing = false;
        while let Err(e) = pg.thaw_for(self.state(), event, pos).await {
            if !failing {
                tracing::error!(error = %e, position = pos, "cannot read a retired incident back for the fold; retrying every second");
            }
            failing = true;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Retires `rows` (of incidents read at the positions in `checks`) through the shared
    /// log: refused, with nothing written, if any of them changed since.
    pub(super) async fn retire_shared(
        &self,
        pg: &PgJournal,
        event: &Event,
        checks: Vec<(String, u64)>,
        rows: Vec<super::cold::ColdRow>,
    ) -> Result<(), CommandError> {
        let applied = pg
            .append_checked(event, writes(event), checks, rows)
            .await
            .map_err(|e| match e {
                AppendError::Conflict(c) => CommandError::Conflict(c.pos),
                AppendError::Failed(e) => CommandError::Journal(e),
            })?;
        applied.await.map_err(|_| {
            CommandError::Journal(JournalError(
                "the retirement was recorded, but this process stopped reading the journal before applying it".into(),
            ))
        })?;
        Ok(())
    }

    /// Applies one event of the log and runs its effects; hands the result to its
    /// committer when this process appended it.
    pub(super) fn fold_one(&self, logged: LoggedEvent) {
        let LoggedEvent { pos, event, waiter } = logged;
        let local = waiter.is_some();
        let user_before = match &event {
            Event::UserUpdated { user, .. } => self.state().users.get(&user.id).map(|u| u.clone()),
            _ => None,
        };
        let applied = self.state().apply_at(&event, pos);
        match (&event, &applied) {
            (Event::Incident(change), Some(applied)) => {
                self.effects(change, &applied.incident, local);
            }
            _ => self.config_effects(&event, user_before.as_deref()),
        }
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(applied);
            }
            None => drop(applied),
        }
    }

    /// What a change other than an incident's sets off in every process (the committer
    /// does the same itself; each is idempotent).
    fn config_effects(&self, event: &Event, user_before: Option<&crate::domain::User>) {
        let now = self.shared.clock.now();
        match event {
            Event::ScheduleCreated { schedule, .. } | Event::ScheduleUpdated { schedule, .. } => {
                self.arm_handoff(schedule, now);
            }
            Event::ScheduleDeleted { id, .. } => {
                let _ = self
                    .shared
                    .timers
                    .send(TimerCommand::Disarm(TimerKey::Handoff(*id)));
            }
            Event::HeartbeatCreated { heartbeat, .. } => self.arm_heartbeat(heartbeat),
            Event::HeartbeatBeat { id, .. } | Event::HeartbeatMissed { id, .. } => {
                if let Some(heartbeat) = self.state().heartbeat(*id) {
                    self.arm_heartbeat(&heartbeat);
                }
            }
            Event::HeartbeatDeleted { id, .. } => {
                let _ = self
                    .shared
                    .timers
                    .send(TimerCommand::Disarm(TimerKey::Heartbeat(*id)));
            }
            Event::MaintenanceStarted {
                service_id, until, ..
            } => {
                let _ = self.shared.timers.send(TimerCommand::Arm(
                    TimerKey::Maintenance(*service_id),
                    *until,
                ));
            }
            Event::MaintenanceEnded { service_id, .. } => {
                let _ = self
                    .shared
                    .timers
                    .send(TimerCommand::Disarm(TimerKey::Maintenance(*service_id)));
            }
            Event::ApiTokenRevoked { id, .. } => self.revoke(Revoked::ApiToken(*id)),
            Event::SessionsEnded { ids, .. } => {
                for id in ids {
                    self.revoke(Revoked::Session(*id));
                }
            }
            Event::UserDeleted { id, .. } => self.revoke(Revoked::User(*id)),
            Event::UserUpdated { user, .. } => {
                let changed = user_before.is_some_and(|before| {
                    before.role != user.role || before.password != user.password
                });
                if changed {
                    self.revoke(Revoked::User(user.id));
                }
            }
            _ => {}
        }
    }

    /// Runs the fold, the notification listener and the engine election of a store on a
    /// shared journal. Returns at once; does nothing on other journals.
    pub fn start_shared(&self) {
        if !self.folds_shared_log() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move { store.run_fold().await });
        let store = self.clone();
        tokio::spawn(async move {
            if let Some(pg) = store.shared.journal.postgres() {
                pg.run_listener().await;
            }
        });
        let store = self.clone();
        tokio::spawn(async move {
            if let Some(pg) = store.shared.journal.postgres() {
                pg.run_election(|| store.resume()).await;
            }
        });
        let store = self.clone();
        tokio::spawn(async move {
            if let Some(pg) = store.shared.journal.postgres() {
                pg.run_snapshots().await;
            }
        });
    }
}
