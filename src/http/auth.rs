//! The credential check at the HTTP edge: every route but the public ones (the UI, the
//! GraphiQL page, `/healthz`, logging in, ingestion) resolves a [`Principal`] here from
//! `Authorization: Bearer` or the session cookie, and refuses the request when there is
//! none. Cookie-authenticated changes must come from this origin (or a listed one): a
//! form or script on another site cannot act with a person's cookie.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::{AuthError, SESSION_COOKIE};
use crate::domain::Principal;
use crate::graphql::error::code;

/// Why a request may not go on.
#[derive(Debug)]
pub enum Refusal {
    /// No valid credential: 401.
    Unauthenticated(AuthError),
    /// A cookie sent by another site's page: 403.
    CrossSite,
}

impl Refusal {
    /// The contract code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated(_) => code::UNAUTHENTICATED,
            Refusal::CrossSite => code::FORBIDDEN,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Refusal::CrossSite => StatusCode::FORBIDDEN,
        }
    }

    /// What a person reads.
    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated(e) => e.to_string(),
            Refusal::CrossSite => "a request carrying the session cookie must come from this site's own pages (or an origin listed with --cors-origin); send an API token instead".into(),
        }
    }
}

/// The value of the session cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_owned())
}

/// Whether `origin` (an `Origin` header value) is this server itself, as the request's
/// `Host` names it, or an origin allowed to call with credentials.
pub fn origin_trusted(state: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host))
        || state.origin_allowed(origin)
}

/// A cookie may act only for a request this site's own pages sent: one the browser marks
/// `Sec-Fetch-Site: same-origin`, or whose `Origin` is trusted. Safe methods only read.
fn cookie_allowed(state: &AppState, headers: &HeaderMap, method: &Method) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        return origin_trusted(state, headers, origin);
    }
    // No Origin: not a browser's cross-site request (browsers send Origin on every
    // cross-site POST); a cross-site fetch metadata header still refuses it.
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|site| site != "cross-site")
}

/// Resolves the caller: the `Authorization` header wins (and fails on its own when it is
/// wrong), then the session cookie.
pub fn principal_of(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Principal, Refusal> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| Refusal::Unauthenticated(AuthError::Invalid))?;
        return state.gate.bearer(value).map_err(Refusal::Unauthenticated);
    }
    let Some(cookie) = session_cookie(headers) else {
        return Err(Refusal::Unauthenticated(AuthError::Missing));
    };
    let principal = state
        .gate
        .session(&cookie)
        .map_err(Refusal::Unauthenticated)?;
    if !cookie_allowed(state, headers, method) {
        return Err(Refusal::CrossSite);
    }
    Ok(principal)
}

/// A GraphQL-shaped refusal, with the content type GraphQL over HTTP asks for when the
/// client accepts it (Apollo Client shows a non-200 answer's code only then).
pub fn graphql_refusal(headers: &HeaderMap, refusal: &Refusal) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": refusal.message(), "extensions": { "code": refusal.code() } }]
    });
    let content_type = if accepts_graphql_response(headers) {
        "application/graphql-response+json"
    } else {
        "application/json"
    };
    (
        refusal.status(),
        [
            (header::CONTENT_TYPE, content_type),
            (header::WWW_AUTHENTICATE, "Bearer"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// Whether the client's `Accept` names `application/graphql-response+json`.
pub fn accepts_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/graphql-response+json"))
}

/// Puts the caller's principal in the request, or answers with `refuse`'s response.
async fn authorize(
    state: &AppState,
    mut request: Request,
    next: Next,
    refuse: fn(&Refusal) -> Response,
) -> Response {
    match principal_of(state, request.headers(), request.method()) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(refusal) => {
            let mut response = refuse(&refusal);
            *response.status_mut() = refusal.status();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

/// Middleware for the REST adapter: 401 / 403 with `{"error": ...}`.
pub async fn require_for_rest(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, request, next, |refusal| {
        axum::Json(serde_json::json!({ "error": refusal.message(), "code": refusal.code() }))
            .into_response()
    })
    .await
}

/// Middleware for plain endpoints (`/metrics`): 401 / 403 with a text body.
pub async fn require_for_text(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, request, next, |refusal| {
        refusal.message().into_response()
    })
    .await
}
