//! `GET /metrics`: Prometheus' text exposition of the server's current state. Needs a
//! credential like every other read (any role).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::AppState;
use crate::domain::IncidentState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: usize) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, g);
}

/// The exposition, built from the state at the moment of the scrape.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let store = &state.store;
    let mut registry = Registry::with_prefix("klaxon");
    let incidents = Family::<StateLabel, Gauge>::default();
    for (label, s) in [
        ("triggered", IncidentState::Triggered),
        ("acknowledged", IncidentState::Acknowledged),
        ("resolved", IncidentState::Resolved),
    ] {
        incidents
            .get_or_create(&StateLabel { state: label })
            .set(i64::try_from(store.state().count(s)).unwrap_or(i64::MAX));
    }
    registry.register("incidents", "Incidents by state", incidents);
    gauge(
        &mut registry,
        "subscribers",
        "Live subscription receivers",
        store.subscriber_count(),
    );
    gauge(
        &mut registry,
        "websocket_connections",
        "Open WebSocket connections",
        state.max_ws_connections - state.ws_connections.available_permits(),
    );
    gauge(&mut registry, "users", "Users", store.users().len());
    gauge(
        &mut registry,
        "schedules",
        "Schedules",
        store.schedules().len(),
    );
    gauge(
        &mut registry,
        "login_sessions",
        "Login sessions held",
        store.state().sessions.len(),
    );
    let mut body = String::new();
    if encode(&mut body, &registry).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not encode metrics",
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
