//! Alerts from monitoring tools: `POST /v2/enqueue` (PagerDuty's Events API v2, answered
//! in PagerDuty's shapes), `POST /integrations/{key}/{alertmanager,grafana,generic}` and
//! the same paths without the key (`Authorization: Bearer <key>`).
//!
//! The edge only authenticates the key, rate-limits, bounds concurrency, checks Grafana's
//! signature, and hands the body to the domain's parsers; the store decides. A key is any
//! integration's: the path (or `/v2/enqueue`) says the payload's format, the key says the
//! schedule. Nothing here logs a key, a secret or a body.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use tokio::sync::Semaphore;

use super::AppState;
use crate::domain::integration::{
    GenericEvent, IntegrationKind, PagerDutyEvent, Received, Signal, pagerduty_signal,
    read_pagerduty, webhook_signal,
};
use crate::domain::{DomainError, Integration, IntegrationId};
use crate::store::{CommandError, IngestOutcome};

/// How much monitors may send.
#[derive(Clone, Copy, Debug)]
pub struct IngestLimits {
    /// Events per minute one key may send, once its burst is spent (default 120, as
    /// PagerDuty allows).
    pub per_minute: u32,
    /// Events one key may send at once (default 1,000).
    pub burst: u32,
    /// Events being processed at once, over all keys (default 256): past it, 429, so a
    /// storm cannot starve people's own changes.
    pub concurrency: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            per_minute: 120,
            burst: 1_000,
            concurrency: 256,
        }
    }
}

/// The ingestion door: per-key rate limits and the global concurrency bound.
pub struct IngestGate {
    per_key: DefaultKeyedRateLimiter<IntegrationId>,
    in_flight: Arc<Semaphore>,
}

impl IngestGate {
    /// A door with `limits`.
    pub fn new(limits: IngestLimits) -> Self {
        let per_minute = NonZeroU32::new(limits.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            per_key: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            in_flight: Arc::new(Semaphore::new(limits.concurrency.max(1))),
        }
    }

    /// Takes one event for `id`, or says how long to wait.
    fn admit(&self, id: IntegrationId) -> Result<tokio::sync::OwnedSemaphorePermit, Duration> {
        use governor::clock::{Clock, DefaultClock};
        // The concurrency slot first: an event turned away because the server is busy
        // must not spend one of its key's tokens.
        let permit = self
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| Duration::from_secs(1))?;
        let now = DefaultClock::default().now();
        self.per_key
            .check_key(&id)
            .map_err(|n| n.wait_time_from(now))?;
        if self.per_key.len() > 10_000 {
            self.per_key.retain_recent();
        }
        Ok(permit)
    }
}

/// The ingestion routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/enqueue", post(enqueue))
        .route("/integrations/{key}/alertmanager", post(alertmanager_keyed))
        .route("/integrations/{key}/grafana", post(grafana_keyed))
        .route("/integrations/{key}/generic", post(generic_keyed))
        .route("/integrations/alertmanager", post(alertmanager))
        .route("/integrations/grafana", post(grafana))
        .route("/integrations/generic", post(generic))
}

fn json_response(status: StatusCode, body: impl serde::Serialize) -> Response {
    match serde_json::to_vec(&body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// PagerDuty's 202 body, from a struct rather than a `json!` value: the hot path of every
/// event.
fn accepted(dedup_key: &str) -> Response {
    #[derive(serde::Serialize)]
    struct Accepted<'a> {
        status: &'static str,
        message: &'static str,
        dedup_key: &'a str,
    }
    json_response(
        StatusCode::ACCEPTED,
        Accepted {
            status: "success",
            message: "Event processed",
            dedup_key,
        },
    )
}

fn retry_after(mut response: Response, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn made_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn record(state: &AppState, kind: IntegrationKind, result: &'static str) {
    state.metrics.ingestion_event(kind.as_str(), result);
}

// ---- PagerDuty Events API v2 ----------------------------------------------------------

fn invalid_event(errors: Vec<String>) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

/// The PagerDuty-shaped answer to a body over the server-wide limit (the body layer's).
pub fn oversized_event() -> Response {
    invalid_event(vec![format!(
        "The event is over {} bytes (512 KB)",
        crate::domain::integration::MAX_EVENT_BYTES
    )])
}

fn throttled(wait: Duration) -> Response {
    retry_after(
        json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "status": "throttle event",
                "message": "Requests for this routing key are arriving too quickly. Please retry later."
            }),
        ),
        wait,
    )
}

async fn enqueue(State(state): State<AppState>, body: Bytes) -> Response {
    let kind = IntegrationKind::EventsApiV2;
    let event: PagerDutyEvent = match read_pagerduty(&body) {
        Ok(event) => event,
        Err(errors) => {
            record(&state, kind, "rejected");
            return invalid_event(errors);
        }
    };
    let Some(key) = event
        .routing_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        record(&state, kind, "rejected");
        return invalid_event(vec!["'routing_key' is missing".into()]);
    };
    let Some(integration) = state.store.integration_by_key(key) else {
        record(&state, kind, "rejected");
        return invalid_event(vec![
            "'routing_key' does not match any integration: use the key of a Klaxon integration"
                .into(),
        ]);
    };
    let _permit = match state.ingest.admit(integration.id) {
        Ok(permit) => permit,
        Err(wait) => {
            record(&state, kind, "rate_limited");
            return throttled(wait);
        }
    };
    let received = Received {
        integration_id: integration.id,
        at: state.store.clock().now(),
    };
    let signal = match pagerduty_signal(event, made_key, received) {
        Ok(signal) => signal,
        Err(errors) => {
            record(&state, kind, "rejected");
            return invalid_event(errors);
        }
    };
    let dedup_key = signal.dedup_key().to_owned();
    match state.store.ingest(&integration, signal).await {
        Ok(result) => {
            record(&state, kind, result.outcome.as_str());
            accepted(&dedup_key)
        }
        Err(CommandError::Domain(e)) => {
            record(&state, kind, "rejected");
            invalid_event(vec![e.to_string()])
        }
        Err(CommandError::Conflict(_)) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"status": "error", "message": "Another Klaxon process changed the incident at the same moment; retry"}),
        ),
        Err(CommandError::Journal(e)) => {
            tracing::error!(error = %e, "could not record a monitor's event");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"status": "error", "message": "The event could not be recorded; retry"}),
            )
        }
    }
}

// ---- webhooks ---------------------------------------------------------------------------

fn webhook_error(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, json!({"error": message.into()}))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

async fn alertmanager_keyed(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    webhook(
        state,
        IntegrationKind::Alertmanager,
        Some(&key),
        headers,
        body,
    )
    .await
}

async fn grafana_keyed(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    webhook(state, IntegrationKind::Grafana, Some(&key), headers, body).await
}

async fn generic_keyed(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    webhook(state, IntegrationKind::Generic, Some(&key), headers, body).await
}

async fn alertmanager(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    webhook(state, IntegrationKind::Alertmanager, None, headers, body).await
}

async fn grafana(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    webhook(state, IntegrationKind::Grafana, None, headers, body).await
}

async fn generic(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    webhook(state, IntegrationKind::Generic, None, headers, body).await
}

async fn webhook(
    state: AppState,
    kind: IntegrationKind,
    path_key: Option<&str>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = path_key.or_else(|| bearer(&headers)).unwrap_or("");
    let Some(integration) = state.store.integration_by_key(key) else {
        record(&state, kind, "rejected");
        return webhook_error(
            StatusCode::NOT_FOUND,
            "no integration has this key: put an integration's key in the URL, or send Authorization: Bearer <key>",
        );
    };
    let _permit = match state.ingest.admit(integration.id) {
        Ok(permit) => permit,
        Err(wait) => {
            record(&state, kind, "rate_limited");
            return retry_after(
                webhook_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many events for this integration; retry later",
                ),
                wait,
            );
        }
    };
    let now = state.store.clock().now();
    if kind == IntegrationKind::Grafana {
        if let Err(message) = check_signature(&integration, &headers, &body, now) {
            record(&state, kind, "rejected");
            return webhook_error(StatusCode::UNAUTHORIZED, message);
        }
    }
    let received = Received {
        integration_id: integration.id,
        at: now,
    };
    let signal = match parse(kind, &headers, &body, received) {
        Ok(signal) => signal,
        Err(e) => {
            record(&state, kind, "rejected");
            return webhook_error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let dedup_key = signal.dedup_key().to_owned();
    match state.store.ingest(&integration, signal).await {
        Ok(result) => {
            record(&state, kind, result.outcome.as_str());
            let status = match result.outcome {
                IngestOutcome::Triggered => StatusCode::CREATED,
                _ => StatusCode::OK,
            };
            json_response(
                status,
                json!({
                    "status": "success",
                    "result": result.outcome.as_str(),
                    "dedup": dedup_key,
                    "incidentId": result.incident.map(|i| i.id.to_string()),
                }),
            )
        }
        Err(CommandError::Domain(e)) => {
            record(&state, kind, "rejected");
            webhook_error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(CommandError::Conflict(_)) => webhook_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "another Klaxon process changed the incident at the same moment; retry",
        ),
        Err(CommandError::Journal(e)) => {
            tracing::error!(error = %e, "could not record a monitor's event");
            webhook_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the event could not be recorded; retry",
            )
        }
    }
}

fn parse(
    kind: IntegrationKind,
    headers: &HeaderMap,
    body: &[u8],
    received: Received,
) -> Result<Signal, DomainError> {
    match kind {
        IntegrationKind::Generic => {
            let is_json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map_or_else(
                    || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
                    |v| v.contains("json"),
                );
            let event = if is_json {
                GenericEvent::from_json(body)?
            } else {
                GenericEvent::from_form(body)?
            };
            event.signal(made_key, received)
        }
        _ => webhook_signal(kind, body, received),
    }
}

/// Grafana's contact point signs with HMAC-SHA256, lower-case hex, in
/// `X-Grafana-Alerting-Signature`: over the body, or over `timestamp:body` when a timestamp
/// header is configured (`X-Grafana-Alerting-Signature-Timestamp` or
/// `X-Grafana-Alerting-Timestamp`, Unix seconds, within 5 minutes). Only checked when the
/// integration has a secret; compared in constant time.
fn check_signature(
    integration: &Integration,
    headers: &HeaderMap,
    body: &[u8],
    now: crate::domain::Timestamp,
) -> Result<(), &'static str> {
    use hmac::{Hmac, Mac};
    let Some(secret) = &integration.secret else {
        return Ok(());
    };
    let signature = headers
        .get("x-grafana-alerting-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or(
            "this integration has a secret: the post must be signed (X-Grafana-Alerting-Signature)",
        )?;
    let signature = decode_hex(signature).ok_or("X-Grafana-Alerting-Signature is not hex")?;
    let timestamp = [
        "x-grafana-alerting-signature-timestamp",
        "x-grafana-alerting-timestamp",
    ]
    .iter()
    .find_map(|name| headers.get(*name))
    .and_then(|v| v.to_str().ok())
    .map(str::trim);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.0.as_bytes())
        .map_err(|_| "the integration's secret cannot key an HMAC")?;
    if let Some(timestamp) = timestamp {
        let at: i64 = timestamp
            .parse()
            .map_err(|_| "the signature timestamp is not Unix seconds")?;
        if (now.timestamp() - at).abs() > 300 {
            return Err("the signature timestamp is more than 5 minutes off");
        }
        mac.update(timestamp.as_bytes());
        mac.update(b":");
    }
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| "the signature does not match this integration's secret")
}

fn decode_hex(raw: &str) -> Option<Vec<u8>> {
    if raw.len() % 2 != 0 || raw.len() > 256 {
        return None;
    }
    (0..raw.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(raw.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_concurrency_bound_an_event_is_told_to_retry_and_a_finished_one_frees_its_place() {
        let gate = IngestGate::new(IngestLimits {
            per_minute: 1_000,
            burst: 1_000,
            concurrency: 2,
        });
        let (a, b) = (IntegrationId::new(), IntegrationId::new());
        let first = gate.admit(a).expect("room for the first");
        let _second = gate.admit(b).expect("room for the second");
        assert_eq!(gate.admit(a).err(), Some(Duration::from_secs(1)));
        assert_eq!(gate.admit(b).err(), Some(Duration::from_secs(1)));
        drop(first);
        assert!(gate.admit(b).is_ok(), "a finished event frees its place");
    }

    #[test]
    fn past_its_burst_a_key_waits_while_another_key_does_not() {
        let gate = IngestGate::new(IngestLimits {
            per_minute: 1,
            burst: 2,
            concurrency: 100,
        });
        let (a, b) = (IntegrationId::new(), IntegrationId::new());
        assert!(gate.admit(a).is_ok());
        assert!(gate.admit(a).is_ok());
        let wait = gate.admit(a).expect_err("a's burst is spent");
        assert!(wait > Duration::from_secs(50), "one a minute: {wait:?}");
        assert!(gate.admit(b).is_ok(), "keys are limited apart");
    }
}
