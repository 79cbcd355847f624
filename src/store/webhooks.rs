//! Outbound webhooks as state and commands: `create_webhook`, `delete_webhook`, the list,
//! and the deliveries.
//!
//! Deliveries are decided inside the fold ([`WebhookState::on_incident_change`], called
//! by [`State::apply`] for every incident change): a change that is a trigger,
//! acknowledgement, resolution or escalation makes one delivery per matching live
//! webhook, with an id derived from the change (see
//! [`crate::domain::webhook::delivery_id`]) and its body rendered from the applied
//! incident. So the incident's own journal record is the delivery's: there is no second
//! write in the trigger path, and a crash right after the incident's commit still sends
//! the event after restart (replay decides the same deliveries). Attempts are journaled
//! as `Event::WebhookAttempted`.
//!
//! New deliveries are handed to the worker (`engine::webhooks`) straight from the fold
//! once the store is live (replay hands nothing over; [`Store::resume`] re-queues every
//! pending delivery). The fold of one incident is serialized by its slot's lock, so one
//! incident's deliveries reach the worker in the order they happened.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use dashmap::DashMap;
use tokio::sync::mpsc;

use super::state::State;
use super::{CommandError, Store};
use crate::domain::integration::IntegrationSecret;
use crate::domain::webhook::{
    AttemptRecord, KEPT_DELIVERIES, MAX_WEBHOOKS, SECRET_PREFIX, WebhookEvent, delivery_id,
    parse_events, parse_url, render_envelope,
};
use crate::domain::{
    Action, DomainError, Event, Incident, IncidentChange, IncidentState, Principal, ServiceId,
    Webhook, WebhookDelivery, WebhookDeliveryId, WebhookId,
};

/// The webhooks part of the serving state.
#[derive(Debug, Default)]
pub struct WebhookState {
    /// Webhooks, deleted ones included.
    pub webhooks: DashMap<WebhookId, Arc<Webhook>>,
    /// Deliveries in memory, by id: every pending one, and the latest finished ones.
    pub deliveries: DashMap<WebhookDeliveryId, Arc<WebhookDelivery>>,
    /// Each webhook's deliveries in memory, oldest first.
    log: DashMap<WebhookId, Mutex<VecDeque<WebhookDeliveryId>>>,
    /// The last delivery `seq` handed out.
    seq: AtomicU64,
    /// Where new deliveries go once the store is live (unset during replay).
    outlet: OnceLock<mpsc::UnboundedSender<WebhookDeliveryId>>,
    /// The server's public URL (`--public-url`), recorded with new webhooks for links.
    public_url: OnceLock<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl WebhookState {
    /// Hands every delivery decided from now on to `outlet` (the worker's queue).
    pub fn connect(&self, outlet: mpsc::UnboundedSender<WebhookDeliveryId>) {
        let _ = self.outlet.set(outlet);
    }

    /// The live webhooks, oldest first.
    pub fn live(&self) -> Vec<Arc<Webhook>> {
        let mut hooks: Vec<_> = self
            .webhooks
            .iter()
            .filter(|w| w.is_live())
            .map(|w| w.clone())
            .collect();
        hooks.sort_by_key(|w| (w.created_at, w.id));
        hooks
    }

    /// A live webhook.
    pub fn webhook(&self, id: WebhookId) -> Option<Arc<Webhook>> {
        self.webhooks
            .get(&id)
            .map(|w| w.clone())
            .filter(|w| w.is_live())
    }

    /// One delivery.
    pub fn delivery(&self, id: WebhookDeliveryId) -> Option<Arc<WebhookDelivery>> {
        self.deliveries.get(&id).map(|d| d.clone())
    }

    /// A webhook's deliveries in memory, newest first.
    pub fn deliveries_of(&self, id: WebhookId) -> Vec<Arc<WebhookDelivery>> {
        let Some(log) = self.log.get(&id) else {
            return Vec::new();
        };
        let ids: Vec<WebhookDeliveryId> = lock(&log).iter().rev().copied().collect();
        ids.into_iter().filter_map(|id| self.delivery(id)).collect()
    }

    /// Every pending delivery, in creation order.
    pub fn pending(&self) -> Vec<Arc<WebhookDelivery>> {
        let mut pending: Vec<_> = self
            .deliveries
            .iter()
            .filter(|d| d.is_pending())
            .map(|d| d.clone())
            .collect();
        pending.sort_by_key(|d| d.seq);
        pending
    }

    /// The first pending delivery of `incident` to `webhook` (in creation order): the one
    /// that must finish before the next is sent.
    pub fn first_pending(
        &self,
        webhook: WebhookId,
        incident: crate::domain::IncidentId,
    ) -> Option<Arc<WebhookDelivery>> {
        let log = self.log.get(&webhook)?;
        let ids: Vec<WebhookDeliveryId> = lock(&log).iter().copied().collect();
        drop(log);
        ids.into_iter()
            .filter_map(|id| self.delivery(id))
            .filter(|d| d.incident_id == incident && d.is_pending())
            .min_by_key(|d| d.seq)
    }

    pub(super) fn apply_created(&self, webhook: &Webhook) {
        self.webhooks.insert(webhook.id, Arc::new(webhook.clone()));
    }

    pub(super) fn apply_deleted(&self, id: WebhookId, at: crate::domain::Timestamp) {
        if let Some(mut entry) = self.webhooks.get_mut(&id) {
            let mut webhook = (**entry).clone();
            webhook.deleted_at.get_or_insert(at);
            *entry = Arc::new(webhook);
        }
        if let Some((_, log)) = self.log.remove(&id) {
            for delivery in lock(&log).drain(..) {
                self.deliveries.remove(&delivery);
            }
        }
    }

    pub(super) fn apply_attempt(&self, attempt: &AttemptRecord) {
        let Some(mut entry) = self.deliveries.get_mut(&attempt.delivery_id) else {
            return;
        };
        let next = entry.after_attempt(attempt);
        let status = next.status;
        *entry = Arc::new(next);
        drop(entry);
        let failing = match status {
            crate::domain::webhook::DeliveryStatus::Sent => false,
            crate::domain::webhook::DeliveryStatus::Failed => true,
            crate::domain::webhook::DeliveryStatus::Pending => return,
        };
        if let Some(mut hook) = self.webhooks.get_mut(&attempt.webhook_id) {
            if hook.failing != failing {
                let mut webhook = (**hook).clone();
                webhook.failing = failing;
                *hook = Arc::new(webhook);
            }
        }
        self.trim(attempt.webhook_id);
    }

    /// Restores one delivery from a snapshot.
    pub(super) fn restore(&self, delivery: WebhookDelivery) {
        self.seq.fetch_max(delivery.seq, Ordering::Relaxed);
        self.insert(delivery);
    }

    /// The last delivery `seq` handed out (for snapshots).
    pub(super) fn last_seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Restores the `seq` counter from a snapshot.
    pub(super) fn restore_seq(&self, seq: u64) {
        self.seq.fetch_max(seq, Ordering::Relaxed);
    }

    fn insert(&self, delivery: WebhookDelivery) {
        let webhook = delivery.webhook_id;
        let id = delivery.id;
        if self.deliveries.insert(id, Arc::new(delivery)).is_some() {
            return;
        }
        let log = self.log.entry(webhook).or_default();
        lock(&log).push_back(id);
        drop(log);
        self.trim(webhook);
    }

    /// Drops a webhook's oldest finished deliveries past [`KEPT_DELIVERIES`].
    fn trim(&self, webhook: WebhookId) {
        let Some(log) = self.log.get(&webhook) else {
            return;
        };
        let mut log = lock(&log);
        let mut extra = log.len().saturating_sub(KEPT_DELIVERIES);
        if extra == 0 {
            return;
        }
        log.retain(|id| {
            if extra == 0 {
                return true;
            }
            let finished = self.deliveries.get(id).is_none_or(|d| !d.is_pending());
            if finished {
                self.deliveries.remove(id);
                extra -= 1;
            }
            !finished
        });
    }

    /// The fold's part: the deliveries an applied incident change makes.
    pub(super) fn on_incident_change(
        &self,
        state: &State,
        change: &IncidentChange,
        before: Option<IncidentState>,
        incident: &Incident,
    ) {
        if self.webhooks.is_empty() {
            return;
        }
        let Some(event) = WebhookEvent::of_change(&change.kind, before, incident.state) else {
            return;
        };
        let hooks: Vec<Arc<Webhook>> = self
            .webhooks
            .iter()
            .filter(|w| w.wants(event, incident.service_id))
            .map(|w| w.clone())
            .collect();
        if hooks.is_empty() {
            return;
        }
        let names = state.envelope_names(incident);
        let mut hooks = hooks;
        hooks.sort_by_key(|w| w.id);
        for hook in hooks {
            let id = delivery_id(hook.id, incident, event, change.at);
            if self.deliveries.contains_key(&id) {
                continue;
            }
            let body = render_envelope(
                id,
                event,
                change.at,
                incident,
                &names,
                hook.link_base.as_deref(),
            );
            let delivery = WebhookDelivery {
                id,
                seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
                webhook_id: hook.id,
                incident_id: incident.id,
                event,
                body,
                status: crate::domain::webhook::DeliveryStatus::Pending,
                attempts: 0,
                response_status: None,
                last_error: None,
                created_at: change.at,
                last_attempt_at: None,
                duration_ms: None,
                next_attempt_at: None,
            };
            self.insert(delivery);
            if let Some(outlet) = self.outlet.get() {
                let _ = outlet.send(id);
            }
        }
    }
}

impl Store {
    /// Records the server's public URL (`--public-url`); new webhooks link incidents to
    /// it. Set once, at start-up.
    pub fn set_public_url(&self, url: Option<&str>) {
        if let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) {
            let _ = self
                .state()
                .webhooks
                .public_url
                .set(url.trim_end_matches('/').to_owned());
        }
    }

    /// Makes an outbound webhook; returns it with its signing secret (shown once).
    pub async fn create_webhook(
        &self,
        by: &Principal,
        url: &str,
        service_id: Option<&str>,
        events: Option<Vec<WebhookEvent>>,
    ) -> Result<(Arc<Webhook>, String), CommandError> {
        by.require(Action::ManageWebhooks)?;
        let url = parse_url(url)?;
        let events = parse_events(events);
        let service_id: Option<ServiceId> = match service_id {
            Some(raw) => Some(raw.parse().map_err(|e: DomainError| e.at("serviceId"))?),
            None => None,
        };
        let _config = self.config_lock().await?;
        if let Some(service) = service_id {
            if self.state().service(service).is_none() {
                return Err(DomainError::not_found("service", service)
                    .at("serviceId")
                    .into());
            }
        }
        if self.state().webhooks.live().len() >= MAX_WEBHOOKS {
            return Err(DomainError::invalid(
                "url",
                format!("at most {MAX_WEBHOOKS} webhooks; delete one first"),
            )
            .into());
        }
        let secret = crate::secret::random_secret(SECRET_PREFIX);
        let webhook = Webhook {
            id: WebhookId::new(),
            url,
            service_id,
            events,
            secret: IntegrationSecret(secret.clone()),
            failing: false,
            link_base: self.state().webhooks.public_url.get().cloned(),
            created_at: self.clock().now(),
            created_by: by.actor.clone(),
            deleted_at: None,
        };
        self.commit(Event::WebhookCreated {
            webhook: webhook.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok((Arc::new(webhook), secret))
    }

    /// Deletes a webhook: nothing more is sent to it. Returns its id.
    pub async fn delete_webhook(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<WebhookId, CommandError> {
        by.require(Action::ManageWebhooks)?;
        let id: WebhookId = id.parse()?;
        let _config = self.config_lock().await?;
        if self.state().webhooks.webhook(id).is_none() {
            return Err(DomainError::not_found("webhook", id).into());
        }
        self.commit(Event::WebhookDeleted {
            id,
            at: self.clock().now(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(id)
    }

    /// The live webhooks, oldest first (ADMIN).
    pub fn webhooks(&self, by: &Principal) -> Result<Vec<Arc<Webhook>>, DomainError> {
        by.require(Action::ManageWebhooks)?;
        Ok(self.state().webhooks.live())
    }

    /// Journals one attempt (the worker's record).
    pub async fn record_webhook_attempt(&self, attempt: AttemptRecord) -> Result<(), CommandError> {
        self.commit(Event::WebhookAttempted(attempt)).await?;
        Ok(())
    }

    /// Re-queues every pending delivery (start-up, after replay).
    pub(super) fn resume_webhooks(&self) {
        let webhooks = &self.state().webhooks;
        if let Some(outlet) = webhooks.outlet.get() {
            for delivery in webhooks.pending() {
                let _ = outlet.send(delivery.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhook::DeliveryStatus;
    use crate::domain::{IncidentId, Timestamp, WebhookEvent};
    use chrono::{TimeZone, Utc};

    fn at() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn delivery(webhook: WebhookId, seq: u64, status: DeliveryStatus) -> WebhookDelivery {
        WebhookDelivery {
            id: WebhookDeliveryId::new(),
            seq,
            webhook_id: webhook,
            incident_id: IncidentId::new(),
            event: WebhookEvent::Triggered,
            body: Arc::from("{}"),
            status,
            attempts: 0,
            response_status: None,
            last_error: None,
            created_at: at(),
            last_attempt_at: None,
            duration_ms: None,
            next_attempt_at: None,
        }
    }

    #[test]
    fn keeps_the_latest_finished_deliveries_and_every_pending_one() {
        let state = WebhookState::default();
        let hook = WebhookId::new();
        let mut pending = Vec::new();
        for seq in 1..=150 {
            // Every tenth of the oldest half is still pending.
            let status = if seq <= 75 && seq % 10 == 0 {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Sent
            };
            let d = delivery(hook, seq, status);
            if status == DeliveryStatus::Pending {
                pending.push(d.id);
            }
            state.restore(d);
        }
        let kept = state.deliveries_of(hook);
        assert_eq!(kept.len(), KEPT_DELIVERIES);
        // Newest first.
        assert_eq!(kept[0].seq, 150);
        for id in &pending {
            assert!(
                state.delivery(*id).is_some(),
                "a pending delivery was dropped"
            );
        }
        assert_eq!(state.pending().len(), pending.len());
        assert_eq!(state.deliveries.len(), KEPT_DELIVERIES);
        assert_eq!(state.last_seq(), 150);

        // A pending one that finishes is dropped once it is the oldest finished one and
        // a new delivery needs the room.
        let first = pending[0];
        state.apply_attempt(&AttemptRecord {
            delivery_id: first,
            webhook_id: hook,
            at: at(),
            response_status: Some(200),
            error: None,
            duration_ms: 3,
            outcome: crate::domain::webhook::AttemptOutcome::Sent,
        });
        assert_eq!(
            state.delivery(first).map(|d| d.status),
            Some(DeliveryStatus::Sent)
        );
        state.restore(delivery(hook, 151, DeliveryStatus::Pending));
        assert!(state.delivery(first).is_none());
        assert_eq!(state.deliveries_of(hook).len(), KEPT_DELIVERIES);

        // Deleting the webhook drops its deliveries.
        state.apply_deleted(hook, at());
        assert!(state.deliveries_of(hook).is_empty());
        assert!(state.deliveries.is_empty());
    }
}
