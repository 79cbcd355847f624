//! Request bodies, read whole before any handler runs, within [`MAX_BODY_BYTES`].
//! A body over the limit is read on and discarded (within a bound) before the 413, so a
//! client still uploading (Node's `fetch`, a browser) reads the answer instead of a reset.
//! It never holds a request longer than its deadlines, nor decides anything about it.

use std::future::Future;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::MAX_BODY_BYTES;
use crate::graphql::error::code;

/// Most bytes read and discarded past the limit before giving up and closing.
pub const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// Longest time spent discarding an oversized body.
pub const MAX_DRAIN_TIME: Duration = Duration::from_secs(10);
/// Longest time a body within the limit may take to arrive (1 MiB at ~35 KB/s).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Buffers the body, then calls `inner` (the rest of the router) with it; one of the
/// steps of the edge layer ([`super::edge`]).
pub async fn buffer<F, Fut>(request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let (parts, body) = request.into_parts();
    let api = parts.uri.path().starts_with("/api/") || parts.uri.path() == "/api";
    let events_api = parts.uri.path() == "/v2/enqueue";
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match read(body, declared).await {
        Ok(bytes) => inner(Request::from_parts(parts, Body::from(bytes))).await,
        // PagerDuty's clients expect its own shape for an event that is too large.
        Err(Refusal::TooLarge) if events_api => {
            let mut response = super::ingest::oversized_event();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Err(refusal) => {
            refusal.into_response(api || parts.uri.path().starts_with("/integrations/"))
        }
    }
}

/// Why a body was not accepted.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Over the limit (drained or not: the answer is the same).
    TooLarge,
    /// Within the limit but slower than [`BODY_READ_TIMEOUT`].
    TooSlow,
    /// The connection failed or the framing was invalid mid-body.
    Broken,
}

async fn read(mut body: Body, declared: Option<u64>) -> Result<Bytes, Refusal> {
    let start = Instant::now();
    let mut buffered: Vec<u8> = Vec::new();
    if declared.is_none_or(|len| len <= MAX_BODY_BYTES as u64) {
        loop {
            let frame = match tokio::time::timeout_at(start + BODY_READ_TIMEOUT, body.frame()).await
            {
                Err(_) => return Err(Refusal::TooSlow),
                Ok(None) => return Ok(Bytes::from(buffered)),
                Ok(Some(Err(_))) => return Err(Refusal::Broken),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers: nothing a handler reads
            };
            if buffered.len() + data.len() > MAX_BODY_BYTES {
                break;
            }
            if buffered.is_empty() && hyper::body::Body::is_end_stream(&body) {
                return Ok(data);
            }
            buffered.extend_from_slice(&data);
        }
    }
    drop(buffered);
    drain(body).await;
    Err(Refusal::TooLarge)
}

/// Reads and discards the rest, within [`MAX_DRAIN_BYTES`] and [`MAX_DRAIN_TIME`]. What is
/// left unread then is hyper's to discard or to close on.
async fn drain(mut body: Body) {
    let deadline = Instant::now() + MAX_DRAIN_TIME;
    let mut drained = 0usize;
    while drained <= MAX_DRAIN_BYTES {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => drained += frame.data_ref().map_or(0, Bytes::len),
            _ => return,
        }
    }
}

impl Refusal {
    fn into_response(self, api: bool) -> Response {
        let (status, message) = match self {
            Refusal::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is over 1 MiB ({MAX_BODY_BYTES} bytes); send a smaller request"
                ),
            ),
            Refusal::TooSlow => (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            ),
            Refusal::Broken => (
                StatusCode::BAD_REQUEST,
                "the request body could not be read".to_owned(),
            ),
        };
        let body = if api {
            serde_json::json!({ "error": message })
        } else {
            serde_json::json!({
                "errors": [{ "message": message, "extensions": { "code": code::BAD_USER_INPUT } }]
            })
        };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        // Part of the body may be unread: this connection cannot carry another request.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}
