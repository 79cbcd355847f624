//! The outbound webhook worker: one task that sends every delivery the store decides,
//! signed, retrying by [`RetryPolicy`], and journals each attempt.
//!
//! The store is the truth: a queued id is only a hint to look. For each (webhook, incident)
//! pair one delivery is on its way at a time (in flight, or waiting for its retry), and
//! the next one (the pair's oldest pending, by `seq`) starts only once it is SENT or
//! FAILED, so one incident's events reach a webhook in the order they happened. Waits
//! use `tokio::time` and timestamps the store's clock, so tests can pause time.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::http_out::Outbound;
use crate::clock::instant_of;
use crate::domain::webhook::{AttemptOutcome, AttemptRecord, RetryPolicy};
use crate::domain::{IncidentId, WebhookDelivery, WebhookDeliveryId, WebhookId};
use crate::store::Store;

/// Most attempts in flight at once; the rest wait their turn.
const MAX_IN_FLIGHT: usize = 64;

type Pair = (WebhookId, IncidentId);
/// What an attempt task returns: which delivery, its pair, what it came to.
type Done = (WebhookDeliveryId, Pair, Option<AttemptOutcome>);

/// A number in `-1.0..=1.0` from the OS's random source (0 if it fails).
fn jitter() -> f64 {
    match getrandom::u32() {
        Ok(n) => f64::from(n) / f64::from(u32::MAX) * 2.0 - 1.0,
        Err(_) => 0.0,
    }
}

struct Worker {
    store: Store,
    outbound: Outbound,
    policy: RetryPolicy,
    /// Pairs with a delivery on its way.
    busy: HashSet<Pair>,
    /// Deliveries waiting for their next attempt.
    waiting: BTreeSet<(Instant, WebhookDeliveryId, Pair)>,
    /// Due, waiting for a free slot.
    ready: VecDeque<(WebhookDeliveryId, Pair)>,
    /// Attempts in flight.
    running: JoinSet<Done>,
    /// Which delivery each running task is, should it panic.
    tasks: HashMap<tokio::task::Id, (WebhookDeliveryId, Pair)>,
}

/// Sends deliveries until `queue` closes (the store is gone).
pub async fn run_webhooks(
    store: Store,
    outbound: Outbound,
    policy: RetryPolicy,
    mut queue: mpsc::UnboundedReceiver<WebhookDeliveryId>,
) {
    let mut worker = Worker {
        store,
        outbound,
        policy,
        busy: HashSet::new(),
        waiting: BTreeSet::new(),
        ready: VecDeque::new(),
        running: JoinSet::new(),
        tasks: HashMap::new(),
    };
    let mut batch = Vec::with_capacity(256);
    loop {
        let wake = worker.waiting.first().map(|(at, _, _)| *at);
        tokio::select! {
            received = queue.recv_many(&mut batch, 256) => {
                if received == 0 {
                    break;
                }
                // Sent by the engine holder only; a new holder re-queues what is pending.
                let holder = worker.store.is_engine_holder();
                for id in batch.drain(..) {
                    if holder {
                        worker.consider(id);
                    }
                }
            }
            Some(done) = worker.running.join_next_with_id() => worker.finished(done),
            _ = sleep_until(wake) => {
                let now = Instant::now();
                while let Some(&(at, id, pair)) = worker.waiting.first() {
                    if at > now {
                        break;
                    }
                    worker.waiting.pop_first();
                    worker.ready.push_back((id, pair));
                }
            }
        }
        worker.start_ready();
    }
    worker.running.shutdown().await;
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Worker {
    /// A delivery was decided (or found pending at start-up): start its pair's oldest
    /// pending delivery unless the pair already has one on its way.
    fn consider(&mut self, id: WebhookDeliveryId) {
        let Some(delivery) = self.store.state().webhooks.delivery(id) else {
            return;
        };
        if !delivery.is_pending() {
            return;
        }
        let pair = (delivery.webhook_id, delivery.incident_id);
        if self.busy.contains(&pair) {
            return;
        }
        self.start_pair(pair);
    }

    /// Starts (or schedules) the pair's oldest pending delivery, if any.
    fn start_pair(&mut self, pair: Pair) {
        let Some(head) = self.store.state().webhooks.first_pending(pair.0, pair.1) else {
            self.busy.remove(&pair);
            return;
        };
        self.busy.insert(pair);
        self.schedule(&head);
    }

    fn schedule(&mut self, delivery: &WebhookDelivery) {
        let pair = (delivery.webhook_id, delivery.incident_id);
        match delivery.next_attempt_at {
            Some(at) if at > self.store.clock().now() => {
                let at = instant_of(self.store.clock().as_ref(), at);
                self.waiting.insert((at, delivery.id, pair));
            }
            _ => self.ready.push_back((delivery.id, pair)),
        }
    }

    fn start_ready(&mut self) {
        while self.running.len() < MAX_IN_FLIGHT {
            let Some((id, pair)) = self.ready.pop_front() else {
                return;
            };
            let Some(delivery) = self
                .store
                .state()
                .webhooks
                .delivery(id)
                .filter(|d| d.is_pending())
            else {
                // Finished meanwhile, or its webhook was deleted: the pair moves on.
                self.start_pair(pair);
                continue;
            };
            let store = self.store.clone();
            let outbound = self.outbound.clone();
            let policy = self.policy;
            let handle = self.running.spawn(async move {
                let outcome = attempt(&store, &outbound, &policy, &delivery).await;
                (delivery.id, pair, outcome)
            });
            self.tasks.insert(handle.id(), (id, pair));
        }
    }

    fn finished(&mut self, done: Result<(tokio::task::Id, Done), tokio::task::JoinError>) {
        let (id, pair, outcome) = match done {
            Ok((task, result)) => {
                self.tasks.remove(&task);
                result
            }
            Err(error) => {
                let Some((id, pair)) = self.tasks.remove(&error.id()) else {
                    return;
                };
                tracing::error!(delivery = %id, %error, "webhook attempt failed to run");
                (id, pair, None)
            }
        };
        match outcome {
            Some(AttemptOutcome::Retry { next_attempt_at }) => {
                let at = instant_of(self.store.clock().as_ref(), next_attempt_at);
                self.waiting.insert((at, id, pair));
            }
            // Finished (or its webhook is gone): the pair's next delivery may go.
            _ => {
                self.busy.remove(&pair);
                self.start_pair(pair);
            }
        }
    }
}

/// One attempt: post, decide, journal. `None` when there is nothing to send (the webhook
/// was deleted).
async fn attempt(
    store: &Store,
    outbound: &Outbound,
    policy: &RetryPolicy,
    delivery: &WebhookDelivery,
) -> Option<AttemptOutcome> {
    let webhook = store.state().webhooks.webhook(delivery.webhook_id)?;
    let sent = outbound
        .post_signed(
            &webhook.url,
            delivery.body.as_bytes(),
            webhook.secret.0.as_bytes(),
            &delivery.id.to_string(),
        )
        .await;
    let now = store.clock().now();
    let attempts = delivery.attempts + 1;
    let outcome = policy.outcome(
        sent.delivered(),
        sent.retryable(),
        delivery.created_at,
        attempts,
        now,
        jitter(),
    );
    match outcome {
        AttemptOutcome::Sent => {}
        AttemptOutcome::Retry { .. } => tracing::debug!(
            delivery = %delivery.id,
            webhook = %webhook.id,
            attempts,
            error = sent.error.as_deref().unwrap_or(""),
            "webhook delivery failed; will retry"
        ),
        AttemptOutcome::Failed => tracing::warn!(
            delivery = %delivery.id,
            webhook = %webhook.id,
            attempts,
            error = sent.error.as_deref().unwrap_or(""),
            "webhook delivery given up"
        ),
    }
    let record = AttemptRecord {
        delivery_id: delivery.id,
        webhook_id: webhook.id,
        at: now,
        response_status: sent.status,
        error: sent.error,
        duration_ms: u64::try_from(sent.duration.as_millis()).unwrap_or(u64::MAX),
        outcome,
    };
    match store.record_webhook_attempt(record).await {
        Ok(()) => Some(outcome),
        Err(error) => {
            // Not recorded: try again later, as if it had failed (a receiver may see it
            // twice, under the same X-Klaxon-Delivery).
            tracing::error!(delivery = %delivery.id, %error, "could not record a webhook attempt");
            let delay = chrono::TimeDelta::from_std(policy.base).unwrap_or_default();
            Some(AttemptOutcome::Retry {
                next_attempt_at: now + delay,
            })
        }
    }
}
