//! The limits that protect the server: header and idle deadlines, the connection cap,
//! request bodies over the limit, security headers and CORS.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use klaxon::app::{self, Config};
use klaxon::http::MAX_BODY_BYTES;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::helpers::{ADMIN_TOKEN, TestApp, code, spawn_app, spawn_app_with};

const HALF_A_HEADER: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: klaxon\r\nX-Slow: ";

fn bearer() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

/// One HTTP response read off a raw connection.
struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// Reads one response (head, then a `Content-Length` body, or up to EOF without one).
async fn read_response(stream: &mut TcpStream) -> std::io::Result<RawResponse> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut response = RawResponse {
        status,
        head,
        body: buffer[head_end..].to_vec(),
    };
    match response
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(length) => {
            while response.body.len() < length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                response.body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut response.body).await?;
        }
    }
    Ok(response)
}

async fn get_healthz(stream: &mut TcpStream) -> RawResponse {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: klaxon\r\n\r\n")
        .await
        .expect("write");
    tokio::time::timeout(Duration::from_secs(5), read_response(stream))
        .await
        .expect("an answer in time")
        .expect("a response")
}

/// Waits until the server closes `stream` (EOF or reset) and returns when it did.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> Option<Instant> {
    let mut sink = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => continue,
        }
    }
}

fn short_timeouts(header_ms: u64, idle_ms: u64) -> Config {
    Config {
        header_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        ..Config::default()
    }
}

async fn trigger(app: &TestApp, schedule: &str, title: &str) {
    // A fresh client: a fresh connection.
    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("authorization", bearer())
        .json(&json!({
            "query": "mutation($i: TriggerIncidentInput!) { triggerIncident(input: $i) { id } }",
            "variables": { "i": { "title": title, "scheduleId": schedule, "severity": "HIGH" } },
        }))
        .send()
        .await
        .expect("a GraphQL answer");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
}

#[test]
fn connection_limits_default_to_ten_and_sixty_seconds() {
    let config = Config::default();
    assert_eq!(config.header_timeout, Duration::from_secs(10));
    assert_eq!(config.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.max_connections, 25_000);
    assert!(config.cors_origins.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_are_closed_after_the_header_timeout_while_others_are_served() {
    const SLOW: usize = 2_500;
    let header_timeout = Duration::from_secs(2);
    let app = spawn_app_with(short_timeouts(2_000, 1_000)).await;
    let team = app.team(60_000, 60_000).await;
    let mut events = app.events().await;

    let mut slow = Vec::with_capacity(SLOW);
    for batch in 0..SLOW / 100 {
        let opened = join_all((0..100).map(|_| async {
            let mut stream = TcpStream::connect(app.addr).await.expect("connect");
            let at = Instant::now();
            stream.write_all(HALF_A_HEADER).await.expect("write");
            (stream, at)
        }))
        .await;
        slow.extend(opened);
        assert!(batch < 100);
    }
    let all_open = Instant::now();

    // Meanwhile, fresh connections are served and the open subscription hears events.
    let health = reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    trigger(&app, &team.schedule, "during the slow headers").await;
    assert_eq!(events.next_event().await["kind"], "TRIGGERED");
    assert!(
        all_open.elapsed() < header_timeout,
        "the checks ran while the slow connections were open"
    );

    let closes = join_all(slow.iter_mut().map(|(stream, opened)| async move {
        let closed = closed_by_server(stream, header_timeout + Duration::from_secs(6)).await;
        (closed, *opened)
    }))
    .await;
    for (closed, opened) in closes {
        let closed = closed.expect("the server closes a connection with a half-sent header");
        let after = closed - opened;
        assert!(
            after >= header_timeout - Duration::from_millis(100),
            "closed after {after:?}, before the header timeout"
        );
        assert!(
            after <= header_timeout + Duration::from_secs(5),
            "closed after {after:?}"
        );
    }

    // The WebSocket outlived both the header and the idle timeout.
    trigger(&app, &team.schedule, "after the slow headers").await;
    assert_eq!(events.next_event().await["kind"], "TRIGGERED");
    app.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_gets_503_and_open_ones_keep_working() {
    let app = spawn_app_with(Config {
        max_connections: 50,
        ..Config::default()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        assert_eq!(get_healthz(&mut stream).await.status, 200);
        open.push(stream);
    }

    let mut extra = TcpStream::connect(app.addr).await.expect("connect");
    let refused = get_healthz(&mut extra).await;
    assert_eq!(refused.status, 503, "{}", refused.head);
    assert!(
        refused
            .head
            .starts_with("HTTP/1.1 503 Service Unavailable\r\n")
    );
    assert_eq!(refused.header("connection").as_deref(), Some("close"));
    assert!(refused.header("retry-after").is_some());
    assert!(!refused.body.is_empty());
    assert!(
        closed_by_server(&mut extra, Duration::from_secs(3))
            .await
            .is_some()
    );

    assert_eq!(get_healthz(&mut open[0]).await.status, 200);

    // A closed connection frees its place.
    open.truncate(25);
    let mut admitted = false;
    for _ in 0..50 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        if get_healthz(&mut stream).await.status == 200 {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "a place freed by a closed connection is reused");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(short_timeouts(10_000, 1_000)).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    assert_eq!(get_healthz(&mut stream).await.status, 200);
    let idle_from = Instant::now();
    let closed = closed_by_server(&mut stream, Duration::from_secs(8))
        .await
        .expect("closed when idle");
    let after = closed - idle_from;
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );
    assert!(after <= Duration::from_secs(4), "closed after {after:?}");
}

#[tokio::test]
async fn a_keep_alive_connection_may_idle_longer_than_the_header_timeout() {
    // hyper's own header timeout would close this one: its clock runs while idle.
    let app = spawn_app_with(short_timeouts(500, 10_000)).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    assert_eq!(get_healthz(&mut stream).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(get_healthz(&mut stream).await.status, 200);
}

#[tokio::test]
async fn a_later_half_sent_header_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(short_timeouts(1_000, 30_000)).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    assert_eq!(get_healthz(&mut stream).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(HALF_A_HEADER).await.expect("write");
    let sent = Instant::now();
    let closed = closed_by_server(&mut stream, Duration::from_secs(8))
        .await
        .expect("closed");
    let after = closed - sent;
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );
    assert!(after <= Duration::from_secs(4), "closed after {after:?}");
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    use axum::extract::ConnectInfo;
    let router = axum::Router::new().route(
        "/peer",
        axum::routing::get(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = klaxon::http::conn::ConnLimits {
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        max_connections: 10,
    };
    let server = tokio::spawn(klaxon::http::conn::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: klaxon\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut stream).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&response.body),
        stream.local_addr().unwrap().to_string()
    );
    drop(stream);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// A GraphQL request of about `size` bytes: a small query and a large unused variable.
fn padded_request(size: usize) -> String {
    let frame = json!({ "query": "{ users { id } }", "variables": { "pad": "" } }).to_string();
    let pad = "x".repeat(size - frame.len());
    json!({ "query": "{ users { id } }", "variables": { "pad": pad } }).to_string()
}

#[tokio::test]
async fn a_five_megabyte_body_gets_a_readable_413_in_node_fetch() {
    let app = spawn_app().await;
    let script = r#"
        const [url, token] = process.argv.slice(1);
        const body = JSON.stringify({ query: "{ users { id } }", variables: { pad: "x".repeat(5_000_000) } });
        fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + token }, body })
          .then(async (r) => { console.log(r.status); console.log(await r.text()); })
          .catch((e) => { console.log("ERROR " + (e.cause ? e.cause.code : e.message)); process.exit(1); });
    "#;
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("node")
            .arg("-e")
            .arg(script)
            .arg(app.url("/graphql"))
            .arg(ADMIN_TOKEN)
            .output(),
    )
    .await
    .expect("node finishes in time")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, body) = stdout.split_once('\n').expect("status and body");
    assert_eq!(status, "413", "{stdout}");
    let body: Value = serde_json::from_str(body.trim()).expect("a JSON body");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 MiB")
    );
}

#[tokio::test]
async fn a_five_megabyte_body_gets_a_413_in_reqwest() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("authorization", bearer())
        .header("content-type", "application/json")
        .body(padded_request(5_000_000))
        .send()
        .await
        .expect("an answer, not a reset");
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["connection"], "close");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn an_api_body_over_the_limit_gets_a_rest_shaped_413() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/api/users"))
        .header("authorization", bearer())
        .header("content-type", "application/json")
        .body(padded_request(2_000_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("1 MiB"), "{body}");
}

#[tokio::test]
async fn a_body_just_under_one_mebibyte_is_served() {
    let app = spawn_app().await;
    let body = padded_request(MAX_BODY_BYTES - 64);
    assert!(body.len() <= MAX_BODY_BYTES && body.len() > MAX_BODY_BYTES - 100);
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("authorization", bearer())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["data"]["users"].is_array(), "{body}");
}

#[tokio::test]
async fn a_body_past_the_drain_bound_gets_a_413_and_a_close() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: klaxon\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        bearer(),
        64 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // One byte past the drain bound (the declared length is over the limit, so all of it
    // is drained), far less than declared: the server must stop reading and answer, not
    // wait for the rest. It reads every byte sent, so its close is not a reset.
    let chunk = vec![b'x'; 1024 * 1024];
    for _ in 0..klaxon::http::body::MAX_DRAIN_BYTES / chunk.len() {
        stream.write_all(&chunk).await.unwrap();
    }
    stream.write_all(b"x").await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(15), read_response(&mut stream))
        .await
        .expect("an answer in time")
        .expect("a response");
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection").as_deref(), Some("close"));
    assert!(
        closed_by_server(&mut stream, Duration::from_secs(5))
            .await
            .is_some()
    );
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn every_response_says_nosniff_and_same_origin_referrer() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
    assert!(response.headers().get("content-security-policy").is_none());
}

#[tokio::test]
async fn the_web_ui_is_served_with_a_content_security_policy() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(
        response.headers()["content-security-policy"],
        klaxon::http::security::CONTENT_SECURITY_POLICY
    );
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_under_the_same_policy() {
    let app = spawn_app().await;
    // No credential: the GraphiQL page itself is public (its queries are not).
    let response = reqwest::get(app.url("/graphql")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(
        response.headers()["content-security-policy"],
        klaxon::http::security::CONTENT_SECURITY_POLICY
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("/assets/"), "the bundled page: {html}");
    assert!(
        !html.contains("unpkg") && !html.contains("https://"),
        "{html}"
    );
    assert!(
        !html.contains("<script>"),
        "no inline script (the policy would block it): {html}"
    );
}

const FRONTEND: &str = "https://oncall.example.com";

async fn cors_app() -> TestApp {
    spawn_app_with(Config {
        cors_origins: vec![FRONTEND.to_owned(), "http://localhost:5173".to_owned()],
        ..Config::default()
    })
    .await
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn an_allowed_origin_may_call_graphql_and_the_api_cross_origin() {
    let app = cors_app().await;
    for path in ["/graphql", "/api/users"] {
        let response = preflight(&app, path, FRONTEND).await;
        assert!(response.status().is_success(), "{}", response.status());
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], FRONTEND);
        assert_eq!(headers["access-control-allow-credentials"], "true");
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        let methods = headers["access-control-allow-methods"].to_str().unwrap();
        for method in ["GET", "POST", "PATCH"] {
            assert!(methods.contains(method), "{methods}");
        }
        assert!(
            headers.get_all("vary").iter().any(|v| v
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("origin"))
        );
    }
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("origin", FRONTEND)
        .header("authorization", bearer())
        .json(&json!({ "query": "{ users { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], FRONTEND);
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
}

#[tokio::test]
async fn a_refused_origin_gets_no_cors_headers() {
    let app = cors_app().await;
    let response = preflight(&app, "/graphql", "https://evil.example.net").await;
    assert!(!response.status().is_success(), "{}", response.status());
    assert!(
        cors_headers(&response).is_empty(),
        "{:?}",
        cors_headers(&response)
    );

    let response = app
        .http
        .post(app.url("/graphql"))
        .header("origin", "https://evil.example.net")
        .header("authorization", bearer())
        .json(&json!({ "query": "{ users { id } }" }))
        .send()
        .await
        .unwrap();
    assert!(
        cors_headers(&response).is_empty(),
        "{:?}",
        cors_headers(&response)
    );

    // Without --cors-origin, nobody is allowed.
    let plain = spawn_app().await;
    let response = preflight(&plain, "/graphql", FRONTEND).await;
    assert!(!response.status().is_success());
    assert!(cors_headers(&response).is_empty());
}

#[tokio::test]
async fn a_bad_cors_origin_stops_the_server_before_it_listens() {
    use klaxon::http::security::parse_origin;
    assert_eq!(
        parse_origin("HTTPS://OnCall.Example.com:443").unwrap(),
        "https://oncall.example.com"
    );
    assert_eq!(
        parse_origin("http://localhost:5173").unwrap(),
        "http://localhost:5173"
    );
    for bad in [
        "oncall.example.com",
        "https://oncall.example.com/app",
        "ftp://example.com",
        "https://*.example.com",
        "https://example.com:99999",
        "https://",
    ] {
        assert!(parse_origin(bad).is_err(), "{bad} accepted");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        cors_origins: vec!["https://example.com/path".to_owned()],
        ..Config::default()
    };
    let result = app::serve(listener, config, async {}, |_| panic!("must not start")).await;
    let error = result.expect_err("a bad origin is a start-up error");
    assert!(
        error.to_string().contains("https://example.com/path"),
        "{error}"
    );
}
