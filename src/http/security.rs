//! Browser-facing protections: the headers every response carries (a content security
//! policy on HTML pages), and CORS for the frontends allowed on other origins. Who may
//! call is the auth layer's business; this only decides what a browser may read.

use std::sync::Arc;

use std::future::Future;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The policy for every HTML page, GraphiQL's included (it is bundled with the UI, not
/// loaded from a CDN): nothing but our own scripts, styles (inline ones are React's and
/// CodeMirror's), images, fonts (GraphiQL's are `data:` URLs) and connections; no plugins,
/// no framing, no base rewriting.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every response gets, and on HTML pages the content security policy
/// (unless the page set its own) and `X-Frame-Options`; the edge layer's last step.
pub fn add_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if html {
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
}

/// Checks an allowed CORS origin (`scheme://host[:port]`, no path) and returns it as a
/// browser sends it: lower case, without the scheme's default port.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let bad = |why: &str| {
        format!(
            "CORS origin {raw:?}: {why} (expected scheme://host[:port], e.g. https://oncall.example.com)"
        )
    };
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("the scheme must be http or https"));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(bad("no host"));
    }
    if rest.contains(['/', '?', '#', '@', ' ', ',']) || rest.contains('*') {
        return Err(bad("an origin has no path, query, user or wildcard"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
            if host.is_empty() || port.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad("the port must be a number up to 65535"));
            }
            (host, Some(port))
        }
        _ => (rest, None),
    };
    let valid_host = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'))
        && !host.starts_with(['.', '-']);
    if !valid_host {
        return Err(bad("the host is not a valid name or address"));
    }
    let host = host.to_ascii_lowercase();
    let default_port = if scheme == "https" { "443" } else { "80" };
    Ok(match port {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The CORS policy: which origins, and the layer that answers them.
#[derive(Clone)]
pub struct Cors {
    origins: Arc<[String]>,
    layer: CorsLayer,
}

impl Cors {
    /// A policy for `origins` (already checked with [`parse_origin`]).
    pub fn new(origins: Arc<[String]>) -> Self {
        let values: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        let layer = CorsLayer::new()
            .allow_origin(AllowOrigin::list(values))
            .allow_methods([Method::GET, Method::POST, Method::PATCH])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .allow_credentials(true)
            .max_age(std::time::Duration::from_secs(600))
            .vary([header::ORIGIN]);
        Self { origins, layer }
    }

    /// Whether `origin` (an `Origin` header's value) is one of the allowed frontends.
    pub fn allows(&self, origin: &str) -> bool {
        origin_allowed(&self.origins, origin)
    }
}

/// The one comparison of an `Origin` header with the allowed list.
pub fn origin_allowed(origins: &[String], origin: &str) -> bool {
    origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
}

/// Middleware: CORS on `/graphql` and `/api` for the allowed origins (tower-http's layer
/// answers their preflights and adds the headers). A preflight from any other origin is
/// refused with 403 and no CORS headers; its other requests pass without CORS headers,
/// so the browser keeps their answers from the page.
pub async fn cors<F, Fut>(cors: &Cors, request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut + Send,
    Fut: Future<Output = Response> + Send,
{
    let path = request.uri().path();
    let covered = path == "/graphql"
        || path.starts_with("/graphql/")
        || path == "/api"
        || path.starts_with("/api/");
    // None: no Origin header (not a browser's cross-origin call); Some(allowed).
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|v| covered && v.to_str().is_ok_and(|o| cors.allows(o)));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    match origin {
        Some(true) => {
            // tower-http's layer wants a service; this one is called once (oneshot).
            let mut once = Some(inner);
            let service = tower::service_fn(move |request: Request| {
                let inner = once.take();
                async move {
                    Ok::<_, std::convert::Infallible>(match inner {
                        Some(inner) => inner(request).await,
                        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    })
                }
            });
            match cors.layer.layer(service).oneshot(request).await {
                Ok(response) => response.map(axum::body::Body::new),
                Err(never) => match never {},
            }
        }
        Some(false) if preflight => {
            let mut response = (
                StatusCode::FORBIDDEN,
                "this origin may not call this server (see --cors-origin)",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("origin"));
            response
        }
        Some(false) if covered => {
            let mut response = inner(request).await;
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("origin"));
            response
        }
        _ => inner(request).await,
    }
}
