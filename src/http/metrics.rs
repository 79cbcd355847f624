//! `GET /metrics`: Prometheus' text exposition of [`crate::metrics::Metrics`], with the
//! gauges that describe the state read at the moment of the scrape. Needs a credential
//! like every other read (any role). A scraper that asks for OpenMetrics gets it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::domain::IncidentState;
use crate::metrics::Scrape;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The values the scrape reads from the state.
pub fn scrape_of(state: &AppState) -> Scrape {
    let store = &state.store;
    Scrape {
        incidents: [
            IncidentState::Triggered,
            IncidentState::Acknowledged,
            IncidentState::Resolved,
        ]
        .map(|s| store.state().count(s)),
        websocket_connections: state.max_ws_connections
            - state
                .ws_connections
                .available_permits()
                .min(state.max_ws_connections),
        subscriptions: state.subscribers(),
        subscription_executions: store.subscriber_count(),
        users: store.users().len(),
        schedules: store.schedules().len(),
        login_sessions: store.state().sessions.len(),
        journal_lag: store.journal_lag().unwrap_or(0),
        engine_holder: store.is_engine_holder(),
    }
}

/// The exposition.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let scrape = scrape_of(&state);
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let encoded = if openmetrics {
        state.metrics.encode_openmetrics(&scrape)
    } else {
        state.metrics.encode(&scrape)
    };
    match encoded {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                if openmetrics { OPENMETRICS } else { TEXT },
            )],
            body,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not encode metrics",
        )
            .into_response(),
    }
}
