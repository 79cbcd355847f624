//! Live incident events, fed by the store's broadcast channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Context, ID, Object, Result, Subscription};
use futures_util::{Stream, StreamExt, future};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::error::{code, coded};
use super::scalars::DateTime;
use super::types::{
    IncidentEventObject, ScheduleObject, UserObject, known_schedule, known_service, store,
};
use crate::store::{IncidentUpdate, OnCallChange};

/// Per-connection cap on live subscriptions, put in each WebSocket connection's data.
#[derive(Clone, Debug)]
pub struct SubscriptionBudget {
    active: Arc<AtomicUsize>,
    max: usize,
}

impl SubscriptionBudget {
    /// A budget of `max` concurrent subscriptions.
    pub fn new(max: usize) -> Self {
        Self {
            active: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    fn acquire(&self) -> Result<SubscriptionPermit> {
        let taken = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(SubscriptionPermit(self.active.clone())),
            Err(_) => Err(coded(
                code::RATE_LIMITED,
                format!(
                    "this connection already has {} subscriptions; complete one first",
                    self.max
                ),
            )),
        }
    }
}

/// Returns its slot to the budget when the subscription's stream is dropped.
#[derive(Debug)]
struct SubscriptionPermit(Arc<AtomicUsize>);

impl Drop for SubscriptionPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Subscription root.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every change to matching incidents, in the order it happened. A subscriber too slow
    /// to keep up receives one error (code INTERNAL, `extensions.lagged` = events missed)
    /// and its stream ends: resubscribe and refetch.
    async fn incident_events(
        &self,
        ctx: &Context<'_>,
        service_id: Option<ID>,
        schedule_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<IncidentEventObject>> + use<>> {
        let store = store(ctx);
        let service_id = service_id.map(|id| known_service(store, &id)).transpose()?;
        let schedule_id = schedule_id
            .map(|id| known_schedule(store, &id))
            .transpose()?;
        let permit = acquire(ctx)?;
        Ok(live(
            store.subscribe(),
            permit,
            move |update: IncidentUpdate| {
                let wanted = service_id.is_none_or(|s| update.incident.service_id == s)
                    && schedule_id.is_none_or(|s| update.incident.schedule_id == s);
                wanted.then_some(IncidentEventObject(update))
            },
        ))
    }

    /// An event at every on-call handoff (of one schedule, or of all), at the instant it
    /// happens: driven by the same deadline timers as escalations, not by polling.
    async fn on_call_changed(
        &self,
        ctx: &Context<'_>,
        schedule_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<OnCallChangeObject>> + use<>> {
        let store = store(ctx);
        let schedule_id = schedule_id
            .map(|id| known_schedule(store, &id))
            .transpose()?;
        let permit = acquire(ctx)?;
        Ok(live(
            store.subscribe_handoffs(),
            permit,
            move |change: OnCallChange| {
                schedule_id
                    .is_none_or(|s| change.schedule_id == s)
                    .then_some(OnCallChangeObject(change))
            },
        ))
    }
}

/// Who handed over to whom, and when.
pub struct OnCallChangeObject(pub OnCallChange);

#[Object(name = "OnCallChange")]
impl OnCallChangeObject {
    async fn schedule(&self, ctx: &Context<'_>) -> Option<ScheduleObject> {
        store(ctx)
            .state()
            .schedule_any(self.0.schedule_id)
            .map(ScheduleObject)
    }
    /// On call until `at` (null: nobody).
    async fn from(&self, ctx: &Context<'_>) -> Option<UserObject> {
        self.0
            .from
            .and_then(|id| store(ctx).state().user_any(id))
            .map(UserObject)
    }
    /// On call from `at` (null: nobody).
    async fn to(&self, ctx: &Context<'_>) -> Option<UserObject> {
        self.0
            .to
            .and_then(|id| store(ctx).state().user_any(id))
            .map(UserObject)
    }
    /// The handoff instant.
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }
}

/// This connection's slot for one more subscription (none outside WebSockets).
fn acquire(ctx: &Context<'_>) -> Result<Option<SubscriptionPermit>> {
    ctx.data_opt::<SubscriptionBudget>()
        .map(SubscriptionBudget::acquire)
        .transpose()
}

/// A subscriber's view of a broadcast channel: `select` keeps and maps what it wants; a
/// lag becomes one error and ends the stream; `permit` lives as long as the stream.
fn live<T, U>(
    receiver: broadcast::Receiver<T>,
    permit: Option<SubscriptionPermit>,
    select: impl Fn(T) -> Option<U> + Send + 'static,
) -> impl Stream<Item = Result<U>>
where
    T: Clone + Send + 'static,
{
    BroadcastStream::new(receiver)
        .filter_map(move |item| {
            future::ready(match item {
                Ok(value) => select(value).map(Ok),
                Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Err(lagged(missed))),
            })
        })
        .scan((false, permit), |(ended, _permit), item| {
            if *ended {
                return future::ready(None);
            }
            *ended = item.is_err();
            future::ready(Some(item))
        })
}

fn lagged(missed: u64) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    coded(
        code::INTERNAL,
        format!(
            "this subscriber fell {missed} events behind and was dropped; resubscribe and refetch"
        ),
    )
    .extend_with(|_, e| e.set("lagged", missed))
}
