//! The serving state: DashMaps of entities plus the incident indexes, and
//! [`State::apply`], the fold that turns one event into the next state. Live changes and
//! journal replay both go through `apply`; nothing else writes these maps.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;

use crate::domain::contact::UserContacts;
use crate::domain::{
    ActorKind, ApiToken, ApiTokenId, Event, Heartbeat, HeartbeatId, Incident, IncidentChange,
    IncidentChangeKind, IncidentId, IncidentState, Integration, IntegrationId, Schedule,
    ScheduleId, Service, ServiceId, Session, SessionId, Timestamp, User, UserId,
};

/// One incident's latest committed state, as the `incidents` map holds it: a value in
/// the map, not an allocation of its own. Readers clone the `Arc` under the map shard's
/// read lock and never wait for a journal write; the fold swaps it under the shard's
/// write lock. Changes to the incident are serialized by [`IncidentLocks`], not here.
#[derive(Clone, Debug)]
pub struct IncidentSlot {
    current: Arc<Incident>,
    /// With a shared (PostgreSQL) journal: the position of the latest event folded into
    /// `current`, the basis a decision on it names (0 otherwise).
    pos: u64,
}

impl IncidentSlot {
    fn new(incident: Arc<Incident>, pos: u64) -> Self {
        Self {
            current: incident,
            pos,
        }
    }

    /// The latest committed state.
    pub fn current(&self) -> Arc<Incident> {
        self.current.clone()
    }

    /// The latest committed state and the journal position it reflects (shared journals).
    pub fn current_with_pos(&self) -> (Arc<Incident>, u64) {
        (self.current.clone(), self.pos)
    }
}

/// Serializes every change to one incident (people, timers, notifier): one permit per
/// incident id, held as a [`SlotGuard`]. Async, because the holder awaits the journal
/// while it decides and records a change.
///
/// A semaphore exists only while someone holds or awaits it: an incident at rest costs
/// nothing here (a semaphore inside every incident's cell was 88 bytes an open incident).
/// The invariant: every clone of an entry's `Arc` is taken under the map shard's lock,
/// and an entry is removed only when the map holds its sole reference, checked under
/// that lock; so everyone who locks one id uses one semaphore.
#[derive(Clone, Debug, Default)]
pub struct IncidentLocks(Arc<DashMap<IncidentId, Arc<tokio::sync::Semaphore>>>);

/// A claim on an incident's semaphore: taken, or only awaited. Dropped, it lets go of
/// the entry, which goes when nobody else has it.
#[derive(Debug)]
struct Claim {
    locks: IncidentLocks,
    id: IncidentId,
    semaphore: Option<Arc<tokio::sync::Semaphore>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        drop(self.semaphore.take());
        self.locks
            .0
            .remove_if(&self.id, |_, semaphore| Arc::strong_count(semaphore) == 1);
    }
}

/// The right to change one incident, until dropped.
#[derive(Debug)]
pub struct SlotGuard(Claim);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        // Then the claim's own drop lets go of the entry.
        if let Some(semaphore) = &self.0.semaphore {
            semaphore.add_permits(1);
        }
    }
}

impl IncidentLocks {
    fn claim(&self, id: IncidentId) -> Claim {
        let semaphore = self
            .0
            .entry(id)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(1)))
            .clone();
        Claim {
            locks: self.clone(),
            id,
            semaphore: Some(semaphore),
        }
    }

    /// Waits for the right to change incident `id`. Cancel-safe: dropped while waiting,
    /// it takes nothing (and leaves no entry behind).
    pub async fn lock(&self, id: IncidentId) -> SlotGuard {
        let claim = self.claim(id);
        if let Some(semaphore) = &claim.semaphore {
            // Nothing closes the semaphore, so `acquire` cannot fail.
            if let Ok(permit) = semaphore.acquire().await {
                permit.forget();
            }
        }
        SlotGuard(claim)
    }

    /// The right to change incident `id`, if nobody holds it.
    pub fn try_lock(&self, id: IncidentId) -> Option<SlotGuard> {
        let claim = self.claim(id);
        let permit = claim.semaphore.as_ref()?.try_acquire().ok()?;
        permit.forget();
        Some(SlotGuard(claim))
    }

    /// Semaphores in the map: held or awaited ones only.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no incident is locked or awaited.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What applying an incident change produced.
pub struct Applied {
    /// The incident after the change.
    pub incident: Arc<Incident>,
    /// For a newly triggered incident: its write lock, taken before the incident became
    /// visible, so no other change to it can be published before its `TRIGGERED`.
    pub new_slot_guard: Option<SlotGuard>,
}

/// All entities, indexed for the reads the API serves.
#[derive(Debug, Default)]
pub struct State {
    /// Users, including deleted ones (tombstones keep incident history resolvable).
    pub users: DashMap<UserId, Arc<User>>,
    /// Services, including deleted ones.
    pub services: DashMap<ServiceId, Arc<Service>>,
    /// Schedules, including deleted ones.
    pub schedules: DashMap<ScheduleId, Arc<Schedule>>,
    /// Every incident in memory (the hot ones; retired ones are in the cold index).
    pub incidents: DashMap<IncidentId, IncidentSlot>,
    /// Who may change which incident now.
    pub locks: IncidentLocks,
    /// All incidents by creation order (`seq`): newest-first lists and cursors.
    pub order: RwLock<BTreeMap<u64, IncidentId>>,
    /// Open (unresolved) incidents by creation order: the board's list. Only the `seq`s
    /// (an incident's id is `order`'s): a B-tree of 8-byte keys takes ~12 bytes an open
    /// incident, one of keys and ids ~49.
    pub open: RwLock<BTreeSet<u64>>,
    /// Open incidents by (service, dedup key).
    pub dedup: DashMap<(ServiceId, String), IncidentId>,
    /// Incidents per state: TRIGGERED, ACKNOWLEDGED, RESOLVED.
    counts: [AtomicU64; 3],
    /// The highest incident `seq` seen, so new incidents sort after replayed ones.
    pub max_seq: AtomicU64,
    /// With a shared journal, several processes trigger at once: an incident's `seq` is
    /// then given by the fold (one more than the highest), the same in every process,
    /// not by the process that decided it.
    seq_in_fold: std::sync::atomic::AtomicBool,
    /// The journal position of the event being folded (shared journals only).
    position: AtomicU64,
    /// Incidents retired to the cold index and not in memory (all resolved).
    retired: AtomicU64,
    /// Incidents in memory that also have a live cold row: retired once, then read back
    /// because a change came for them (a note, usually). Lists skip their cold row.
    pub thawed: DashMap<IncidentId, ()>,
    /// Serializes thaws (see [`State::thaw_at`]).
    thawing: std::sync::Mutex<()>,
    /// API tokens, revoked ones included (the list shows them).
    pub api_tokens: DashMap<ApiTokenId, Arc<ApiToken>>,
    /// Token id by the digest of its secret: authenticating a request is one hash lookup.
    pub token_digests: DashMap<String, ApiTokenId>,
    /// Live (not ended) login sessions; expired ones are dropped when their user logs in
    /// again, and refused on use.
    pub sessions: DashMap<SessionId, Arc<Session>>,
    /// Session id by the digest of its cookie's secret.
    pub session_digests: DashMap<String, SessionId>,
    /// Incident summaries by trigger time, for analytics windows.
    pub analytics: super::analytics::AnalyticsIndex,
    /// Monitoring integrations, deleted ones included (alerts still name their kind).
    pub integrations: DashMap<IntegrationId, Arc<Integration>>,
    /// Live integration id by the digest of its key: a monitor's request is one SHA-256
    /// and one hash lookup, then a constant-time comparison.
    pub integration_keys: DashMap<String, IntegrationId>,
    /// When each integration last sent an event. Journaled with the incident change an
    /// event made (its actor is the integration); an event that changed nothing is only
    /// remembered here, in memory.
    pub integration_seen: DashMap<IntegrationId, Timestamp>,
    /// Heartbeats, deleted ones included; `last_beat_at` is the last *recorded* beat (the
    /// store keeps the unrecorded ones beside, see `store::heartbeats`).
    pub heartbeats: DashMap<HeartbeatId, Arc<Heartbeat>>,
    /// Live heartbeat id by its URL token.
    pub heartbeat_tokens: DashMap<String, HeartbeatId>,
    /// Each user's contact methods and notification rules.
    pub contacts: DashMap<UserId, Arc<UserContacts>>,
    /// The key that signs email action links (made once, journaled).
    pub link_key: std::sync::OnceLock<crate::domain::integration::IntegrationSecret>,
    /// Outbound webhooks and their deliveries.
    pub webhooks: super::webhooks::WebhookState,
}

fn state_index(state: IncidentState) -> usize {
    match state {
        IncidentState::Triggered => 0,
        IncidentState::Acknowledged => 1,
        IncidentState::Resolved => 2,
    }
}

impl State {
    /// A fresh incident `seq`, after every one allocated or replayed so far.
    pub fn allocate_seq(&self) -> u64 {
        if self.seq_in_fold.load(Ordering::Relaxed) {
            // A placeholder: the fold numbers the incident.
            return self.max_seq.load(Ordering::Relaxed) + 1;
        }
        self.max_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Incidents are numbered by the fold from now on (a journal shared by processes).
    pub fn number_in_fold(&self) {
        self.seq_in_fold.store(true, Ordering::Relaxed);
    }

    /// Sets the journal position the next applied events are recorded at (a snapshot's,
    /// while it is restored).
    pub fn set_position(&self, pos: u64) {
        self.position.store(pos, Ordering::Relaxed);
    }

    /// Applies `event`, the journal's record at `pos` (shared journals: the position is
    /// kept with each incident it changes, the basis of the next decision on it).
    pub fn apply_at(&self, event: &Event, pos: u64) -> Option<Applied> {
        self.position.store(pos, Ordering::Relaxed);
        self.apply(event)
    }

    /// Number of incidents in `state`, retired ones included.
    pub fn count(&self, state: IncidentState) -> u64 {
        let hot = self.counts[state_index(state)].load(Ordering::Relaxed);
        match state {
            IncidentState::Resolved => hot + self.retired(),
            _ => hot,
        }
    }

    /// Every incident ever triggered, retired ones included.
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.retired()
    }

    /// Incidents only in the cold index.
    pub fn retired(&self) -> u64 {
        self.retired.load(Ordering::Relaxed)
    }

    /// Sets the number of incidents only in the cold index (after loading).
    pub fn set_retired(&self, n: u64) {
        self.retired.store(n, Ordering::Relaxed);
    }

    /// Brings a retired incident back into memory, as it was retired, before a change
    /// to it is decided or replayed. Not an event: the state it restores is the fold of
    /// the journal up to its retirement, read from the cold index.
    pub fn thaw(&self, incident: Incident) {
        self.thaw_at(incident, 0)
    }

    /// [`State::thaw`] of a row retired at journal position `retired`: the slot reflects
    /// the log up to there (on a shared journal the fold skips what it already holds, and
    /// a decision on it names that position).
    /// Of two thaws of one incident (a command's and the fold's), one restores it and the
    /// other gets its slot. (A lock of its own, not the map's entry: holding a shard of
    /// `incidents` while taking `order` would invert the order the lists take them in.)
    pub fn thaw_at(&self, incident: Incident, retired: u64) {
        let _one_at_a_time = match self.thawing.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.incidents.contains_key(&incident.id) {
            return;
        }
        let incident = Arc::new(incident);
        self.max_seq.fetch_max(incident.seq, Ordering::Relaxed);
        self.counts[state_index(incident.state)].fetch_add(1, Ordering::Relaxed);
        write(&self.order).insert(incident.seq, incident.id);
        self.thawed.insert(incident.id, ());
        let _ = self
            .retired
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.incidents
            .insert(incident.id, IncidentSlot::new(incident, retired));
    }

    /// The resolved incidents in memory (after a load: the ones that may be thawed).
    pub fn resolved_in_memory(&self) -> Vec<IncidentId> {
        self.incidents
            .iter()
            .filter(|slot| !slot.current().is_open())
            .map(|slot| *slot.key())
            .collect()
    }

    /// The incidents an event changes that are not in memory (and so must be thawed
    /// before it is folded). Allocates nothing: replay asks this of every event.
    pub fn missing_incidents<'a>(
        &'a self,
        event: &'a Event,
    ) -> impl Iterator<Item = IncidentId> + 'a {
        let change = match event {
            Event::Incident(change) if !matches!(change.kind, IncidentChangeKind::Triggered(_)) => {
                Some(change.incident_id)
            }
            _ => None,
        };
        let deliveries = match event {
            Event::NotificationsDelivered { deliveries, .. } => deliveries.as_slice(),
            _ => &[],
        };
        change
            .into_iter()
            .chain(deliveries.iter().map(|d| d.incident_id))
            .filter(|id| !self.incidents.contains_key(id))
    }

    fn retire(&self, ids: &[IncidentId]) {
        let position = self.position.load(Ordering::Relaxed);
        for id in ids {
            // A slot thawed from a later retirement's row (shared journals, which fold at
            // a position) already holds more than this record retires: it stays.
            let Some((_, slot)) = self
                .incidents
                .remove_if(id, |_, slot| position == 0 || slot.pos <= position)
            else {
                continue;
            };
            let incident = slot.current();
            write(&self.order).remove(&incident.seq);
            self.counts[state_index(incident.state)].fetch_sub(1, Ordering::Relaxed);
            self.retired.fetch_add(1, Ordering::Relaxed);
            self.thawed.remove(id);
        }
    }

    /// Applies one event. Returns what an incident change produced.
    pub fn apply(&self, event: &Event) -> Option<Applied> {
        match event {
            Event::UserCreated { user, .. } | Event::UserUpdated { user, .. } => {
                self.users.insert(user.id, Arc::new(user.clone()));
            }
            Event::UserDeleted { id, at, .. } => {
                if let Some(mut entry) = self.users.get_mut(id) {
                    let mut user = (**entry).clone();
                    user.deleted_at = Some(*at);
                    *entry = Arc::new(user);
                }
            }
            Event::ServiceCreated { service, .. } | Event::ServiceUpdated { service, .. } => {
                self.services.insert(service.id, Arc::new(service.clone()));
            }
            Event::ServiceDeleted { id, at, .. } => {
                if let Some(mut entry) = self.services.get_mut(id) {
                    let mut service = (**entry).clone();
                    service.deleted_at = Some(*at);
                    *entry = Arc::new(service);
                }
            }
            Event::ScheduleCreated { schedule, .. } | Event::ScheduleUpdated { schedule, .. } => {
                self.schedules
                    .insert(schedule.id, Arc::new(schedule.clone()));
            }
            Event::ScheduleDeleted { id, at, .. } => {
                if let Some(mut entry) = self.schedules.get_mut(id) {
                    let mut schedule = (**entry).clone();
                    schedule.deleted_at = Some(*at);
                    *entry = Arc::new(schedule);
                }
            }
            Event::Incident(change) => return self.apply_incident(change),
            Event::IncidentsRetired { ids, .. } => self.retire(ids),
            Event::NotificationsDelivered { at, deliveries } => {
                for delivery in deliveries {
                    // Read-modify-write under the shard's write lock, so an update that
                    // needs no decision can never be lost between another change's read
                    // and write.
                    let Some(mut slot) = self.incidents.get_mut(&delivery.incident_id) else {
                        continue;
                    };
                    let mut next = (*slot.current).clone();
                    next.record_outcome(
                        *at,
                        delivery.notification_id,
                        delivery.attempts,
                        delivery.error.as_deref(),
                    );
                    slot.current = Arc::new(next);
                }
            }
            Event::ContactMethodAdded { method, .. } => {
                self.edit_contacts(method.user_id, |c| c.add_method(method.clone()));
            }
            Event::ContactMethodRemoved { id, user_id, .. } => {
                self.edit_contacts(*user_id, |c| c.remove_method(*id));
            }
            Event::NotificationRuleAdded { rule, .. } => {
                self.edit_contacts(rule.user_id, |c| c.add_rule(rule.clone()));
            }
            Event::NotificationRuleRemoved { id, user_id, .. } => {
                self.edit_contacts(*user_id, |c| c.remove_rule(*id));
            }
            Event::LinkKeyCreated { key } => {
                let _ = self.link_key.set(key.clone());
            }
            Event::ApiTokenCreated { token } => {
                self.token_digests.insert(token.digest.0.clone(), token.id);
                self.api_tokens.insert(token.id, Arc::new(token.clone()));
            }
            Event::ApiTokenRevoked { id, at, .. } => {
                if let Some(mut entry) = self.api_tokens.get_mut(id) {
                    let mut token = (**entry).clone();
                    token.revoked_at.get_or_insert(*at);
                    *entry = Arc::new(token);
                }
            }
            Event::ApiTokenUsed { id, at } => {
                if let Some(mut entry) = self.api_tokens.get_mut(id) {
                    let mut token = (**entry).clone();
                    token.last_used_at = Some(*at);
                    *entry = Arc::new(token);
                }
            }
            Event::SessionStarted { session } => {
                // Logging in sweeps that user's sessions that have run out, so sessions
                // never pile up for anyone.
                let expired: Vec<SessionId> = self
                    .sessions
                    .iter()
                    .filter(|s| s.user_id == session.user_id && !s.is_valid_at(session.created_at))
                    .map(|s| s.id)
                    .collect();
                self.end_sessions(&expired);
                self.session_digests
                    .insert(session.digest.0.clone(), session.id);
                self.sessions.insert(session.id, Arc::new(session.clone()));
            }
            Event::SessionSeen { id, at } => {
                if let Some(mut entry) = self.sessions.get_mut(id) {
                    let mut session = (**entry).clone();
                    session.last_seen_at = session.last_seen_at.max(*at);
                    *entry = Arc::new(session);
                }
            }
            Event::SessionsEnded { ids, .. } => self.end_sessions(ids),
            Event::IntegrationCreated { integration, .. }
            | Event::IntegrationUpdated { integration, .. } => {
                if let Some(old) = self.integrations.get(&integration.id).map(|i| i.clone()) {
                    self.integration_keys
                        .remove(&crate::secret::digest(&old.key.0).0);
                }
                if integration.deleted_at.is_none() {
                    self.integration_keys
                        .insert(crate::secret::digest(&integration.key.0).0, integration.id);
                }
                self.integrations
                    .insert(integration.id, Arc::new(integration.clone()));
            }
            Event::IntegrationDeleted { id, at, .. } => {
                if let Some(mut entry) = self.integrations.get_mut(id) {
                    self.integration_keys
                        .remove(&crate::secret::digest(&entry.key.0).0);
                    let mut integration = (**entry).clone();
                    integration.deleted_at = Some(*at);
                    *entry = Arc::new(integration);
                }
            }
            Event::HeartbeatCreated { heartbeat, .. } => {
                if heartbeat.deleted_at.is_none() {
                    self.heartbeat_tokens
                        .insert(heartbeat.token.clone(), heartbeat.id);
                }
                self.heartbeats
                    .insert(heartbeat.id, Arc::new(heartbeat.clone()));
            }
            Event::HeartbeatDeleted { id, at, .. } => {
                if let Some(heartbeat) = self.heartbeats.get(id).map(|h| h.clone()) {
                    self.heartbeat_tokens
                        .remove_if(&heartbeat.token, |_, holder| holder == id);
                }
                self.update_heartbeat(id, |hb| hb.deleted_at = Some(*at));
            }
            Event::HeartbeatBeat { id, at } => self.update_heartbeat(id, |hb| hb.record_beat(*at)),
            Event::HeartbeatMissed {
                id,
                deadline,
                last_beat_at,
                incident_id,
                ..
            } => self.update_heartbeat(id, |hb| {
                hb.record_miss(*deadline, *last_beat_at, *incident_id)
            }),
            Event::MaintenanceStarted {
                service_id, until, ..
            } => self.update_service(service_id, |s| s.maintenance_until = Some(*until)),
            Event::MaintenanceEnded { service_id, .. } => {
                self.update_service(service_id, |s| s.maintenance_until = None)
            }
            Event::WebhookCreated { webhook, .. } => self.webhooks.apply_created(webhook),
            Event::WebhookDeleted { id, at, .. } => self.webhooks.apply_deleted(*id, *at),
            Event::WebhookAttempted(attempt) => self.webhooks.apply_attempt(attempt),
        }
        None
    }

    /// Remembers that an integration sent an event at `at` (never moves back in time).
    pub fn note_integration_event(&self, id: IntegrationId, at: Timestamp) {
        let mut seen = self.integration_seen.entry(id).or_insert(at);
        if *seen < at {
            *seen = at;
        }
    }

    fn update_heartbeat(&self, id: &HeartbeatId, change: impl FnOnce(&mut Heartbeat)) {
        if let Some(mut entry) = self.heartbeats.get_mut(id) {
            let mut heartbeat = (**entry).clone();
            change(&mut heartbeat);
            *entry = Arc::new(heartbeat);
        }
    }

    fn update_service(&self, id: &ServiceId, change: impl FnOnce(&mut Service)) {
        if let Some(mut entry) = self.services.get_mut(id) {
            let mut service = (**entry).clone();
            change(&mut service);
            *entry = Arc::new(service);
        }
    }

    fn end_sessions(&self, ids: &[SessionId]) {
        for id in ids {
            if let Some((_, session)) = self.sessions.remove(id) {
                self.session_digests.remove(&session.digest.0);
            }
        }
    }

    /// The live sessions of one user, newest first.
    pub fn sessions_of(&self, user: UserId) -> Vec<Arc<Session>> {
        let mut sessions: Vec<_> = self
            .sessions
            .iter()
            .filter(|s| s.user_id == user)
            .map(|s| s.clone())
            .collect();
        sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        sessions
    }

    fn apply_incident(&self, change: &IncidentChange) -> Option<Applied> {
        if change.actor.kind == ActorKind::Integration {
            if let Some(id) = change.actor.id {
                self.note_integration_event(IntegrationId(id), change.at);
            }
        }
        if let IncidentChangeKind::Triggered(incident) = &change.kind {
            // A snapshot restores incidents as the system: their last alert still dates
            // the integration.
            if let Some(alert) = incident.alerts().last() {
                self.note_integration_event(alert.integration_id, alert.received_at);
            }
            let mut incident = (**incident).clone();
            incident.tidy();
            if self.seq_in_fold.load(Ordering::Relaxed) {
                incident.seq = self.max_seq.load(Ordering::Relaxed) + 1;
            }
            // Restored from a snapshot or replayed, the policy is a copy of its own: share
            // the schedule's while it is still the same (one per schedule, not one each).
            if let Some(schedule) = self.schedules.get(&incident.schedule_id) {
                if !Arc::ptr_eq(&schedule.escalation_policy, &incident.escalation_policy)
                    && schedule.escalation_policy == incident.escalation_policy
                {
                    incident.escalation_policy = schedule.escalation_policy.clone();
                }
            }
            let incident = Arc::new(incident);
            let slot = IncidentSlot::new(incident.clone(), self.position.load(Ordering::Relaxed));
            // A fresh id: nobody holds its lock (a command locks only an incident it
            // found in memory or thawed).
            let guard = self.locks.try_lock(incident.id);
            self.index_new(&incident);
            self.incidents.insert(incident.id, slot);
            self.webhooks
                .on_incident_change(self, change, None, &incident);
            return Some(Applied {
                incident,
                new_slot_guard: guard,
            });
        }
        let (before, next) = {
            // Read-modify-write under the shard's write lock (a pure fold: it takes no
            // other lock).
            let mut slot = self.incidents.get_mut(&change.incident_id)?;
            let position = self.position.load(Ordering::Relaxed);
            if position > 0 && slot.pos >= position {
                // Shared journals: thawed from a row that already holds this change.
                return None;
            }
            let before = slot.current.clone();
            let mut next = (*before).clone();
            next.apply(change.at, &change.kind, &change.actor);
            let next = Arc::new(next);
            slot.current = next.clone();
            slot.pos = position;
            (before, next)
        };
        self.reindex(&before, &next);
        self.webhooks
            .on_incident_change(self, change, Some(before.state), &next);
        Some(Applied {
            incident: next,
            new_slot_guard: None,
        })
    }

    fn index_new(&self, incident: &Incident) {
        self.max_seq.fetch_max(incident.seq, Ordering::Relaxed);
        self.counts[state_index(incident.state)].fetch_add(1, Ordering::Relaxed);
        write(&self.order).insert(incident.seq, incident.id);
        self.analytics.record(incident);
        if incident.is_open() {
            write(&self.open).insert(incident.seq);
            if let Some(key) = &incident.dedup_key {
                self.dedup
                    .insert((incident.service_id, key.to_string()), incident.id);
            }
        }
    }

    fn reindex(&self, before: &Incident, after: &Incident) {
        self.analytics.record(after);
        if before.state != after.state {
            self.counts[state_index(before.state)].fetch_sub(1, Ordering::Relaxed);
            self.counts[state_index(after.state)].fetch_add(1, Ordering::Relaxed);
        }
        if before.is_open() && !after.is_open() {
            write(&self.open).remove(&after.seq);
            if let Some(key) = &after.dedup_key {
                self.dedup
                    .remove_if(&(after.service_id, key.to_string()), |_, id| {
                        *id == after.id
                    });
            }
        }
    }

    /// A live (not deleted) user.
    pub fn user(&self, id: UserId) -> Option<Arc<User>> {
        live(self.users.get(&id).map(|u| u.clone()), |u| {
            u.deleted_at.is_none()
        })
    }

    /// A user's contact methods and rules (empty for one with none).
    pub fn contacts_of(&self, user: UserId) -> Arc<UserContacts> {
        self.contacts
            .get(&user)
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    fn edit_contacts(&self, user: UserId, edit: impl FnOnce(&mut UserContacts)) {
        let mut entry = self.contacts.entry(user).or_default();
        let mut contacts = (**entry).clone();
        edit(&mut contacts);
        *entry = Arc::new(contacts);
    }

    /// A user, deleted or not (for incident history).
    pub fn user_any(&self, id: UserId) -> Option<Arc<User>> {
        self.users.get(&id).map(|u| u.clone())
    }

    /// The incident's service name and assignee as messages and webhook envelopes show
    /// them (deleted ones included: history keeps their names).
    pub fn envelope_names(
        &self,
        incident: &crate::domain::Incident,
    ) -> crate::domain::webhook::EnvelopeNames {
        crate::domain::webhook::EnvelopeNames {
            service_name: self
                .service_any(incident.service_id)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            assignee: incident
                .assigned_to
                .and_then(|id| self.user_any(id))
                .map(|u| (u.name.clone(), u.email.clone())),
        }
    }

    /// A live service.
    pub fn service(&self, id: ServiceId) -> Option<Arc<Service>> {
        live(self.services.get(&id).map(|s| s.clone()), |s| {
            s.deleted_at.is_none()
        })
    }

    /// A service, deleted or not.
    pub fn service_any(&self, id: ServiceId) -> Option<Arc<Service>> {
        self.services.get(&id).map(|s| s.clone())
    }

    /// A live schedule.
    pub fn schedule(&self, id: ScheduleId) -> Option<Arc<Schedule>> {
        live(self.schedules.get(&id).map(|s| s.clone()), |s| {
            s.deleted_at.is_none()
        })
    }

    /// A schedule, deleted or not.
    pub fn schedule_any(&self, id: ScheduleId) -> Option<Arc<Schedule>> {
        self.schedules.get(&id).map(|s| s.clone())
    }

    /// The latest state of an incident.
    pub fn incident(&self, id: IncidentId) -> Option<Arc<Incident>> {
        self.incidents.get(&id).map(|slot| slot.current())
    }

    /// A live heartbeat, as recorded.
    pub fn heartbeat(&self, id: HeartbeatId) -> Option<Arc<Heartbeat>> {
        live(self.heartbeats.get(&id).map(|h| h.clone()), |h| {
            h.deleted_at.is_none()
        })
    }
}

fn live<T>(value: Option<Arc<T>>, is_live: impl Fn(&T) -> bool) -> Option<Arc<T>> {
    value.filter(|v| is_live(v))
}

/// Index locks are held for a map operation only; a poisoned lock still holds a valid map.
pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// See [`write`].
pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn one_holder_per_incident_and_nothing_left_at_rest() {
        block_on(async {
            let locks = IncidentLocks::default();
            let (a, b) = (IncidentId::new(), IncidentId::new());
            let held = locks.lock(a).await;
            assert!(
                locks.try_lock(a).is_none(),
                "a second holder of one incident"
            );
            // Another incident is independent.
            let other = locks.try_lock(b).expect("another incident's lock");
            drop(other);
            assert_eq!(locks.len(), 1, "only the held incident has an entry");
            // A waiter gets it once the holder lets go.
            let waiter = {
                let locks = locks.clone();
                tokio::spawn(async move {
                    let _guard = locks.lock(a).await;
                })
            };
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished());
            drop(held);
            waiter.await.expect("the waiter ran");
            assert!(
                locks.is_empty(),
                "every entry goes when nobody holds or awaits it"
            );
        });
    }

    #[test]
    fn a_wait_given_up_takes_nothing_and_leaves_nothing() {
        block_on(async {
            let locks = IncidentLocks::default();
            let id = IncidentId::new();
            let held = locks.lock(id).await;
            let gave_up =
                tokio::time::timeout(std::time::Duration::from_millis(5), locks.lock(id)).await;
            assert!(gave_up.is_err(), "the lock was held");
            drop(held);
            assert!(locks.is_empty());
            // Still one permit: exactly one holder at a time.
            let again = locks.try_lock(id).expect("free again");
            assert!(locks.try_lock(id).is_none());
            drop(again);
            assert!(locks.is_empty());
        });
    }
}
