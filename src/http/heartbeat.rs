//! `POST` or `GET /heartbeats/{token}`: a monitor checks in. No credential: the token in
//! the URL is the heartbeat's own secret. An unknown token is a 404 that says nothing more.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::domain::HeartbeatState;

/// One beat.
pub async fn beat(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.store.beat(&token).await {
        Ok(Some(heartbeat)) => {
            let word = match heartbeat.state() {
                HeartbeatState::Inactive => "inactive",
                HeartbeatState::Healthy => "healthy",
                HeartbeatState::Unhealthy => "unhealthy",
            };
            let next = heartbeat
                .deadline(None)
                .map(crate::graphql::scalars::format);
            axum::Json(json!({ "status": "ok", "state": word, "nextDeadlineAt": next }))
                .into_response()
        }
        Ok(None) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "no heartbeat has this URL" })),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a heartbeat beat could not be recorded");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "error": "the beat could not be recorded; retry" })),
            )
                .into_response()
        }
    }
}
