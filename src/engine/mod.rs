//! Background work: the escalation engine (deadline timers) and the notifier (pages).
//!
//! The engine owns every pending deadline (escalations, wake-ups, handoffs, heartbeats,
//! maintenance ends) in one ordered set and sleeps until the earliest; it never polls. It decides nothing itself: a due timer asks the store to
//! escalate, and the domain ignores a timer whose deadline is no longer the incident's.

pub mod email;
pub mod http_out;
pub mod notifier;
pub mod retention;
pub mod webhooks;

use std::collections::{BTreeSet, HashMap};

use futures_util::future::join_all;
use tokio::sync::{mpsc, watch};

use crate::clock::instant_of;
use crate::domain::{HeartbeatId, IncidentId, ScheduleId, ServiceId, Timestamp};
use crate::store::Store;
pub use notifier::{LogNotifier, Notifier, PageJob};

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKey {
    /// An incident's escalation deadline.
    Escalation(IncidentId),
    /// A schedule's next on-call handoff.
    Handoff(ScheduleId),
    /// An acknowledged incident's snooze end or acknowledge timeout.
    Wake(IncidentId),
    /// A healthy heartbeat's deadline: its latest beat + its interval.
    Heartbeat(HeartbeatId),
    /// A service's maintenance end (`until`), or a sweep that releases held incidents.
    Maintenance(ServiceId),
    /// An incident's next pending notification rule.
    Notify(IncidentId),
}

/// What the store tells the engine after each durable change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerCommand {
    /// The timer fires at this instant (replaces any earlier one with the same key).
    Arm(TimerKey, Timestamp),
    /// The timer is no longer needed.
    Disarm(TimerKey),
}

/// Pending deadlines in one ordered set, "what is next" first.
///
/// An incident's timers (escalation, wake-up, next notification) are checked when due
/// instead of replaced or cancelled when they change: the incident itself holds its live
/// deadline, so a due entry that no longer matches it is dropped ([`incident_timer_live`];
/// the domain checks again under the incident's lock). They need no map from key to
/// deadline, ~54 bytes an open incident; a superseded entry waits in the set until its
/// instant, at most one timeout. Schedules', heartbeats' and services' timers, a few per
/// team, are replaced and cancelled exactly through `keyed`.
#[derive(Debug, Default)]
struct Deadlines {
    queue: BTreeSet<(Timestamp, TimerKey)>,
    keyed: HashMap<TimerKey, Timestamp>,
}

impl TimerKey {
    /// An incident's timer: checked against the incident when due, not kept in `keyed`.
    fn checked_when_due(self) -> bool {
        matches!(
            self,
            TimerKey::Escalation(_) | TimerKey::Wake(_) | TimerKey::Notify(_)
        )
    }
}

impl Deadlines {
    fn apply(&mut self, command: TimerCommand) {
        match command {
            TimerCommand::Arm(key, at) if key.checked_when_due() => {
                self.queue.insert((at, key));
            }
            TimerCommand::Disarm(key) if key.checked_when_due() => {}
            TimerCommand::Arm(key, at) => {
                if let Some(old) = self.keyed.insert(key, at) {
                    self.queue.remove(&(old, key));
                }
                self.queue.insert((at, key));
            }
            TimerCommand::Disarm(key) => {
                if let Some(old) = self.keyed.remove(&key) {
                    self.queue.remove(&(old, key));
                }
            }
        }
    }

    fn next(&self) -> Option<Timestamp> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// Removes and returns every deadline at or before `now`, earliest first (an
    /// incident's, live or superseded: see [`incident_timer_live`]).
    fn take_due(&mut self, now: Timestamp) -> Vec<(Timestamp, TimerKey)> {
        let mut due = Vec::new();
        while let Some(&(at, key)) = self.queue.first() {
            if at > now {
                break;
            }
            self.queue.pop_first();
            if !key.checked_when_due() {
                self.keyed.remove(&key);
            }
            due.push((at, key));
        }
        due
    }

    fn len(&self) -> usize {
        self.queue.len()
    }
}

/// Whether an incident timer due at `at` is still the incident's: its escalation
/// deadline, wake-up or next notification is still that instant. A superseded one (the
/// incident was acknowledged, escalated, resolved or retired since) is dropped unfired.
/// Other timers are exact, so always live.
fn incident_timer_live(store: &Store, key: TimerKey, at: Timestamp) -> bool {
    let current = |id| store.state().incident(id);
    match key {
        TimerKey::Escalation(id) => current(id).is_some_and(|i| i.escalation_deadline == Some(at)),
        TimerKey::Wake(id) => current(id).is_some_and(|i| i.wake_deadline() == Some(at)),
        TimerKey::Notify(id) => current(id).is_some_and(|i| i.next_notification_due() == Some(at)),
        TimerKey::Handoff(_) | TimerKey::Heartbeat(_) | TimerKey::Maintenance(_) => true,
    }
}

/// Runs the escalation engine until `shutdown` flips or the store goes away.
///
/// Due escalations run in a task per batch, in deadline order, so a slow journal write
/// never delays the engine's own clock.
pub async fn run_escalations(
    store: Store,
    mut commands: mpsc::UnboundedReceiver<TimerCommand>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut deadlines = Deadlines::default();
    let mut batch = Vec::with_capacity(256);
    loop {
        if let Some(metrics) = store.metrics() {
            metrics.set_timers_pending(deadlines.len());
        }
        let wake = deadlines
            .next()
            .map(|at| instant_of(store.clock().as_ref(), at));
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            received = commands.recv_many(&mut batch, 1024) => {
                if received == 0 {
                    break;
                }
                for command in batch.drain(..) {
                    deadlines.apply(command);
                }
            }
            _ = sleep_until(wake) => {
                let now = store.clock().now();
                let mut escalations = Vec::new();
                // On a shared journal only the engine holder acts on a deadline (a
                // handoff, only a publication, fires everywhere); a new holder re-arms
                // every deadline from its state.
                let holder = store.is_engine_holder();
                for (deadline, key) in deadlines.take_due(now) {
                    if !holder && !matches!(key, TimerKey::Handoff(_)) {
                        continue;
                    }
                    if !incident_timer_live(&store, key, deadline) {
                        continue;
                    }
                    if let Some(metrics) = store.metrics() {
                        metrics.timer_fired(now - deadline);
                    }
                    match key {
                        TimerKey::Escalation(_)
                        | TimerKey::Wake(_)
                        | TimerKey::Heartbeat(_)
                        | TimerKey::Maintenance(_)
                        | TimerKey::Notify(_) => escalations.push((deadline, key)),
                        // Cheap and synchronous: no journal write, just a publication.
                        TimerKey::Handoff(id) => store.hand_off(id, deadline),
                    }
                }
                if !escalations.is_empty() {
                    // One task per batch. `join_all` polls the escalations in deadline
                    // order, and each one reaches the journal (which queues appends in
                    // call order) on its first poll, so a batch (such as every deadline
                    // that passed while the server was down) is recorded in the order the
                    // deadlines fell, yet shares one group commit instead of paying one
                    // fsync each. The engine loop itself never waits for a journal write.
                    let store = store.clone();
                    tokio::spawn(async move {
                        let results = join_all(
                            escalations
                                .iter()
                                .map(|(deadline, key)| fire(&store, *key, *deadline)),
                        )
                        .await;
                        for ((_, key), result) in escalations.iter().zip(results) {
                            if let Err(error) = result {
                                tracing::error!(timer = ?key, %error, "timed change failed");
                            }
                        }
                    });
                }
            }
        }
    }
    tracing::debug!(pending = deadlines.len(), "escalation engine stopped");
}

/// A due incident timer asks the store; the domain decides whether it is still live.
async fn fire(
    store: &Store,
    key: TimerKey,
    deadline: Timestamp,
) -> Result<(), crate::store::CommandError> {
    match key {
        TimerKey::Escalation(id) => store.escalate_on_timeout(id, deadline).await.map(drop),
        TimerKey::Wake(id) => store.wake_on_timeout(id, deadline).await.map(drop),
        TimerKey::Heartbeat(id) => store.heartbeat_missed(id, deadline).await,
        TimerKey::Maintenance(id) => store.maintenance_timer(id, deadline).await,
        TimerKey::Notify(id) => store.notifications_due(id).await.map(drop),
        TimerKey::Handoff(_) => Ok(()),
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};

    fn t(ms: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::milliseconds(ms)
    }

    #[test]
    fn rearming_a_keyed_timer_replaces_the_old_deadline() {
        let mut d = Deadlines::default();
        let id = TimerKey::Handoff(ScheduleId::new());
        d.apply(TimerCommand::Arm(id, t(100)));
        d.apply(TimerCommand::Arm(id, t(300)));
        assert_eq!(d.len(), 1);
        assert!(d.take_due(t(200)).is_empty());
        assert_eq!(d.take_due(t(300)), vec![(t(300), id)]);
        assert!(d.keyed.is_empty());
    }

    #[test]
    fn disarm_cancels_a_keyed_timer() {
        let mut d = Deadlines::default();
        let id = TimerKey::Maintenance(ServiceId::new());
        d.apply(TimerCommand::Arm(id, t(100)));
        d.apply(TimerCommand::Disarm(id));
        assert!(d.take_due(t(1_000)).is_empty());
        assert_eq!(d.next(), None);
    }

    #[test]
    fn an_incident_timer_keeps_no_map_and_its_superseded_entries_come_due_too() {
        let mut d = Deadlines::default();
        let id = TimerKey::Escalation(IncidentId::new());
        d.apply(TimerCommand::Arm(id, t(100)));
        // Every change of the incident arms its deadline again: one entry.
        d.apply(TimerCommand::Arm(id, t(100)));
        assert_eq!(d.len(), 1);
        d.apply(TimerCommand::Arm(id, t(300)));
        d.apply(TimerCommand::Disarm(id));
        assert!(d.keyed.is_empty());
        // Both come due; the engine fires only the one the incident still has.
        assert_eq!(d.take_due(t(1_000)), vec![(t(100), id), (t(300), id)]);
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn due_deadlines_come_out_in_deadline_order() {
        let mut d = Deadlines::default();
        let ids: Vec<_> = (0..3)
            .map(|_| TimerKey::Escalation(IncidentId::new()))
            .collect();
        d.apply(TimerCommand::Arm(ids[0], t(30)));
        d.apply(TimerCommand::Arm(ids[1], t(10)));
        d.apply(TimerCommand::Arm(ids[2], t(20)));
        let due: Vec<_> = d.take_due(t(25)).into_iter().map(|(_, id)| id).collect();
        assert_eq!(due, vec![ids[1], ids[2]]);
        assert_eq!(d.next(), Some(t(30)));
    }
}
