//! The HTTP edge: one axum router for GraphQL (POST), GraphiQL (GET), WebSocket
//! subscriptions, the seed's REST adapter, health, and the web UI.

pub mod actions;
pub mod auth;
pub mod body;
pub mod calendar;
pub mod conn;
pub mod export;
pub mod fanout;
pub mod heartbeat;
pub mod ingest;
pub mod login;
pub mod metrics;
pub mod rest;
pub mod security;
pub mod web;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Semaphore, watch};

use crate::graphql::KlaxonSchema;
use crate::graphql::error::code;
use crate::store::Store;
use auth::{graphql_refusal, principal_of};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Shared by every handler: one `Arc`, so the clone each middleware layer and extractor
/// makes per request is one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct AppStateInner {
    /// The executable schema.
    pub schema: KlaxonSchema,
    /// The store, for the REST adapter.
    pub store: Store,
    /// One permit per open WebSocket connection.
    pub ws_connections: Arc<Semaphore>,
    /// The number of permits `ws_connections` started with.
    pub max_ws_connections: usize,
    /// Subscriptions allowed on one connection.
    pub subscriptions_per_connection: usize,
    /// Flips to true when the server is shutting down: WebSockets close.
    pub shutdown: watch::Receiver<bool>,
    /// Authentication: credentials to principals, logins, links.
    pub gate: crate::auth::Gate,
    /// Origins (`scheme://host[:port]`) of the frontends allowed to call from another
    /// origin; see [`AppState::origin_allowed`].
    pub cors_origins: Arc<[String]>,
    /// Every series `/metrics` exports; the HTTP layer records requests into it.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Monitors' door: per-key rate limits and the ingestion concurrency bound.
    pub ingest: Arc<ingest::IngestGate>,
    /// Shared subscription executions (`None`: every subscriber executes its own).
    pub fanout: Option<fanout::Hub>,
}

impl AppStateInner {
    /// Whether a browser page from `origin` (an `Origin` header) is one of the allowed
    /// cross-origin frontends. Same-origin pages are not in the list.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        security::origin_allowed(&self.cors_origins, origin)
    }

    /// Live subscriptions, shared or not.
    pub fn subscribers(&self) -> usize {
        match &self.fanout {
            Some(hub) => hub.subscribers(),
            None => self.store.subscriber_count(),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let rest = rest::router().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_for_rest,
    ));
    let metrics = Router::new()
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_for_text,
        ));
    let cors = security::Cors::new(state.cors_origins.clone());
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/healthz", get(health))
        .route("/schedules/{id}/calendar.ics", get(calendar::calendar))
        .route(
            "/heartbeats/{token}",
            get(heartbeat::beat).post(heartbeat::beat),
        )
        .route("/actions/{token}", get(actions::confirm).post(actions::act))
        .route("/auth/login", post(login::login))
        .route("/auth/logout", post(login::logout))
        .route("/auth/status", get(login::status))
        .route("/auth/setup", post(login::setup))
        .route("/auth/link/{token}", get(login::link))
        .merge(metrics)
        .merge(export::router(state.clone()))
        .merge(ingest::router())
        .nest("/api", rest)
        .merge(web::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            Arc::new(Edge {
                cors,
                metrics: state.metrics.clone(),
            }),
            edge,
        ))
        .with_state(state)
}

/// What the edge layer needs.
struct Edge {
    cors: security::Cors,
    metrics: Arc<crate::metrics::Metrics>,
}

/// The steps every request passes, outermost first, in one layer (each `from_fn` layer
/// clones the rest of the stack per request): the security headers, CORS, the body read
/// whole before any handler (or auth) runs, so a refusal reaches a client still uploading
/// and even a 413 carries the headers, the request metrics, and the handler run to
/// completion ([`run_to_completion`]).
async fn edge(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
    let mut response = security::cors(&edge.cors, request, |request| {
        body::buffer(request, |request| {
            crate::metrics::track_http(&edge.metrics, request, |request| {
                run_to_completion(next, request)
            })
        })
    })
    .await;
    security::add_headers(&mut response);
    response
}

/// Runs the handler in a task of its own. hyper drops a request's future when its client
/// goes away; inside a handler that could cut a change between its journal write and its
/// effects in memory (the incident recorded but not folded in, no timer, no page, and a
/// monitor's retry opening a second incident). The task finishes whatever the client does;
/// its answer is dropped if nobody is there to read it.
async fn run_to_completion(next: Next, request: Request) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a request handler failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

async fn health(State(state): State<AppState>) -> Response {
    let body = serde_json::json!({
        "status": "ok",
        "incidentsOpen": state.store.state().open.read().map(|o| o.len()).unwrap_or(0),
        "subscribers": state.subscribers(),
        "subscriptionExecutions": state.store.subscriber_count(),
        "incidentsRetired": state.store.state().retired(),
        "engine": state.store.is_engine_holder(),
        "journalLag": state.store.journal_lag().unwrap_or(0),
    });
    axum::Json(body).into_response()
}

/// `GET /graphql`: a query in the URL (`?query=...&variables=...`) runs, as GraphQL over
/// HTTP allows (queries only: a GET must not change anything); without one, GraphiQL.
async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(raw) = raw.filter(|q| q.split('&').any(|pair| pair.starts_with("query="))) else {
        return graphiql().into_response();
    };
    let principal = match principal_of(&state, &headers, &axum::http::Method::GET) {
        Ok(principal) => principal,
        Err(refusal) => return graphql_refusal(&headers, &refusal),
    };
    let request = match async_graphql::http::parse_query_string(&raw) {
        Ok(request) => request,
        Err(e) => return request_error(&format!("the URL is not a GraphQL request: {e}")),
    };
    let only_queries = async_graphql::parser::parse_query(&request.query).is_ok_and(|doc| {
        doc.operations
            .iter()
            .all(|(_, op)| op.node.ty == async_graphql::parser::types::OperationType::Query)
    });
    if !only_queries {
        return request_error("only queries may be sent with GET; send mutations with POST");
    }
    respond(state.schema.execute(request.data(principal)).await)
}

/// GraphiQL, bundled with the web UI (`web/graphiql.html`, pinned npm packages): it works
/// with no internet and under the same content security policy as the board.
fn graphiql() -> Response {
    web::page("graphiql.html")
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn request_error(message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code::BAD_USER_INPUT } }]
    });
    json(StatusCode::BAD_REQUEST, body.to_string())
}

/// `POST /graphql`: one JSON GraphQL request. The body is read within [`MAX_BODY_BYTES`]
/// and parsed here, so a malformed body gets a GraphQL-shaped `BAD_USER_INPUT` error.
async fn graphql(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/graphql-response+json")
        });
    if !is_json {
        return request_error(
            "send the GraphQL request as JSON with Content-Type: application/json",
        );
    }
    let principal = match principal_of(&state, &headers, &axum::http::Method::POST) {
        Ok(principal) => principal,
        Err(refusal) => return graphql_refusal(&headers, &refusal),
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return request_error(&format!(
                "the body is not a GraphQL request ({{\"query\": ..., \"variables\": ...}}): {e}"
            ));
        }
    };
    respond(state.schema.execute(request.data(principal)).await)
}

fn respond(response: async_graphql::Response) -> Response {
    match serde_json::to_string(&response) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a GraphQL response");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"errors": [{"message": "internal error", "extensions": {"code": code::INTERNAL}}]}).to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;

    /// A client that disconnects (its request future dropped) mid-handler does not cut
    /// the handler short.
    #[tokio::test]
    async fn a_handler_runs_to_the_end_when_its_client_goes_away() {
        let started = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::new(tokio::sync::Notify::new());
        let done = Arc::new(AtomicBool::new(false));
        let handler = {
            let (started, gate, done) = (started.clone(), gate.clone(), done.clone());
            move || async move {
                started.notify_one();
                gate.notified().await;
                done.store(true, Ordering::SeqCst);
                "ok"
            }
        };
        let app: Router =
            Router::new()
                .route("/x", get(handler))
                .layer(middleware::from_fn_with_state(
                    Arc::new(Edge {
                        cors: security::Cors::new(Arc::from(Vec::<String>::new())),
                        metrics: Arc::new(crate::metrics::Metrics::new()),
                    }),
                    edge,
                ));
        let request = axum::http::Request::get("/x").body(Body::empty()).unwrap();
        let mut call = Box::pin(app.oneshot(request));
        tokio::select! {
            _ = &mut call => panic!("answered before the gate opened"),
            () = started.notified() => {}
        }
        drop(call); // the client went away
        gate.notify_one();
        for _ in 0..200 {
            if done.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the handler was cut short when its client went away");
    }
}
