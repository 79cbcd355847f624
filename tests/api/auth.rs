//! "Who may do what": credentials at every edge, roles per mutation, sessions, tokens,
//! revocation of live sockets, actors on every change, and the contract defects.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use klaxon::app::Config;
use klaxon::auth::{LoginQuota, SessionPolicy};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{ADMIN_TOKEN, TestApp, client_with_token, code, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// A new API token with `role`; returns its secret.
    async fn token(&self, role: &str) -> String {
        let data = self
            .data(
                "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token apiToken { id } } }",
                json!({ "i": { "name": format!("{role} script"), "role": role } }),
            )
            .await;
        data["createApiToken"]["token"]
            .as_str()
            .expect("secret")
            .to_owned()
    }

    /// A person with a password and `role`; returns their id.
    async fn person(&self, name: &str, email: &str, role: &str) -> String {
        let data = self
            .data(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id role hasPassword } }",
                json!({ "i": { "name": name, "email": email, "role": role, "password": PASSWORD } }),
            )
            .await;
        assert_eq!(data["createUser"]["hasPassword"], true);
        data["createUser"]["id"].as_str().expect("id").to_owned()
    }

    /// Logs in; returns the response (status, Set-Cookie, body).
    async fn log_in(&self, email: &str, password: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    /// Logs in and returns the `Cookie` header value for the session.
    async fn session(&self, email: &str) -> String {
        let response = self.log_in(email, PASSWORD).await;
        assert_eq!(response.status(), 200);
        cookie_of(&response)
    }
}

/// `name=value` of the response's Set-Cookie.
fn cookie_of(response: &reqwest::Response) -> String {
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    set.split(';').next().unwrap().to_owned()
}

/// POSTs GraphQL with exactly the given headers.
async fn gql_with(
    app: &TestApp,
    headers: &[(&str, &str)],
    query: &str,
    vars: Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": vars }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn gql_as(app: &TestApp, token: &str, query: &str, vars: Value) -> Value {
    let auth = format!("Bearer {token}");
    gql_with(app, &[("authorization", &auth)], query, vars)
        .await
        .1
}

async fn gql_cookie(app: &TestApp, cookie: &str, query: &str, vars: Value) -> (u16, Value) {
    gql_with(app, &[("cookie", cookie)], query, vars).await
}

/// A raw WebSocket to `/graphql/ws` with `headers`, before any message.
async fn ws_raw(
    app: &TestApp,
    protocol: &str,
    headers: &[(&str, &str)],
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    for (name, value) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next text message as JSON, or `{"closed": code}`, or None on timeout.
async fn next(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    wait: Duration,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next()).await.ok()?;
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if value["type"] == "ka" || value["type"] == "ping" || value["type"] == "pong" {
                    continue;
                }
                return Some(value);
            }
            Some(Ok(Message::Close(frame))) => {
                return Some(json!({ "closed": frame.map(|f| u16::from(f.code)) }));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Some(json!({ "closed": null })),
        }
    }
}

async fn send(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    value: Value,
) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

const EVENTS: &str = "subscription { incidentEvents { kind incident { id } } }";

// ---- no credential, wrong credential ----------------------------------------------------

#[tokio::test]
async fn a_graphql_request_without_a_credential_is_unauthenticated_and_changes_nothing() {
    let app = spawn_app().await;
    let (status, body) = gql_with(
        &app,
        &[],
        "mutation { createService(input: {name: \"Sneaky\"}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(app.counts().await["services"], json!([]));
}

#[tokio::test]
async fn graphql_over_http_clients_get_the_graphql_response_content_type_on_a_401() {
    let app = spawn_app().await;
    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header(
            "accept",
            "application/graphql-response+json, application/json",
        )
        .json(&json!({ "query": "{ users { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/graphql-response+json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn garbage_unknown_and_revoked_tokens_are_all_unauthenticated_alike() {
    let app = spawn_app().await;
    let token = app.token("ADMIN").await;
    let tokens = app.data("{ apiTokens { id } }", json!({})).await;
    let id = tokens["apiTokens"][0]["id"].as_str().unwrap().to_owned();
    app.data(
        "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    let mut messages = Vec::new();
    for header in [
        "Bearer".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
        "Bearer kxn_0000000000000000000000000000000000000000000000000000000000000000".to_owned(),
        format!("Bearer {token}"),
        format!("Bearer {}", "a".repeat(600)),
    ] {
        let (status, body) = gql_with(
            &app,
            &[("authorization", &header)],
            "{ users { id } }",
            json!({}),
        )
        .await;
        assert_eq!(status, 401, "{header}: {body}");
        assert_eq!(code(&body), "UNAUTHENTICATED");
        messages.push(body["errors"][0]["message"].clone());
    }
    // Unknown, malformed and revoked say the same thing: nothing tells them apart.
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
}

#[tokio::test]
async fn an_expired_token_stops_working() {
    let app = spawn_app().await;
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let data = app
        .data(
            "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token apiToken { expiresAt } } }",
            json!({ "i": { "name": "short-lived", "role": "VIEWER", "expiresAt": crate::helpers::iso(expires) } }),
        )
        .await;
    let token = data["createApiToken"]["token"].as_str().unwrap();
    let body = gql_as(&app, token, "{ users { id } }", json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let body = gql_as(&app, token, "{ users { id } }", json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn a_token_secret_is_shown_once_and_never_listed() {
    let app = spawn_app().await;
    let token = app.token("RESPONDER").await;
    assert!(token.starts_with("kxn_") && token.len() >= 60, "{token}");
    let listed = app
        .data(
            "{ apiTokens { id name role createdAt expiresAt lastUsedAt revokedAt } }",
            json!({}),
        )
        .await;
    assert!(!listed.to_string().contains(&token[4..]), "{listed}");
    // The hash is not the secret either: no field carries either.
    let schema = app
        .data(
            "{ __type(name: \"ApiToken\") { fields { name } } }",
            json!({}),
        )
        .await;
    let fields: Vec<&str> = schema["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        !fields
            .iter()
            .any(|f| f.contains("hash") || f.contains("digest") || *f == "token"),
        "{fields:?}"
    );
}

#[tokio::test]
async fn a_tokens_last_use_is_recorded() {
    let app = spawn_app().await;
    let token = app.token("VIEWER").await;
    gql_as(&app, &token, "{ users { id } }", json!({})).await;
    let mut last_used = Value::Null;
    for _ in 0..100 {
        let listed = app.data("{ apiTokens { lastUsedAt } }", json!({})).await;
        last_used = listed["apiTokens"][0]["lastUsedAt"].clone();
        if !last_used.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(last_used.is_string(), "lastUsedAt was not recorded");
}

// ---- roles ----------------------------------------------------------------------------

/// Every mutation with the least role that may run it. Ids that name nothing are fine:
/// the role is checked before anything else, so a refused caller gets FORBIDDEN.
const MUTATIONS: &[(&str, &str)] = &[
    (
        "ADMIN",
        "mutation { createUser(input: {name: \"N\", email: \"n@example.com\"}) { id } }",
    ),
    (
        "ADMIN",
        "mutation { updateUser(id: \"x\", input: {name: \"N\"}) { id } }",
    ),
    ("ADMIN", "mutation { deleteUser(id: \"x\") }"),
    (
        "ADMIN",
        "mutation { createService(input: {name: \"S\"}) { id } }",
    ),
    (
        "ADMIN",
        "mutation { updateService(id: \"x\", input: {name: \"S\"}) { id } }",
    ),
    ("ADMIN", "mutation { deleteService(id: \"x\") }"),
    (
        "ADMIN",
        "mutation { createSchedule(input: {name: \"P\", serviceId: \"x\"}) { id } }",
    ),
    (
        "ADMIN",
        "mutation { updateSchedule(id: \"x\", input: {name: \"P\"}) { id } }",
    ),
    ("ADMIN", "mutation { deleteSchedule(id: \"x\") }"),
    (
        "ADMIN",
        "mutation { addRotation(input: {scheduleId: \"x\", name: \"R\", timeZone: \"UTC\", start: \"2026-01-01T00:00:00Z\", shiftLength: 1, shiftUnit: DAY, participants: [\"x\"]}) { id } }",
    ),
    (
        "ADMIN",
        "mutation { updateRotation(id: \"x\", input: {name: \"R\"}) { id } }",
    ),
    ("ADMIN", "mutation { removeRotation(id: \"x\") { id } }"),
    (
        "ADMIN",
        "mutation { rotateCalendarUrl(scheduleId: \"x\") { id } }",
    ),
    (
        "ADMIN",
        "mutation { createApiToken(input: {name: \"T\", role: ADMIN}) { token } }",
    ),
    ("ADMIN", "mutation { revokeApiToken(id: \"x\") { id } }"),
    (
        "RESPONDER",
        "mutation { addOverride(input: {scheduleId: \"x\", userId: \"x\", start: \"2026-01-01T00:00:00Z\", end: \"2026-01-02T00:00:00Z\"}) { id } }",
    ),
    ("RESPONDER", "mutation { removeOverride(id: \"x\") { id } }"),
    (
        "RESPONDER",
        "mutation { triggerIncident(input: {title: \"T\", scheduleId: \"x\"}) { id } }",
    ),
    (
        "RESPONDER",
        "mutation { acknowledgeIncident(id: \"x\") { id } }",
    ),
    (
        "RESPONDER",
        "mutation { resolveIncident(id: \"x\") { id } }",
    ),
    (
        "RESPONDER",
        "mutation { escalateIncident(id: \"x\") { id } }",
    ),
    (
        "RESPONDER",
        "mutation { addNote(incidentId: \"x\", text: \"n\") { id } }",
    ),
    (
        "RESPONDER",
        "mutation { reassignIncident(id: \"x\", userId: \"x\") { id } }",
    ),
    (
        "RESPONDER",
        "mutation { snoozeIncident(id: \"x\", durationMs: 60000) { id } }",
    ),
    (
        "ADMIN",
        "mutation { createIntegration(input: {scheduleId: \"x\", name: \"I\", kind: GENERIC}) { id } }",
    ),
    (
        "ADMIN",
        "mutation { rotateIntegrationKey(id: \"x\") { id } }",
    ),
    (
        "ADMIN",
        "mutation { setIntegrationSecret(id: \"x\", secret: null) { id } }",
    ),
    ("ADMIN", "mutation { deleteIntegration(id: \"x\") }"),
    (
        "ADMIN",
        "mutation { createHeartbeat(input: {scheduleId: \"x\", name: \"H\", intervalMs: 60000}) { id } }",
    ),
    ("ADMIN", "mutation { deleteHeartbeat(id: \"x\") }"),
    (
        "ADMIN",
        "mutation { startMaintenance(serviceId: \"x\", until: \"2099-01-01T00:00:00Z\") { id } }",
    ),
    (
        "ADMIN",
        "mutation { endMaintenance(serviceId: \"x\") { id } }",
    ),
    (
        "ADMIN",
        "mutation { createWebhook(input: {url: \"not a url\"}) { secret webhook { id } } }",
    ),
    ("ADMIN", "mutation { deleteWebhook(id: \"x\") }"),
];

fn rank(role: &str) -> u8 {
    match role {
        "VIEWER" => 0,
        "RESPONDER" => 1,
        _ => 2,
    }
}

#[tokio::test]
async fn every_mutation_is_refused_below_its_role_and_allowed_at_it() {
    let app = spawn_app().await;
    let tokens = [
        ("VIEWER", app.token("VIEWER").await),
        ("RESPONDER", app.token("RESPONDER").await),
        ("ADMIN", app.token("ADMIN").await),
    ];
    for (needed, mutation) in MUTATIONS {
        for (role, token) in &tokens {
            let before = app.counts().await;
            let body = gql_as(&app, token, mutation, json!({})).await;
            if rank(role) < rank(needed) {
                assert_eq!(code(&body), "FORBIDDEN", "{role} ran {mutation}: {body}");
                let message = body["errors"][0]["message"].as_str().unwrap();
                assert!(message.contains(role), "{message}");
                assert_eq!(
                    app.counts().await,
                    before,
                    "{role} changed state with {mutation}"
                );
            } else {
                assert_ne!(
                    code(&body),
                    "FORBIDDEN",
                    "{role} refused {mutation}: {body}"
                );
                assert_ne!(code(&body), "UNAUTHENTICATED", "{body}");
            }
        }
    }
}

#[tokio::test]
async fn a_viewer_reads_everything_but_cannot_list_tokens() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    app.trigger(&team.schedule, "Disk full").await;
    let viewer = app.token("VIEWER").await;
    let body = gql_as(
        &app,
        &viewer,
        "{ users { id role } services { id } schedules { id calendarUrl onCall { id } } incidents { totalCount } access { role actor { kind name } } me { id } }",
        json!({}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["incidents"]["totalCount"], 1);
    assert_eq!(body["data"]["access"]["role"], "VIEWER");
    assert_eq!(body["data"]["access"]["actor"]["kind"], "API_TOKEN");
    assert!(body["data"]["me"].is_null(), "a token is not a person");
    let body = gql_as(&app, &viewer, "{ apiTokens { id } }", json!({})).await;
    assert_eq!(code(&body), "FORBIDDEN");
}

#[tokio::test]
async fn a_responder_works_incidents_and_the_actor_is_recorded() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let responder = app.token("RESPONDER").await;
    let id = app.trigger_id(&team.schedule, "Disk full").await;
    let body = gql_as(
        &app,
        &responder,
        "mutation($id: ID!) { acknowledgeIncident(id: $id) { state acknowledgedBy { kind name user { id } } } }",
        json!({ "id": id }),
    )
    .await;
    let acked = &body["data"]["acknowledgeIncident"];
    assert_eq!(acked["state"], "ACKNOWLEDGED", "{body}");
    assert_eq!(acked["acknowledgedBy"]["kind"], "API_TOKEN");
    assert_eq!(acked["acknowledgedBy"]["name"], "RESPONDER script");
    assert!(acked["acknowledgedBy"]["user"].is_null());
    let body = app
        .data(
            "mutation($id: ID!) { escalateIncident(id: $id) { escalationHistory { reason actor { kind name } } } }",
            json!({ "id": id }),
        )
        .await;
    let step = &body["escalateIncident"]["escalationHistory"][0];
    assert_eq!(step["reason"], "MANUAL");
    assert_eq!(step["actor"]["kind"], "API_TOKEN");
    assert_eq!(step["actor"]["name"], "KLAXON_ADMIN_TOKEN");
}

#[tokio::test]
async fn the_timer_escalates_as_the_system() {
    let app = spawn_app().await;
    let team = app.team(50, 60_000).await;
    let id = app.trigger_id(&team.schedule, "Disk full").await;
    let mut incident = Value::Null;
    for _ in 0..100 {
        incident = app
            .data(
                "query($id: ID!) { incident(id: $id) { triggeredBy { kind } escalationHistory { reason actor { kind name } } } }",
                json!({ "id": id }),
            )
            .await["incident"]
            .clone();
        if !incident["escalationHistory"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(incident["triggeredBy"]["kind"], "API_TOKEN");
    assert_eq!(incident["escalationHistory"][0]["reason"], "TIMEOUT");
    assert_eq!(incident["escalationHistory"][0]["actor"]["kind"], "SYSTEM");
}

// ---- people: login, sessions, roles that change ----------------------------------------

#[tokio::test]
async fn a_person_logs_in_with_a_session_cookie_and_acts_as_themself() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    app.person("Alice Nguyen", "alice.n@example.com", "RESPONDER")
        .await;
    let response = app.log_in("Alice.N@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set.starts_with("klaxon_session="), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain http: no Secure flag");
    let cookie = set.split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["role"], "RESPONDER");

    let id = app.trigger_id(&team.schedule, "Disk full").await;
    let (status, body) = gql_cookie(
        &app,
        &cookie,
        "mutation($id: ID!) { resolveIncident(id: $id) { resolvedBy { kind name user { email } } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let by = &body["data"]["resolveIncident"]["resolvedBy"];
    assert_eq!(by["kind"], "USER", "{body}");
    assert_eq!(by["name"], "Alice Nguyen");
    assert_eq!(by["user"]["email"], "alice.n@example.com");
    let (_, me) = gql_cookie(
        &app,
        &cookie,
        "{ me { name role } sessions { current } }",
        json!({}),
    )
    .await;
    assert_eq!(me["data"]["me"]["name"], "Alice Nguyen");
    assert_eq!(me["data"]["sessions"][0]["current"], true);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.person("Alice Nguyen", "alice.n@example.com", "RESPONDER")
        .await;
    let wrong = app
        .log_in("alice.n@example.com", "not the password at all")
        .await;
    let wrong_status = wrong.status();
    let wrong_body: Value = wrong.json().await.unwrap();
    let unknown = app
        .log_in("nobody@example.com", "not the password at all")
        .await;
    assert_eq!(wrong_status, 401);
    assert_eq!(unknown.status(), wrong_status);
    assert!(unknown.headers().get("set-cookie").is_none());
    let unknown_body: Value = unknown.json().await.unwrap();
    assert_eq!(unknown_body, wrong_body);
    assert_eq!(wrong_body["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn logins_are_rate_limited_per_account() {
    let app = spawn_app_with(Config {
        login_quota: LoginQuota {
            account_burst: 3,
            account_every: Duration::from_secs(60),
            address_burst: 100,
            address_every: Duration::from_secs(1),
        },
        ..Config::default()
    })
    .await;
    app.person("Alice Nguyen", "alice.n@example.com", "RESPONDER")
        .await;
    for _ in 0..3 {
        assert_eq!(
            app.log_in("alice.n@example.com", "wrong wrong wrong")
                .await
                .status(),
            401
        );
    }
    // Spent: even the right password is refused now, and says when to come back.
    let limited = app.log_in("alice.n@example.com", PASSWORD).await;
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    // An unknown account is limited just the same (no oracle).
    for _ in 0..3 {
        app.log_in("ghost@example.com", "wrong wrong wrong").await;
    }
    assert_eq!(
        app.log_in("ghost@example.com", "wrong wrong wrong")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn logins_are_rate_limited_per_client_address() {
    let app = spawn_app_with(Config {
        login_quota: LoginQuota {
            account_burst: 100,
            account_every: Duration::from_secs(1),
            address_burst: 4,
            address_every: Duration::from_secs(60),
        },
        ..Config::default()
    })
    .await;
    for i in 0..4 {
        let status = app
            .log_in(&format!("u{i}@example.com"), "wrong wrong wrong")
            .await
            .status();
        assert_eq!(status, 401);
    }
    assert_eq!(
        app.log_in("u9@example.com", "wrong wrong wrong")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let app = spawn_app().await;
    app.person("Alice Nguyen", "alice.n@example.com", "VIEWER")
        .await;
    let cookie = app.session("alice.n@example.com").await;
    let (status, _) = gql_cookie(&app, &cookie, "{ me { id } }", json!({})).await;
    assert_eq!(status, 200);
    let response = reqwest::Client::new()
        .post(app.url("/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, body) = gql_cookie(&app, &cookie, "{ me { id } }", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app_with(Config {
        sessions: SessionPolicy {
            idle: chrono::Duration::milliseconds(1200),
            lifetime: chrono::Duration::hours(1),
            secure_cookie: false,
        },
        ..Config::default()
    })
    .await;
    app.person("Alice Nguyen", "alice.n@example.com", "VIEWER")
        .await;
    let cookie = app.session("alice.n@example.com").await;
    assert_eq!(
        gql_cookie(&app, &cookie, "{ me { id } }", json!({}))
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = gql_cookie(&app, &cookie, "{ me { id } }", json!({})).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn a_role_change_applies_at_once_to_a_live_session() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let alice = app
        .person("Alice Nguyen", "alice.n@example.com", "RESPONDER")
        .await;
    let cookie = app.session("alice.n@example.com").await;
    let id = app.trigger_id(&team.schedule, "Disk full").await;
    app.data(
        "mutation($id: ID!) { updateUser(id: $id, input: {role: VIEWER}) { role } }",
        json!({ "id": alice }),
    )
    .await;
    let (_, body) = gql_cookie(
        &app,
        &cookie,
        "mutation($id: ID!) { acknowledgeIncident(id: $id) { state } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert_eq!(app.incident(&id).await["state"], "TRIGGERED");
}

#[tokio::test]
async fn a_new_password_ends_the_other_sessions() {
    let app = spawn_app().await;
    app.person("Alice Nguyen", "alice.n@example.com", "VIEWER")
        .await;
    let laptop = app.session("alice.n@example.com").await;
    let phone = app.session("alice.n@example.com").await;
    let (_, listed) = gql_cookie(&app, &laptop, "{ sessions { id current } }", json!({})).await;
    assert_eq!(
        listed["data"]["sessions"].as_array().unwrap().len(),
        2,
        "{listed}"
    );
    let (_, body) = gql_cookie(
        &app,
        &laptop,
        "mutation { changePassword(currentPassword: \"wrong wrong wrong\", newPassword: \"another long password\") }",
        json!({}),
    )
    .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let (_, body) = gql_cookie(
        &app,
        &laptop,
        &format!("mutation {{ changePassword(currentPassword: \"{PASSWORD}\", newPassword: \"another long password\") }}"),
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["changePassword"], true, "{body}");
    assert_eq!(
        gql_cookie(&app, &laptop, "{ me { id } }", json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        gql_cookie(&app, &phone, "{ me { id } }", json!({})).await.0,
        401
    );
    assert_eq!(
        app.log_in("alice.n@example.com", PASSWORD).await.status(),
        401
    );
    assert_eq!(
        app.log_in("alice.n@example.com", "another long password")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_person_ends_one_of_their_other_sessions() {
    let app = spawn_app().await;
    app.person("Alice Nguyen", "alice.n@example.com", "VIEWER")
        .await;
    let laptop = app.session("alice.n@example.com").await;
    let phone = app.session("alice.n@example.com").await;
    let (_, listed) = gql_cookie(&app, &laptop, "{ sessions { id current } }", json!({})).await;
    let other = listed["data"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = gql_cookie(
        &app,
        &laptop,
        "mutation($id: ID!) { endSession(id: $id) { id } }",
        json!({ "id": other }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        gql_cookie(&app, &phone, "{ me { id } }", json!({})).await.0,
        401
    );
    assert_eq!(
        gql_cookie(&app, &laptop, "{ me { id } }", json!({}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn passwords_shorter_than_twelve_characters_are_refused() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "mutation { createUser(input: {name: \"Al\", email: \"al@example.com\", password: \"short pass\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "password");
    assert_eq!(app.counts().await["users"], json!([]));
}

#[tokio::test]
async fn a_one_time_login_link_works_once() {
    let app = spawn_app().await;
    let alice = app
        .person("Alice Nguyen", "alice.n@example.com", "ADMIN")
        .await;
    let token = app
        .gate
        .login_link(alice.parse().map(klaxon::domain::UserId).unwrap());
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = no_redirects
        .get(app.url(&format!("/auth/link/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], "/");
    let cookie = cookie_of(&first);
    let (_, me) = gql_cookie(&app, &cookie, "{ me { name } }", json!({})).await;
    assert_eq!(me["data"]["me"]["name"], "Alice Nguyen");
    let again = no_redirects
        .get(app.url(&format!("/auth/link/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    assert!(
        again.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    assert!(again.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once() {
    let app = spawn_app().await;
    let status: Value = reqwest::get(app.url("/auth/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["setupRequired"], true);
    let token = app.gate.setup_link().expect("setup is required");
    let setup = |token: String| {
        let url = app.url("/auth/setup");
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({ "token": token, "name": "First Admin", "email": "first@example.com", "password": PASSWORD }))
                .send()
                .await
                .unwrap()
        }
    };
    let bad = setup("not-the-token".into()).await;
    assert_eq!(bad.status(), 401);
    let created = setup(token.clone()).await;
    assert_eq!(created.status(), 201);
    let cookie = cookie_of(&created);
    let (_, me) = gql_cookie(&app, &cookie, "{ me { name role } }", json!({})).await;
    assert_eq!(me["data"]["me"]["role"], "ADMIN");
    assert_eq!(setup(token).await.status(), 401, "the link works once");
    let status: Value = reqwest::get(app.url("/auth/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["setupRequired"], false);
    assert!(app.gate.setup_link().is_none());
}

// ---- cookies from other sites ------------------------------------------------------------

#[tokio::test]
async fn a_cookie_sent_by_another_sites_page_cannot_change_anything() {
    let app = spawn_app().await;
    app.person("Alice Nguyen", "alice.n@example.com", "ADMIN")
        .await;
    let cookie = app.session("alice.n@example.com").await;
    let mutation = "mutation { createService(input: {name: \"Forged\"}) { id } }";
    let (status, body) = gql_with(
        &app,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
        mutation,
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "FORBIDDEN");
    let (status, _) = gql_with(
        &app,
        &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
        mutation,
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    // A form post (no JSON) is refused before anything runs.
    let form = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("cookie", &cookie)
        .header("content-type", "text/plain")
        .body(json!({ "query": mutation }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 400);
    // A GET cannot carry a mutation.
    let get = reqwest::Client::new()
        .get(app.url("/graphql?query=mutation%20%7B%20createService(input%3A%20%7Bname%3A%20%22G%22%7D)%20%7B%20id%20%7D%20%7D"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 400);
    assert_eq!(app.counts().await["services"], json!([]));
    // From its own origin, the same cookie works.
    let origin = format!("http://{}", app.addr);
    let (status, body) = gql_with(
        &app,
        &[("cookie", &cookie), ("origin", &origin)],
        mutation,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
}

// ---- WebSockets ---------------------------------------------------------------------------

#[tokio::test]
async fn a_websocket_without_a_valid_credential_is_closed_with_4403() {
    let app = spawn_app().await;
    for payload in [json!({}), json!({ "authorization": "Bearer nope" })] {
        let mut ws = ws_raw(&app, "graphql-transport-ws", &[]).await;
        send(
            &mut ws,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(
            next(&mut ws, Duration::from_secs(5)).await,
            Some(json!({ "closed": 4403 }))
        );
    }
}

#[tokio::test]
async fn a_legacy_websocket_without_a_credential_gets_connection_error() {
    let app = spawn_app().await;
    let mut ws = ws_raw(&app, "graphql-ws", &[]).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": {} })).await;
    let error = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(error["type"], "connection_error", "{error}");
    let closed = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert!(closed.get("closed").is_some(), "{closed}");
}

#[tokio::test]
async fn a_websocket_that_never_initialises_is_closed_with_4408() {
    let app = spawn_app().await;
    let mut ws = ws_raw(&app, "graphql-transport-ws", &[]).await;
    let started = std::time::Instant::now();
    assert_eq!(
        next(&mut ws, Duration::from_secs(15)).await,
        Some(json!({ "closed": 4408 }))
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(9_500), "{waited:?}");
}

#[tokio::test]
async fn subscribing_before_connection_init_is_refused() {
    let app = spawn_app().await;
    let mut ws = ws_raw(&app, "graphql-transport-ws", &[]).await;
    send(
        &mut ws,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await,
        Some(json!({ "closed": 4401 }))
    );
}

#[tokio::test]
async fn the_authorization_key_works_in_either_case_as_graphiql_sends_it() {
    let app = spawn_app().await;
    for key in ["authorization", "Authorization"] {
        let mut ws = ws_raw(&app, "graphql-transport-ws", &[]).await;
        send(
            &mut ws,
            json!({ "type": "connection_init", "payload": { key: format!("Bearer {ADMIN_TOKEN}") } }),
        )
        .await;
        let ack = next(&mut ws, Duration::from_secs(5)).await.unwrap();
        assert_eq!(ack["type"], "connection_ack", "{key}: {ack}");
    }
}

#[tokio::test]
async fn revoking_a_token_closes_its_open_websocket_at_once() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let token = app.token("VIEWER").await;
    let id = app.data("{ apiTokens { id } }", json!({})).await["apiTokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ws = ws_raw(&app, "graphql-transport-ws", &[]).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"],
        "connection_ack"
    );
    send(
        &mut ws,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.trigger(&team.schedule, "Before").await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"],
        "next"
    );
    let started = std::time::Instant::now();
    app.data(
        "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await,
        Some(json!({ "closed": 4403 }))
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_session_cookie_opens_a_websocket_from_its_own_origin_only() {
    let app = spawn_app().await;
    app.person("Alice Nguyen", "alice.n@example.com", "VIEWER")
        .await;
    let cookie = app.session("alice.n@example.com").await;
    let own = format!("http://{}", app.addr);
    let mut ws = ws_raw(
        &app,
        "graphql-transport-ws",
        &[("cookie", &cookie), ("origin", &own)],
    )
    .await;
    send(&mut ws, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"],
        "connection_ack"
    );

    let mut foreign = ws_raw(
        &app,
        "graphql-transport-ws",
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )
    .await;
    send(
        &mut foreign,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(
        next(&mut foreign, Duration::from_secs(5)).await,
        Some(json!({ "closed": 4403 }))
    );

    // Logging out closes the live socket.
    reqwest::Client::new()
        .post(app.url("/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await,
        Some(json!({ "closed": 4403 }))
    );
}

#[tokio::test]
async fn a_role_change_closes_that_persons_websocket() {
    let app = spawn_app().await;
    let alice = app
        .person("Alice Nguyen", "alice.n@example.com", "RESPONDER")
        .await;
    let cookie = app.session("alice.n@example.com").await;
    let own = format!("http://{}", app.addr);
    let mut ws = ws_raw(
        &app,
        "graphql-transport-ws",
        &[("cookie", &cookie), ("origin", &own)],
    )
    .await;
    send(&mut ws, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"],
        "connection_ack"
    );
    app.data(
        "mutation($id: ID!) { updateUser(id: $id, input: {role: VIEWER}) { role } }",
        json!({ "id": alice }),
    )
    .await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await,
        Some(json!({ "closed": 4403 }))
    );
}

// ---- REST, metrics, calendar ---------------------------------------------------------------

#[tokio::test]
async fn the_rest_adapter_answers_401_and_403_with_an_error_field() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let anonymous = reqwest::get(app.url("/api/users")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    let viewer = client_with_token(&app.token("VIEWER").await);
    assert_eq!(
        viewer
            .get(app.url("/api/incidents"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = viewer
        .post(app.url("/api/incidents"))
        .json(&json!({ "title": "T", "scheduleId": team.schedule }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("VIEWER"), "{body}");
    assert_eq!(app.counts().await["incidents"]["totalCount"], 0);
}

#[tokio::test]
async fn metrics_need_a_credential() {
    let app = spawn_app().await;
    assert_eq!(
        reqwest::get(app.url("/metrics")).await.unwrap().status(),
        401
    );
    let viewer = client_with_token(&app.token("VIEWER").await);
    let response = viewer.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("klaxon_incidents{state=\"triggered\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn the_calendar_feed_works_by_its_own_secret_until_rotated() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let url = |data: &Value| data["schedule"]["calendarUrl"].as_str().unwrap().to_owned();
    let query = "query($id: ID!) { schedule(id: $id) { calendarUrl } }";
    let first = url(&app.data(query, json!({ "id": team.schedule })).await);
    assert!(
        first.starts_with(&format!("http://{}/schedules/", app.addr)),
        "{first}"
    );
    let feed = reqwest::get(&first).await.unwrap();
    assert_eq!(feed.status(), 200);
    assert!(feed.text().await.unwrap().contains("BEGIN:VCALENDAR"));
    // No key and no credential; a wrong key.
    let bare = first.split('?').next().unwrap().to_owned();
    assert_eq!(reqwest::get(&bare).await.unwrap().status(), 401);
    assert_eq!(
        reqwest::get(format!("{bare}?key=guess"))
            .await
            .unwrap()
            .status(),
        401
    );
    // A credential works without the key.
    assert_eq!(app.http.get(&bare).send().await.unwrap().status(), 200);
    let rotated = app
        .data(
            "mutation($id: ID!) { rotateCalendarUrl(scheduleId: $id) { calendarUrl } }",
            json!({ "id": team.schedule }),
        )
        .await["rotateCalendarUrl"]["calendarUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, first);
    assert_eq!(reqwest::get(&first).await.unwrap().status(), 401);
    assert_eq!(reqwest::get(&rotated).await.unwrap().status(), 200);
}

// ---- the contract defects ------------------------------------------------------------------

#[tokio::test]
async fn the_root_types_are_named_query_mutation_and_subscription() {
    let app = spawn_app().await;
    let data = app
        .data(
            "{ __typename __schema { queryType { name } mutationType { name } subscriptionType { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["__typename"], "Query");
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    assert_eq!(data["__schema"]["mutationType"]["name"], "Mutation");
    assert_eq!(data["__schema"]["subscriptionType"]["name"], "Subscription");
    let data = app.data("mutation { __typename }", json!({})).await;
    assert_eq!(data["__typename"], "Mutation");
}

#[tokio::test]
async fn an_id_that_names_nothing_is_not_found_in_input_fields_too() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let before = app.counts().await;
    let cases = [
        json!({ "name": "P", "serviceId": "does-not-exist-0000" }),
        json!({ "name": "P", "serviceId": team.service, "rotation": [{ "userId": "nobody", "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-02T00:00:00Z" }] }),
        json!({ "name": "P", "serviceId": team.service, "escalationPolicy": { "initialTimeoutMs": 1000, "escalationLevels": [{ "scheduleId": "nothing", "timeoutMs": 1000 }] } }),
        json!({ "name": "P", "serviceId": team.service, "rotations": [{ "name": "R", "timeZone": "UTC", "start": "2026-01-01T00:00:00Z", "shiftLength": 1, "shiftUnit": "DAY", "participants": ["nobody"] }] }),
    ];
    for input in cases {
        let body = app
            .gql(
                "mutation($i: CreateScheduleInput!) { createSchedule(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        assert_eq!(code(&body), "NOT_FOUND", "{input}: {body}");
    }
    let body = app
        .gql(
            "mutation($i: TriggerIncidentInput!) { triggerIncident(input: $i) { id } }",
            json!({ "i": { "title": "T", "scheduleId": "does-not-exist-0000" } }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND");
    assert_eq!(app.counts().await, before);
}
