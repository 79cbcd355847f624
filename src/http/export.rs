//! `GET /analytics/incidents.csv?from=&to=[&serviceId=]`: the incidents triggered in a
//! window as CSV (RFC 4180), for spreadsheets. Behind the same credential check as
//! `/metrics`; the window rules are the `analytics` query's.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use crate::domain::{Actor, DomainError, Incident};
use crate::graphql::scalars;
use crate::store::CommandError;

/// The export's columns, in order.
pub const HEADER: [&str; 12] = [
    "id",
    "title",
    "service",
    "severity",
    "state",
    "triggeredAt",
    "acknowledgedAt",
    "resolvedAt",
    "acknowledgedBy",
    "resolvedBy",
    "escalated",
    "alertCount",
];

/// The export's route, behind the credential check.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/analytics/incidents.csv", get(incidents_csv))
        .layer(axum::middleware::from_fn_with_state(
            state,
            super::auth::require_for_text,
        ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Window {
    from: Option<String>,
    to: Option<String>,
    service_id: Option<String>,
}

fn refuse(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn instant(field: &str, raw: Option<&str>) -> Result<crate::domain::Timestamp, String> {
    let raw = raw.ok_or_else(|| format!("{field}: required (an RFC 3339 date-time)"))?;
    scalars::parse(raw).ok_or_else(|| {
        format!("{field}: not an RFC 3339 date-time (expected e.g. 2026-01-31T09:00:00Z)")
    })
}

fn actor(a: Option<&Actor>) -> &str {
    a.map_or("", |a| a.name.as_ref())
}

async fn incidents_csv(State(state): State<AppState>, Query(window): Query<Window>) -> Response {
    let (from, to) = match (
        instant("from", window.from.as_deref()),
        instant("to", window.to.as_deref()),
    ) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(message), _) | (_, Err(message)) => {
            return refuse(StatusCode::BAD_REQUEST, message);
        }
    };
    let incidents = match state
        .store
        .incidents_triggered(from, to, window.service_id.as_deref())
        .await
    {
        Ok(incidents) => incidents,
        Err(CommandError::Domain(e @ DomainError::NotFound { .. })) => {
            return refuse(StatusCode::NOT_FOUND, e.to_string());
        }
        Err(CommandError::Domain(e)) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    match write_csv(&state, &incidents) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"incidents.csv\"",
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not write the incident export");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not write the export".into(),
            )
        }
    }
}

fn write_csv(
    state: &AppState,
    incidents: &[std::sync::Arc<Incident>],
) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(128 * (incidents.len() + 1)));
    out.write_record(HEADER)?;
    let at = |t: Option<crate::domain::Timestamp>| t.map(scalars::format).unwrap_or_default();
    for incident in incidents {
        let service = state
            .store
            .state()
            .service_any(incident.service_id)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let escalated = crate::store::analytics::IncidentSummary::of(incident).escalated;
        out.write_record([
            incident.id.to_string().as_str(),
            &incident.title,
            &service,
            incident.severity.upper(),
            incident.state.upper(),
            &scalars::format(incident.triggered_at),
            &at(incident.first_acknowledged_at.or(incident.acknowledged_at)),
            &at(incident.resolved_at),
            actor(incident.acknowledged_by.as_deref()),
            actor(incident.resolved_by.as_deref()),
            if escalated { "true" } else { "false" },
            &incident.alert_count.to_string(),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}
