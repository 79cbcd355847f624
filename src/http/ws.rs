//! GraphQL over WebSocket at `/graphql/ws`: both `graphql-transport-ws` and the legacy
//! `graphql-ws` protocol. Caps connections (503 when full) and subscriptions per
//! connection, and closes every socket cleanly when the server shuts down.

use async_graphql::Data;
use std::str::FromStr;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket, WebSocketProtocols, WsMessage};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt, future};

use super::AppState;
use crate::graphql::SubscriptionBudget;

/// Close code sent when the server goes away (RFC 6455 1001).
const GOING_AWAY: u16 = 1001;
/// Read buffer per connection. Clients send a few small messages, and tungstenite zeroes
/// the free part of this buffer on every read attempt: its 128 KiB default cost a 128 KiB
/// memset per outgoing event per subscriber (17% of the server's CPU in `fanout`) and
/// 128 KiB of resident memory per connection. Larger messages still arrive whole.
const READ_BUFFER_BYTES: usize = 4 * 1024;

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
            let (mut sink, stream) = socket.split();
            let input = stream
                .take_while(|message| future::ready(message.is_ok()))
                .filter_map(|message| {
                    future::ready(match message {
                        Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                        Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                        _ => None,
                    })
                });
            let mut data = Data::default();
            data.insert(SubscriptionBudget::new(state.subscriptions_per_connection));
            let mut output = WebSocket::new(state.schema.clone(), input, protocol)
                .connection_data(data)
                .map(|message| match message {
                    WsMessage::Text(text) => Message::Text(text.into()),
                    WsMessage::Close(code, reason) => Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })),
                });
            let mut shutdown = state.shutdown.clone();
            let stopping = async move {
                let _ = shutdown.wait_for(|stopping| *stopping).await;
            };
            tokio::pin!(stopping);
            loop {
                tokio::select! {
                    message = output.next() => {
                        let Some(message) = message else { break };
                        if sink.send(message).await.is_err() {
                            break;
                        }
                    }
                    _ = &mut stopping => {
                        let _ = sink
                            .send(Message::Close(Some(CloseFrame {
                                code: GOING_AWAY,
                                reason: "server shutting down".into(),
                            })))
                            .await;
                        break;
                    }
                }
            }
            let _ = sink.close().await;
            drop(permit);
        })
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
