//! Live incident events, fed by the store's broadcast channel.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

    /// A slot, unless every one is taken.
    pub fn try_acquire(&self) -> Option<SubscriptionPermit> {
        self.acquire().ok()
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
pub struct SubscriptionPermit(Arc<AtomicUsize>);

impl Drop for SubscriptionPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The receiving end a shared execution (`http::fanout`) made when its group formed.
pub enum Upstream {
    /// For `incidentEvents`.
    Updates(broadcast::Receiver<IncidentUpdate>),
    /// For `onCallChanged`.
    Handoffs(broadcast::Receiver<OnCallChange>),
}

/// Put in the request data of a shared execution: hands the subscription resolver the
/// receiver made when the group formed (so the group is registered with the broadcast
/// from that moment), and records which published message the latest response answers,
/// so each member skips what was published before it joined.
pub struct ShareTap {
    upstream: Mutex<Option<Upstream>>,
    seq: AtomicU64,
    started: AtomicBool,
}

impl ShareTap {
    /// `seq` of a response that must reach every member: a start error, a lag.
    pub const EVERYONE: u64 = u64::MAX;

    /// A tap holding `upstream` for the resolver to take.
    pub fn new(upstream: Upstream) -> Self {
        Self {
            upstream: Mutex::new(Some(upstream)),
            seq: AtomicU64::new(Self::EVERYONE),
            started: AtomicBool::new(false),
        }
    }

    /// Whether the resolver started its stream: until it does, a response is a start
    /// error (bad arguments, an invalid document) and the last one.
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// The `seq` of the published message behind the latest response, or
    /// [`ShareTap::EVERYONE`] for a start error or a lag (the stream's last response).
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    fn take(&self) -> Option<Upstream> {
        self.upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// The shared execution's tap, if this request is one.
fn tap(ctx: &Context<'_>) -> Option<Arc<ShareTap>> {
    ctx.data_opt::<Arc<ShareTap>>().cloned()
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
        let tap = tap(ctx);
        let receiver = match tap.as_ref().and_then(|t| t.take()) {
            Some(Upstream::Updates(receiver)) => receiver,
            _ => store.subscribe(),
        };
        Ok(live(
            receiver,
            permit,
            tap,
            |update| update.seq,
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
        let tap = tap(ctx);
        let receiver = match tap.as_ref().and_then(|t| t.take()) {
            Some(Upstream::Handoffs(receiver)) => receiver,
            _ => store.subscribe_handoffs(),
        };
        Ok(live(
            receiver,
            permit,
            tap,
            |change| change.seq,
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
/// lag becomes one error and ends the stream; `permit` lives as long as the stream. In a
/// shared execution, `tap` learns the `seq` (read by `seq_of`) behind each item.
fn live<T, U>(
    receiver: broadcast::Receiver<T>,
    permit: Option<SubscriptionPermit>,
    tap: Option<Arc<ShareTap>>,
    seq_of: fn(&T) -> u64,
    select: impl Fn(T) -> Option<U> + Send + 'static,
) -> impl Stream<Item = Result<U>>
where
    T: Clone + Send + 'static,
{
    if let Some(tap) = &tap {
        tap.started.store(true, Ordering::Release);
    }
    BroadcastStream::new(receiver)
        .filter_map(move |item| {
            let (seq, item) = match item {
                Ok(value) => (seq_of(&value), select(value).map(Ok)),
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    (ShareTap::EVERYONE, Some(Err(lagged(missed))))
                }
            };
            if let (Some(tap), Some(_)) = (&tap, &item) {
                tap.seq.store(seq, Ordering::Release);
            }
            future::ready(item)
        })
        .scan((false, permit), |(ended, _permit), item| {
            if *ended {
                return future::ready(None);
            }
            *ended = item.is_err();
            future::ready(Some(item))
        })
}

/// The error a subscriber gets when it fell `missed` events behind.
pub fn lagged(missed: u64) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    coded(
        code::INTERNAL,
        format!(
            "this subscriber fell {missed} events behind and was dropped; resubscribe and refetch"
        ),
    )
    .extend_with(|_, e| e.set("lagged", missed))
}
