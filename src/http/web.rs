//! The web UI, embedded in the binary from `web/dist` (built by `build.rs`). Hashed assets
//! are cached forever; `index.html` is never cached, and serves every client-side route.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::AppState;

#[derive(RustEmbed)]
#[folder = "web/dist/"]
struct Assets;

/// Routes: everything the other routers do not claim.
pub fn router() -> Router<AppState> {
    Router::new().fallback(serve)
}

async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path.starts_with("graphql") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    if !path.is_empty() && path != "index.html" {
        if let Some(file) = Assets::get(path) {
            let cache = if path.starts_with("assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            return asset(file, cache);
        }
        // A missing file under assets/ is a real 404, not a client-side route.
        if path.starts_with("assets/") || path.rsplit('/').next().is_some_and(|f| f.contains('.')) {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
    }
    page("index.html")
}

/// A built HTML page by name (never cached), or a note that the UI was not built.
pub fn page(name: &str) -> Response {
    match Assets::get(name) {
        Some(file) => asset(file, "no-cache"),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "the web UI is not built: run `npm ci && npm run build` in web/ (or rebuild with npm installed)",
        )
            .into_response(),
    }
}

fn asset(file: rust_embed::EmbeddedFile, cache: &'static str) -> Response {
    let mime = file.metadata.mimetype().to_owned();
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
