//! GraphQL over WebSocket at `/graphql/ws`: both `graphql-transport-ws` and the legacy
//! `graphql-ws` protocol. Caps connections (503 when full) and subscriptions per
//! connection, and closes every socket cleanly when the server shuts down.
//!
//! Authentication happens here, before async-graphql sees the connection: the first
//! message must be `connection_init` within 10 s (else close `4408`), carrying
//! `{"authorization": "Bearer <token>"}` (or `Authorization`), or the upgrade must have
//! carried the session cookie from a trusted origin; otherwise close `4403` (legacy:
//! `connection_error`, then close). A connection ends with `4403` the moment its
//! credential is revoked, ends or expires.

use async_graphql::Data;
use std::str::FromStr;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket, WebSocketProtocols, WsMessage};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::task::AtomicWaker;
use futures_util::{SinkExt, StreamExt, future};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use tokio_stream::StreamMap;

use super::AppState;
use super::auth::{origin_trusted, session_cookie};
use super::fanout;
use crate::domain::Principal;
use crate::graphql::SubscriptionBudget;

/// Close code: the credential is missing, invalid, revoked or expired.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code: no `connection_init` in time.
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Close code: a subscription before `connection_init` (graphql-transport-ws).
const CLOSE_UNAUTHORIZED: u16 = 4401;
/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Close code sent when the server goes away (RFC 6455 1001).
const GOING_AWAY: u16 = 1001;
/// Read buffer per connection. Clients send a few small messages, and tungstenite zeroes
/// the free part of this buffer on every read attempt: its 128 KiB default cost a 128 KiB
/// memset per outgoing event per subscriber (17% of the server's CPU in `fanout`) and
/// 128 KiB of resident memory per connection. Larger messages still arrive whole.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Client messages queued for async-graphql before the socket is read no further.
const FORWARD_BUFFER: usize = 16;

/// `GET /graphql/ws`.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = protocol(&headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    // The session cookie counts only on an upgrade from this site or a listed origin: a
    // page elsewhere cannot open a socket with a person's cookie.
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let cookie_principal = match origin {
        Some(origin) if !origin_trusted(&state, &headers, origin) => None,
        _ => session_cookie(&headers).and_then(|secret| state.gate.session(&secret).ok()),
    };
    let Ok(permit) = state.ws_connections.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections; try again later",
        )
            .into_response();
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            let (mut sink, mut stream) = socket.split();
            let (principal, init) =
                match admit(&state, &mut stream, protocol, cookie_principal).await {
                    Ok(admitted) => admitted,
                    Err(refusal) => {
                        for message in refusal {
                            let _ = sink.send(message).await;
                        }
                        let _ = sink.close().await;
                        drop(permit);
                        return;
                    }
                };
            // Client messages reach async-graphql through this channel, except shared
            // subscriptions (and their `complete`), which the hub serves. The socket is read
            // only while the channel has room, so a slow protocol task slows the reader.
            let (to_graphql, from_client) = tokio::sync::mpsc::channel::<Bytes>(FORWARD_BUFFER);
            let _ = to_graphql.try_send(Bytes::from(init));
            let mut to_graphql = Some(to_graphql);
            let input = tokio_stream::wrappers::ReceiverStream::new(from_client);
            let budget = SubscriptionBudget::new(state.subscriptions_per_connection);
            let mut data = Data::default();
            data.insert(budget.clone());
            data.insert(principal.clone());
            let mut control = Aborting(tokio::spawn(watch_credential(
                state.clone(),
                principal.clone(),
            )));
            // async-graphql's protocol runs in a task of its own too, so an event for a
            // shared subscription does not poll it.
            let mut output = WebSocket::new(state.schema.clone(), input, protocol)
                .connection_data(data)
                .map(|message| match message {
                    WsMessage::Text(text) => Message::Text(text.into()),
                    WsMessage::Close(code, reason) => Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })),
                });
            let (protocol_out, mut from_graphql) =
                tokio::sync::mpsc::channel::<Message>(FORWARD_BUFFER);
            let _graphql = Aborting(tokio::spawn(async move {
                while let Some(message) = output.next().await {
                    if protocol_out.send(message).await.is_err() {
                        return;
                    }
                }
            }));
            // The socket is read in a task of its own, woken only when the client sends
            // something: polling the read half on every outgoing event cost a tenth of the
            // server's CPU in `fanout`.
            let (from_socket, mut incoming) = tokio::sync::mpsc::channel::<Bytes>(FORWARD_BUFFER);
            let _reader = Aborting(tokio::spawn(read_socket(stream, from_socket)));
            // Shared subscriptions by operation id, and the ids async-graphql is running.
            let mut shared: StreamMap<String, fanout::Member> = StreamMap::new();
            let mut delegated: HashSet<String> = HashSet::new();
            // Nothing of the hub's may precede async-graphql's `connection_ack`.
            let mut acked = false;
            // The quiet sources (the credential's end, async-graphql's output, the client's
            // messages) wake this task through `quiet`, and are polled only after one of
            // them did: an event for a shared subscription, the common wake-up, polls the
            // shared subscriptions alone (polling every source on every event cost a
            // fifth of the server's CPU outside the kernel in `fanout`).
            let quiet = Arc::new(QuietWake::new());
            let quiet_waker = Waker::from(quiet.clone());
            // After a message from a quiet source the shared subscriptions go first, so a
            // busy async-graphql (unshared subscriptions on this connection) cannot starve
            // them, nor they it.
            let mut shared_first = false;
            loop {
                let next = future::poll_fn(|cx| {
                    quiet.task.register(cx.waker());
                    if shared_first && !shared.is_empty() {
                        if let Poll::Ready(Some((_, text))) = shared.poll_next_unpin(cx) {
                            return Poll::Ready(Next::Shared(text));
                        }
                    }
                    if quiet.woken.swap(false, Ordering::AcqRel) {
                        let mut quiet_cx = Context::from_waker(&quiet_waker);
                        if let Poll::Ready(ending) = Pin::new(&mut control.0).poll(&mut quiet_cx) {
                            return Poll::Ready(Next::Ending(ending.ok().flatten()));
                        }
                        // After a message a source may hold more: poll them all again next
                        // time.
                        if let Poll::Ready(message) = from_graphql.poll_recv(&mut quiet_cx) {
                            quiet.woken.store(true, Ordering::Release);
                            return Poll::Ready(Next::Graphql(message));
                        }
                        // The client is read only after async-graphql's `connection_ack`
                        // (nothing of the hub's may precede it) and while async-graphql
                        // has room for its input; until then, look again on every wake-up.
                        if let Some(tx) = &to_graphql {
                            if acked && tx.capacity() > 0 {
                                if let Poll::Ready(received) = incoming.poll_recv(&mut quiet_cx) {
                                    quiet.woken.store(true, Ordering::Release);
                                    return Poll::Ready(Next::Client(received));
                                }
                            } else {
                                quiet.woken.store(true, Ordering::Release);
                            }
                        }
                    }
                    if !shared_first && !shared.is_empty() {
                        if let Poll::Ready(Some((_, text))) = shared.poll_next_unpin(cx) {
                            return Poll::Ready(Next::Shared(text));
                        }
                    }
                    Poll::Pending
                })
                .await;
                shared_first = !matches!(next, Next::Shared(_));
                match next {
                    Next::Ending(message) => {
                        if let Some(message) = message {
                            let _ = sink.send(message).await;
                        }
                        break;
                    }
                    Next::Shared(text) => {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    Next::Graphql(message) => {
                        let Some(message) = message else { break };
                        if let Message::Text(text) = &message {
                            acked = true;
                            if let Some(id) = completed(text.as_str()) {
                                delegated.remove(&id);
                            }
                        }
                        if sink.send(message).await.is_err() {
                            break;
                        }
                    }
                    Next::Client(received) => {
                        // The client is gone: async-graphql's input ends, then its output.
                        let Some(bytes) = received else {
                            to_graphql = None;
                            continue;
                        };
                        let reply = match &state.fanout {
                            Some(hub) => {
                                route(&bytes, &mut shared, &mut delegated, |id, request, root| {
                                    let permit = budget.try_acquire()?;
                                    Some(hub.join(id, request, root, &principal, protocol, permit))
                                })
                            }
                            None => Route::Forward,
                        };
                        match reply {
                            Route::Forward => {
                                if let Some(tx) = &to_graphql {
                                    let _ = tx.try_send(bytes);
                                }
                            }
                            Route::Reply(text) => {
                                if sink.send(Message::Text(text.into())).await.is_err() {
                                    break;
                                }
                            }
                            Route::Done => {}
                        }
                    }
                }
            }
            drop(control);
            let _ = sink.close().await;
            drop(permit);
        })
}

/// What woke a connection's loop.
enum Next {
    /// Its credential ended, or the server shuts down: send this, then close.
    Ending(Option<Message>),
    /// A message of a shared subscription.
    Shared(String),
    /// async-graphql's next message (`None`: its protocol ended).
    Graphql(Option<Message>),
    /// The client's next message (`None`: the socket ended).
    Client(Option<Bytes>),
}

/// The waker of a connection's quiet sources: marks that one of them woke, then wakes the
/// connection's task. It starts woken, so the first poll polls every source.
struct QuietWake {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl QuietWake {
    fn new() -> Self {
        Self {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        }
    }
}

impl Wake for QuietWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// What to do with a client message after routing it.
enum Route {
    /// async-graphql handles it.
    Forward,
    /// Handled here; send this text.
    Reply(String),
    /// Handled here; nothing to send.
    Done,
}

/// Routes one client message: a shareable subscription joins its group (unless `join`
/// declines: this connection's subscriptions are all taken, and async-graphql then
/// answers exactly as before), `complete` of a shared one ends it here; everything
/// else goes to async-graphql. An id reused while its operation runs replaces it, on
/// either side, as async-graphql does on its own.
fn route(
    message: &[u8],
    shared: &mut StreamMap<String, fanout::Member>,
    delegated: &mut HashSet<String>,
    join: impl FnOnce(&str, async_graphql::Request, fanout::Root) -> Option<fanout::Member>,
) -> Route {
    match fanout::classify(message) {
        fanout::Incoming::Shareable { id, request, root } if !delegated.contains(&id) => {
            match join(&id, *request, root) {
                Some(member) => {
                    shared.insert(id, member);
                    Route::Done
                }
                None => {
                    shared.remove(&id);
                    delegated.insert(id);
                    Route::Forward
                }
            }
        }
        fanout::Incoming::Shareable { id, .. } | fanout::Incoming::Other { id } => {
            shared.remove(&id);
            delegated.insert(id);
            Route::Forward
        }
        fanout::Incoming::Stop { id } => match shared.remove(&id) {
            Some(member) => Route::Reply(member.complete_message()),
            None => Route::Forward,
        },
        fanout::Incoming::Protocol => Route::Forward,
    }
}

/// The operation id of an async-graphql `complete` message.
fn completed(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Complete {
        id: String,
    }
    if !text.starts_with("{\"type\":\"complete\"") {
        return None;
    }
    serde_json::from_str::<Complete>(text).ok().map(|c| c.id)
}

/// Aborts its task when dropped: a connection's helpers end with it.
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the client's messages into `to`, until the socket ends or nobody listens.
async fn read_socket(
    mut stream: futures_util::stream::SplitStream<axum::extract::ws::WebSocket>,
    to: tokio::sync::mpsc::Sender<Bytes>,
) {
    while let Some(Ok(message)) = stream.next().await {
        let bytes = match message {
            Message::Text(text) => Bytes::from(text),
            Message::Binary(bytes) => bytes,
            _ => continue,
        };
        if to.send(bytes).await.is_err() {
            return;
        }
    }
}

/// Waits for the reason this connection must close: its credential revoked, ended or
/// expired (`4403`), or the server shutting down (`1001`). Returns the close message.
async fn watch_credential(state: AppState, principal: Principal) -> Option<Message> {
    let mut revocations = state.store.revocations();
    let expiry = principal.expires_at.map(|at| {
        let left = (at - state.store.clock().now())
            .to_std()
            .unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    let mut shutdown = state.shutdown.clone();
    let stopping = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    tokio::pin!(stopping);
    let expired = async move {
        match expiry {
            Some(at) => tokio::time::sleep_until(at).await,
            None => future::pending().await,
        }
    };
    tokio::pin!(expired);
    let mut listening = true;
    loop {
        tokio::select! {
            revoked = revocations.recv(), if listening => {
                let ended = match revoked {
                    Ok(revoked) => revoked.ends(&principal),
                    // Missed some: check the credential itself.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        !state.gate.still_valid(&principal)
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        listening = false;
                        false
                    }
                };
                if ended {
                    return Some(close(CLOSE_FORBIDDEN, "the credential was revoked or ended"));
                }
            }
            _ = &mut expired => return Some(close(CLOSE_FORBIDDEN, "the credential expired")),
            _ = &mut stopping => {
                return Some(Message::Close(Some(CloseFrame {
                    code: GOING_AWAY,
                    reason: "server shutting down".into(),
                })));
            }
        }
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Reads the client's first message and decides who it is. On success, returns the
/// principal and the `connection_init` text to hand on to the protocol; on refusal, the
/// messages to send before closing.
async fn admit(
    state: &AppState,
    stream: &mut futures_util::stream::SplitStream<axum::extract::ws::WebSocket>,
    protocol: WebSocketProtocols,
    cookie: Option<Principal>,
) -> Result<(Principal, String), Vec<Message>> {
    let legacy = matches!(protocol, WebSocketProtocols::SubscriptionsTransportWS);
    let refuse = |message: &str| {
        if legacy {
            let error = serde_json::json!({ "type": "connection_error", "payload": { "message": message } });
            vec![
                Message::Text(error.to_string().into()),
                close(1000, message),
            ]
        } else {
            vec![close(CLOSE_FORBIDDEN, "Forbidden")]
        }
    };
    let first = loop {
        match tokio::time::timeout(INIT_TIMEOUT, stream.next()).await {
            Err(_) => {
                return Err(vec![close(
                    CLOSE_INIT_TIMEOUT,
                    "Connection initialisation timeout",
                )]);
            }
            Ok(None) | Ok(Some(Err(_))) => return Err(Vec::new()),
            Ok(Some(Ok(Message::Text(text)))) => break text.to_string(),
            Ok(Some(Ok(Message::Binary(bytes)))) => {
                break String::from_utf8_lossy(&bytes).into_owned();
            }
            Ok(Some(Ok(Message::Close(_)))) => return Err(Vec::new()),
            Ok(Some(Ok(_))) => continue,
        }
    };
    let message: serde_json::Value = serde_json::from_str(&first).unwrap_or_default();
    if message["type"] != "connection_init" {
        return Err(if legacy {
            refuse("send connection_init first")
        } else {
            vec![close(CLOSE_UNAUTHORIZED, "Unauthorized")]
        });
    }
    let payload = &message["payload"];
    let header = payload
        .get("authorization")
        .or_else(|| payload.get("Authorization"))
        .and_then(|v| v.as_str());
    let principal = match header {
        Some(header) => state.gate.bearer(header).ok(),
        None => cookie,
    };
    match principal {
        Some(principal) => Ok((principal, first)),
        None => Err(refuse(
            "connection_init needs {\"authorization\": \"Bearer <token>\"} or a session cookie",
        )),
    }
}

/// The first GraphQL subprotocol the client offers.
fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
}
