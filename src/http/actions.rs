//! `GET /actions/{token}` and `POST /actions/{token}`: the Acknowledge and Resolve links of
//! an email page. The GET shows a confirmation page and changes nothing (mail scanners
//! follow links); its plain HTML form POSTs back, which acts as the paged user. No login:
//! the signed, expiring token is the credential, and it dies with the incident's resolution.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::domain::IncidentState;
use crate::engine::email::escape;
use crate::store::links::{LinkAction, LinkError, LinkOutcomeError};

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta name=\"robots\" content=\"noindex\"><title>{title} · Klaxon</title><style>body{{font-family:sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}button{{font-size:1.1rem;padding:.6rem 1.4rem;cursor:pointer}}</style></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn link_error(error: &LinkError) -> Response {
    let status = match error {
        LinkError::Invalid => StatusCode::NOT_FOUND,
        LinkError::Expired | LinkError::Resolved => StatusCode::GONE,
    };
    page(
        status,
        "This link does not work",
        &format!("<p>{}.</p>", escape(&error.to_string())),
    )
}

/// The confirmation page: what the link will do, and a button that does it.
pub async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let link = match state.store.verify_link(&token) {
        Ok(link) => link,
        Err(e) => return link_error(&e),
    };
    let incident = &link.incident;
    let service = state
        .store
        .state()
        .service_any(incident.service_id)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let verb = link.action.verb();
    let body = format!(
        "<p><strong>{title}</strong><br>Service: {service}<br>State: {state}<br>Severity: {severity}</p><p>This will {verb_lower} the incident as <strong>{user}</strong>.</p><form method=\"post\"><button type=\"submit\">{verb}</button></form>",
        title = escape(&incident.title),
        service = escape(&service),
        state = incident.state.upper(),
        severity = incident.severity.upper(),
        verb_lower = verb.to_lowercase(),
        user = escape(&link.user.name),
    );
    page(StatusCode::OK, &format!("{verb} this incident?"), &body)
}

/// The form's POST: the action, as the paged user.
pub async fn act(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if let Ok(link) = state.store.verify_link(&token) {
        if link.action == LinkAction::Acknowledge
            && link.incident.state == IncidentState::Acknowledged
        {
            let by = link
                .incident
                .acknowledged_by
                .as_ref()
                .map_or("someone".to_owned(), |a| a.name.to_string());
            return page(
                StatusCode::OK,
                "Already acknowledged",
                &format!(
                    "<p><strong>{}</strong> was already acknowledged by {}. Nothing was changed.</p>",
                    escape(&link.incident.title),
                    escape(&by)
                ),
            );
        }
    }
    match state.store.act_by_link(&token).await {
        Ok(incident) => page(
            StatusCode::OK,
            "Done",
            &format!(
                "<p><strong>{}</strong> is now {}.</p>",
                escape(&incident.title),
                incident.state.upper().to_lowercase()
            ),
        ),
        Err(LinkOutcomeError::Link(e)) => link_error(&e),
        Err(LinkOutcomeError::Command(e)) => page(
            StatusCode::CONFLICT,
            "Nothing was changed",
            &format!("<p>{}</p>", escape(&e.to_string())),
        ),
    }
}
