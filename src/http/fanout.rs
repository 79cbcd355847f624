//! Shared subscription executions: WebSocket subscribers whose document, operation,
//! variables and role are the same (and, for a document that reads fields only their owner
//! may see, the same person) form one group. The group's one execution resolves and
//! serializes each event once; every member writes its own operation `id` around the
//! shared payload. A member that falls behind lags alone (its own error, its stream ends);
//! one that joins a running group skips what was published before it joined, so it sees
//! exactly what a subscription of its own would.
//!
//! Only `incidentEvents` and `onCallChanged` subscriptions are shared (one root field, no
//! directives on it); every other operation goes through async-graphql's own WebSocket
//! protocol as before (see `ws.rs`).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use async_graphql::http::WebSocketProtocols;
use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{PathSegment, Pos, Request, Response, ServerError};
use dashmap::DashMap;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::domain::{Principal, Role, UserId};
use crate::graphql::KlaxonSchema;
use crate::graphql::subscription::{ShareTap, SubscriptionPermit, Upstream, lagged};
use crate::store::Store;

/// Fields whose value depends on who asks, not only on their role (a contact method's
/// target, a user's rules: their owner and admins see them). A document naming one of
/// them is shared only among the same person's subscriptions. Matched on the document's
/// text, so a false match only shares less.
const PERSONAL_FIELDS: [&str; 4] = [
    "contactMethods",
    "notificationRules",
    "target",
    "signingSecret",
];

/// Which published channel a shared subscription reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Channel {
    Updates,
    Handoffs,
}

/// The subscription's one root field, as a lag error names it.
#[derive(Clone, Debug)]
pub struct Root {
    channel: Channel,
    response_key: String,
    pos: Pos,
}

/// A client message, as far as routing it needs.
pub enum Incoming {
    /// A subscription that can be shared.
    Shareable {
        /// The operation id.
        id: String,
        /// The request.
        request: Box<Request>,
        /// Its root field.
        root: Root,
    },
    /// Any other operation: async-graphql runs it.
    Other {
        /// The operation id.
        id: String,
    },
    /// `complete` / `stop`.
    Stop {
        /// The operation id.
        id: String,
    },
    /// Anything else (pings, `connection_terminate`, malformed text): async-graphql
    /// answers it.
    Protocol,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<serde_json::Value>,
}

/// Reads what a client message asks for.
pub fn classify(message: &[u8]) -> Incoming {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(message) else {
        return Incoming::Protocol;
    };
    let Some(id) = envelope.id else {
        return Incoming::Protocol;
    };
    match envelope.kind.as_str() {
        "subscribe" | "start" => {
            let request = envelope
                .payload
                .and_then(|p| serde_json::from_value::<Request>(p).ok());
            // A payload async-graphql cannot read is its to refuse, as before.
            let Some(request) = request else {
                return Incoming::Protocol;
            };
            match root_of(&request) {
                Some(root) => Incoming::Shareable {
                    id,
                    request: Box::new(request),
                    root,
                },
                None => Incoming::Other { id },
            }
        }
        "complete" | "stop" => Incoming::Stop { id },
        _ => Incoming::Protocol,
    }
}

/// The root field of a shareable subscription: the selected operation is a subscription
/// with exactly one root field, `incidentEvents` or `onCallChanged`, without directives.
fn root_of(request: &Request) -> Option<Root> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let operation = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Single(_), Some(_)) => return None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    if operation.node.ty != OperationType::Subscription
        || !operation.node.directives.is_empty()
        || operation.node.selection_set.node.items.len() != 1
    {
        return None;
    }
    let Selection::Field(field) = &operation.node.selection_set.node.items[0].node else {
        return None;
    };
    if !field.node.directives.is_empty() {
        return None;
    }
    let channel = match field.node.name.node.as_str() {
        "incidentEvents" => Channel::Updates,
        "onCallChanged" => Channel::Handoffs,
        _ => return None,
    };
    Some(Root {
        channel,
        response_key: field.node.response_key().node.to_string(),
        pos: field.pos,
    })
}

/// What makes two subscriptions' results the same.
#[derive(Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    query: String,
    operation: Option<String>,
    variables: String,
    role: Role,
    person: Option<UserId>,
}

impl GroupKey {
    fn of(request: &Request, principal: &Principal) -> Self {
        let personal = principal.role != Role::Admin
            && PERSONAL_FIELDS.iter().any(|f| request.query.contains(f));
        Self {
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
            role: principal.role,
            person: personal.then(|| principal.user_id()).flatten(),
        }
    }
}

/// One response of a group's execution, serialized once.
struct Frame {
    /// The `seq` of the published message it answers ([`ShareTap::EVERYONE`]: every
    /// member gets it).
    seq: u64,
    /// The response's JSON; `None` marks the end of the execution.
    payload: Option<String>,
}

/// The shared executions, by what makes them the same.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    schema: KlaxonSchema,
    store: Store,
    groups: DashMap<GroupKey, Weak<Group>>,
    /// Frames a member may fall behind by before it lags.
    buffer: usize,
    members: AtomicUsize,
    groups_live: AtomicUsize,
}

impl Hub {
    /// A hub executing on `schema`; members lag after `buffer` frames.
    pub fn new(schema: KlaxonSchema, store: Store, buffer: usize) -> Self {
        Self {
            inner: Arc::new(HubInner {
                schema,
                store,
                groups: DashMap::new(),
                buffer: buffer.max(1),
                members: AtomicUsize::new(0),
                groups_live: AtomicUsize::new(0),
            }),
        }
    }

    /// Live shared subscriptions (members).
    pub fn members(&self) -> usize {
        self.inner.members.load(Ordering::Acquire)
    }

    /// Groups, each holding one receiver of the store's broadcast.
    pub fn groups(&self) -> usize {
        self.inner.groups_live.load(Ordering::Acquire)
    }

    /// Subscriptions in the sense `/healthz` and `/metrics` report: the store's receivers,
    /// with each group's one receiver counted as its members.
    pub fn subscribers(&self) -> usize {
        (self.inner.store.subscriber_count() + self.members()).saturating_sub(self.groups())
    }

    /// Joins (or forms) the group of `request` as `principal`, for operation `id`.
    pub fn join(
        &self,
        id: &str,
        request: Request,
        root: Root,
        principal: &Principal,
        protocol: WebSocketProtocols,
        permit: SubscriptionPermit,
    ) -> Member {
        let key = GroupKey::of(&request, principal);
        let hub = &self.inner;
        let entry = hub.groups.entry(key.clone());
        let running = match &entry {
            dashmap::Entry::Occupied(registered) => registered.get().upgrade(),
            dashmap::Entry::Vacant(_) => None,
        };
        let (group, frames, after) = match running {
            Some(group) => {
                let frames = group.frames.subscribe();
                let after = hub.published(root.channel);
                drop(entry);
                (group, frames, after)
            }
            None => {
                let formed = self.form(key, request, root.channel, principal);
                entry.insert(Arc::downgrade(&formed.0));
                formed
            }
        };
        hub.members.fetch_add(1, Ordering::AcqRel);
        let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".into());
        let kind = match protocol {
            WebSocketProtocols::SubscriptionsTransportWS => "data",
            WebSocketProtocols::GraphQLWS => "next",
        };
        Member {
            prefix: format!("{{\"type\":\"{kind}\",\"id\":{id},\"payload\":"),
            complete: format!("{{\"type\":\"complete\",\"id\":{id}}}"),
            frames: BroadcastStream::new(frames),
            after,
            root,
            state: MemberState::Live,
            _permit: permit,
            _group: group,
            hub: self.inner.clone(),
        }
    }

    /// A new group and its execution; returns it with the creator's receiver and cursor.
    /// Called under the registry entry's lock: nothing here may take it again.
    fn form(
        &self,
        key: GroupKey,
        request: Request,
        channel: Channel,
        principal: &Principal,
    ) -> (Arc<Group>, broadcast::Receiver<Arc<Frame>>, u64) {
        let hub = &self.inner;
        let upstream = match channel {
            Channel::Updates => Upstream::Updates(hub.store.subscribe()),
            Channel::Handoffs => Upstream::Handoffs(hub.store.subscribe_handoffs()),
        };
        hub.groups_live.fetch_add(1, Ordering::AcqRel);
        let after = hub.published(channel);
        let tap = Arc::new(ShareTap::new(upstream));
        let request = request.data(principal.clone()).data(tap.clone());
        let (sender, receiver) = broadcast::channel(hub.buffer);
        let group = Arc::new_cyclic(|me: &Weak<Group>| {
            let task = tokio::spawn(execute(
                hub.clone(),
                me.clone(),
                key.clone(),
                request,
                tap,
                sender.clone(),
            ));
            Group {
                key,
                frames: sender,
                task: task.abort_handle(),
                hub: Arc::downgrade(hub),
            }
        });
        (group, receiver, after)
    }
}

impl HubInner {
    fn published(&self, channel: Channel) -> u64 {
        match channel {
            Channel::Updates => self.store.update_seq(),
            Channel::Handoffs => self.store.handoff_seq(),
        }
    }

    /// Takes `group` out of the registry (if it is still the one there), so the next
    /// subscriber of its key forms a new one.
    fn forget(&self, key: &GroupKey, group: *const Group) {
        self.groups.remove_if(key, |_, registered| {
            std::ptr::eq(registered.as_ptr(), group)
        });
    }
}

/// One execution and its members' channel; ends its execution when the last member goes.
struct Group {
    key: GroupKey,
    frames: broadcast::Sender<Arc<Frame>>,
    task: AbortHandle,
    hub: Weak<HubInner>,
}

impl Drop for Group {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(hub) = self.hub.upgrade() {
            hub.forget(&self.key, self);
            hub.groups_live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Runs a group's execution: each response is serialized once and sent to every member.
/// A start error or a lag is the last response: the group leaves the registry before it is
/// sent, so a subscriber that arrives later forms a new group instead of joining one that
/// ends.
async fn execute(
    hub: Arc<HubInner>,
    me: Weak<Group>,
    key: GroupKey,
    request: Request,
    tap: Arc<ShareTap>,
    frames: broadcast::Sender<Arc<Frame>>,
) {
    let mut responses = hub.schema.execute_stream(request);
    let mut last = None;
    while let Some(response) = responses.next().await {
        let payload = serde_json::to_string(&response).unwrap_or_else(|e| {
            tracing::error!(error = %e, "a subscription response did not serialize");
            String::from("{\"data\":null}")
        });
        if !tap.started() || tap.seq() == ShareTap::EVERYONE {
            last = Some(payload);
            break;
        }
        let _ = frames.send(Arc::new(Frame {
            seq: tap.seq(),
            payload: Some(payload),
        }));
    }
    hub.forget(&key, me.as_ptr());
    // The last response (if the execution ended with one), then the end.
    for payload in [last.map(Some), Some(None)].into_iter().flatten() {
        let _ = frames.send(Arc::new(Frame {
            seq: ShareTap::EVERYONE,
            payload,
        }));
    }
}

enum MemberState {
    Live,
    /// Its last frame went out: `complete` is next.
    Completing,
    Done,
}

/// One subscriber of a group: yields the WebSocket text messages for its operation id,
/// ending with `complete`.
pub struct Member {
    prefix: String,
    complete: String,
    frames: BroadcastStream<Arc<Frame>>,
    /// Frames answering messages published up to this `seq` came before it joined.
    after: u64,
    root: Root,
    state: MemberState,
    _permit: SubscriptionPermit,
    _group: Arc<Group>,
    hub: Arc<HubInner>,
}

impl Member {
    /// The `complete` message of its operation.
    pub fn complete_message(&self) -> String {
        self.complete.clone()
    }

    fn next_message(&self, payload: &str) -> String {
        let mut text = String::with_capacity(self.prefix.len() + payload.len() + 1);
        text.push_str(&self.prefix);
        text.push_str(payload);
        text.push('}');
        text
    }

    /// The error this member gets when it alone fell `missed` frames behind: the same
    /// response an unshared subscription's lag gives.
    fn lag_payload(&self, missed: u64) -> String {
        let mut error: ServerError = lagged(missed).into_server_error(self.root.pos);
        error.path = vec![PathSegment::Field(self.root.response_key.clone())];
        serde_json::to_string(&Response::from_errors(vec![error])).unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.hub.members.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Stream for Member {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        loop {
            match self.state {
                MemberState::Done => return Poll::Ready(None),
                MemberState::Completing => {
                    self.state = MemberState::Done;
                    return Poll::Ready(Some(self.complete.clone()));
                }
                MemberState::Live => {}
            }
            match std::task::ready!(self.frames.poll_next_unpin(cx)) {
                Some(Ok(frame)) => {
                    if frame.seq != ShareTap::EVERYONE && frame.seq <= self.after {
                        continue;
                    }
                    match &frame.payload {
                        Some(payload) => {
                            if frame.seq == ShareTap::EVERYONE {
                                self.state = MemberState::Completing;
                            }
                            return Poll::Ready(Some(self.next_message(payload)));
                        }
                        None => self.state = MemberState::Completing,
                    }
                }
                Some(Err(BroadcastStreamRecvError::Lagged(missed))) => {
                    self.state = MemberState::Completing;
                    let payload = self.lag_payload(missed);
                    return Poll::Ready(Some(self.next_message(&payload)));
                }
                None => self.state = MemberState::Completing,
            }
        }
    }
}
