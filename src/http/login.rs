//! Logging in and out: `POST /auth/login` (JSON or a form), `POST /auth/logout`,
//! `GET /auth/status`, the first admin's `POST /auth/setup`, and one-time login links
//! `GET /auth/link/{token}`. The session secret travels only in an HttpOnly,
//! `SameSite=Lax` cookie (`Secure` behind https).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::{origin_trusted, session_cookie};
use crate::auth::{LoginError, SESSION_COOKIE};
use crate::domain::auth::check_password;
use crate::domain::user::UserFields;
use crate::domain::{DomainError, Principal, Role};
use crate::graphql::error::code;
use crate::store::CommandError;

/// A login, as JSON or form fields.
#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

/// The first admin, from the setup link.
#[derive(Deserialize)]
struct SetupForm {
    token: String,
    name: String,
    email: String,
    password: String,
}

/// A JSON error: `{"error", "code", "field"?}`.
fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let mut body = json!({ "error": message, "code": code });
    if let Some(field) = field {
        body["field"] = json!(field);
    }
    (status, Json(body)).into_response()
}

fn login_error(e: LoginError) -> Response {
    match e {
        LoginError::Wrong => error(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHENTICATED,
            &e.to_string(),
            None,
        ),
        LoginError::RateLimited(wait) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                code::RATE_LIMITED,
                &e.to_string(),
                None,
            );
            let seconds = wait.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        LoginError::Invalid { field, message } => error(
            StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            &format!("{field}: {message}"),
            Some(field),
        ),
        LoginError::Command(e) => command_error(e),
    }
}

fn command_error(e: CommandError) -> Response {
    match e {
        CommandError::Domain(DomainError::Invalid { field, message }) => error(
            StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            &format!("{field}: {message}"),
            Some(&field),
        ),
        CommandError::Domain(e) => error(
            StatusCode::BAD_REQUEST,
            code::INVALID_STATE,
            &e.to_string(),
            None,
        ),
        CommandError::Journal(e) => {
            tracing::error!(error = %e, "journal write failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "the change was not recorded",
                None,
            )
        }
        conflict @ CommandError::Conflict(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            &conflict.to_string(),
            None,
        ),
    }
}

/// Parses a JSON or form body.
fn parse_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, Box<Response>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            &format!("the body is not a valid login request: {e}"),
            None,
        ))
    })
}

/// The Set-Cookie header for a new session.
fn session_cookie_header(state: &AppState, secret: String) -> HeaderValue {
    let policy = state.gate.session_policy();
    let cookie = Cookie::build((SESSION_COOKIE, secret))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(policy.secure_cookie)
        .max_age(cookie::time::Duration::seconds(
            policy.lifetime.num_seconds(),
        ))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clearing_cookie(state: &AppState) -> HeaderValue {
    let cookie = Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.gate.session_policy().secure_cookie)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn user_json(principal: &Principal, state: &AppState) -> serde_json::Value {
    let user = principal
        .user_id()
        .and_then(|id| state.store.state().user(id));
    match user {
        Some(u) => {
            json!({ "id": u.id.to_string(), "name": u.name, "email": u.email, "role": u.role.as_str() })
        }
        None => json!(null),
    }
}

fn client_address(request_peer: Option<&ConnectInfo<SocketAddr>>) -> IpAddr {
    request_peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Refuses a login form posted by another site (login CSRF).
fn from_elsewhere(state: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|origin| origin != "null" && !origin_trusted(state, headers, origin))
}

/// `POST /auth/login`.
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, super::MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::BAD_USER_INPUT,
                "the body is too large",
                None,
            );
        }
    };
    if from_elsewhere(&state, &parts.headers) {
        return error(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "log in from this site's own login page",
            None,
        );
    }
    let form: LoginForm = match parse_body(&parts.headers, &body) {
        Ok(form) => form,
        Err(response) => return *response,
    };
    let ua = user_agent(&parts.headers);
    match state
        .gate
        .login(
            &form.email,
            &form.password,
            client_address(peer.as_ref()),
            ua.as_deref(),
        )
        .await
    {
        Ok((principal, secret)) => {
            tracing::info!(user = %principal.actor.name, "logged in");
            let mut response =
                Json(json!({ "user": user_json(&principal, &state) })).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie_header(&state, secret));
            response
        }
        Err(e) => login_error(e),
    }
}

/// `POST /auth/logout`: ends the session the cookie names, and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_cookie(&headers) {
        if let Ok(principal) = state.gate.session(&secret) {
            if let Err(e) = state.store.log_out(&principal).await {
                return command_error(e);
            }
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clearing_cookie(&state));
    response
}

/// `GET /auth/status`: whether the server still needs its first admin.
pub async fn status(State(state): State<AppState>) -> Response {
    Json(json!({ "setupRequired": state.gate.setup_required() })).into_response()
}

/// `POST /auth/setup`: creates the first admin from the one-time setup link and logs
/// them in.
pub async fn setup(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if from_elsewhere(&state, &headers) {
        return error(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "set up from this site's own page",
            None,
        );
    }
    let form: SetupForm = match parse_body(&headers, &body) {
        Ok(form) => form,
        Err(response) => return *response,
    };
    let fields = match UserFields::parse(&form.name, &form.email, None, Role::Admin) {
        Ok(fields) => fields,
        Err(e) => return command_error(e.into()),
    };
    if let Err(e) = check_password("password", &form.password) {
        return command_error(e.into());
    }
    if !state.gate.redeem_setup_link(&form.token) {
        return error(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHENTICATED,
            "this setup link is not valid: it was used, it expired, or an admin exists already; restart the server for a new one",
            None,
        );
    }
    let hash = state.gate.passwords().hash(&form.password).await;
    let system = Principal::system();
    let user = match state.store.create_user(&system, fields, Some(hash)).await {
        Ok(user) => user,
        Err(e) => return command_error(e),
    };
    tracing::info!(user = %user.name, "first admin created through the setup link");
    match state
        .gate
        .start_session(user.id, user_agent(&headers).as_deref())
        .await
    {
        Ok((principal, secret)) => {
            let mut response = (
                StatusCode::CREATED,
                Json(json!({ "user": user_json(&principal, &state) })),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie_header(&state, secret));
            response
        }
        Err(e) => login_error(e),
    }
}

/// `GET /auth/link/{token}`: a one-time login link (printed by `--demo`). Logs in and
/// goes to the board; a used or expired link goes to the login page.
pub async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let Some(user) = state.gate.redeem_login_link(&token) else {
        return Redirect::to("/login?link=expired").into_response();
    };
    match state
        .gate
        .start_session(user, user_agent(&headers).as_deref())
        .await
    {
        Ok((_, secret)) => {
            let mut response = Redirect::to("/").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie_header(&state, secret));
            response
        }
        Err(e) => login_error(e),
    }
}
