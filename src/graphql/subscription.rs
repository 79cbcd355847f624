//! Live incident events, fed by the store's broadcast channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Context, ID, Object, Result, Subscription};
use futures_util::{Stream, StreamExt, future};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::error::{api_error, code, coded};
use super::scalars::DateTime;
use super::types::{IncidentEventObject, ScheduleObject, UserObject, store};
use crate::domain::{DomainError, ScheduleId, ServiceId};
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

#[Subscription]
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
        let service_id = service_id
            .map(|id| -> Result<ServiceId> {
                let id: ServiceId = id.parse().map_err(api_error)?;
                store
                    .state()
                    .service_any(id)
                    .map(|s| s.id)
                    .ok_or_else(|| api_error(DomainError::not_found("service", id)))
            })
            .transpose()?;
        let schedule_id = schedule_id
            .map(|id| -> Result<ScheduleId> {
                let id: ScheduleId = id.parse().map_err(api_error)?;
                store
                    .state()
                    .schedule_any(id)
                    .map(|s| s.id)
                    .ok_or_else(|| api_error(DomainError::not_found("schedule", id)))
            })
            .transpose()?;
        let permit = ctx
            .data_opt::<SubscriptionBudget>()
            .map(SubscriptionBudget::acquire)
            .transpose()?;
        let wanted = move |update: &IncidentUpdate| {
            service_id.is_none_or(|s| update.incident.service_id == s)
                && schedule_id.is_none_or(|s| update.incident.schedule_id == s)
        };
        let events = BroadcastStream::new(store.subscribe()).filter_map(move |item| {
            future::ready(match item {
                Ok(update) if wanted(&update) => Some(Ok(IncidentEventObject(update))),
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Err(lagged(missed))),
            })
        });
        // End the stream right after a lag error; the permit lives as long as the stream.
        Ok(until_error(events, permit))
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
            .map(|id| -> Result<ScheduleId> {
                let id: ScheduleId = id.parse().map_err(api_error)?;
                store
                    .state()
                    .schedule(id)
                    .map(|s| s.id)
                    .ok_or_else(|| api_error(DomainError::not_found("schedule", id)))
            })
            .transpose()?;
        let permit = ctx
            .data_opt::<SubscriptionBudget>()
            .map(SubscriptionBudget::acquire)
            .transpose()?;
        let changes = BroadcastStream::new(store.subscribe_handoffs()).filter_map(move |item| {
            future::ready(match item {
                Ok(change) if schedule_id.is_none_or(|s| change.schedule_id == s) => {
                    Some(Ok(OnCallChangeObject(change)))
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Err(lagged(missed))),
            })
        });
        Ok(until_error(changes, permit))
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

/// Ends a stream right after its first error; `keep` lives as long as the stream.
fn until_error<S, T, K>(stream: S, keep: K) -> impl Stream<Item = Result<T>>
where
    S: Stream<Item = Result<T>>,
{
    stream.scan((false, keep), |(ended, _keep), item| {
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
