//! Reaching people, against real parts: a real SMTP server (Python's `aiosmtpd`, Debian's
//! `python3-aiosmtpd`, started by the test and writing a Maildir) and real HTTP receivers
//! (axum on port 0) for webhook and Slack contact methods.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use klaxon::app::{Config, SmtpSettings};
use klaxon::engine::notifier::DeliveryPolicy;

/// A running `aiosmtpd`, killed on drop.
struct Smtp {
    port: u16,
    maildir: tempfile::TempDir,
    child: std::process::Child,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Smtp {
    async fn start() -> Smtp {
        Self::start_refusing(0).await
    }

    /// An aiosmtpd whose first `failures` messages get `554` (its Mailbox handler with
    /// one method overridden), then accepted.
    async fn start_refusing(failures: u32) -> Smtp {
        let maildir = tempfile::tempdir().expect("maildir");
        std::fs::write(
            maildir.path().join("flaky_mailbox.py"),
            "import os\nfrom aiosmtpd.handlers import Mailbox\n\n\
             class FlakyMailbox(Mailbox):\n\
             \x20   failures = int(os.environ.get('FLAKY_FAILURES', '0'))\n\n\
             \x20   async def handle_DATA(self, server, session, envelope):\n\
             \x20       if FlakyMailbox.failures > 0:\n\
             \x20           FlakyMailbox.failures -= 1\n\
             \x20           return '554 5.3.0 mailbox unavailable (test)'\n\
             \x20       return await super().handle_DATA(server, session, envelope)\n",
        )
        .expect("handler module");
        let port = free_port();
        let python = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|p| {
                std::process::Command::new(p)
                    .args(["-c", "import aiosmtpd"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .expect(
                "python3 with aiosmtpd (Debian: python3-aiosmtpd; scripts/test.sh installs it)",
            );
        let child = std::process::Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "flaky_mailbox.FlakyMailbox"])
            .arg(maildir.path().join("mail"))
            .env("PYTHONPATH", maildir.path())
            .env("FLAKY_FAILURES", failures.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        // Dropped (killed and waited for) on every path from here.
        let smtp = Smtp {
            port,
            maildir,
            child,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return smtp;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not listen on {port}");
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// A server that sends email pages here, with quick retries.
    async fn app(&self) -> TestApp {
        spawn_app_with(Config {
            smtp: Some(SmtpSettings {
                url: self.url(),
                from: "Klaxon <klaxon@example.com>".into(),
            }),
            delivery: fast_delivery(),
            ..Config::default()
        })
        .await
    }

    fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail").join("new");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    }

    async fn wait_for(&self, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} emails, got {}", self.messages().len());
    }
}

/// Undoes quoted-printable soft breaks and escapes (lettre picks it for long lines).
fn unquote(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() + 1 {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..(i + 3).min(bytes.len())])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn line_after<'a>(text: &'a str, label: &str) -> &'a str {
    let start = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        + label.len();
    text[start..]
        .split_whitespace()
        .next()
        .expect("a value after the label")
}

fn fast_delivery() -> DeliveryPolicy {
    DeliveryPolicy {
        attempts: 2,
        retry_base: Duration::from_millis(50),
        per_minute: 100,
        window: Duration::from_secs(60),
    }
}

async fn notifications(app: &TestApp, id: &str) -> Vec<Value> {
    let data = app
        .data(
            "query($id: ID!) { incident(id: $id) { state notifications { channel status attempts lastError delivered contactMethod { name kind } user { name } } acknowledgedBy { kind name } } }",
            json!({ "id": id }),
        )
        .await;
    data["incident"]["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_status(app: &TestApp, id: &str, count: usize, status: &str) -> Vec<Value> {
    for _ in 0..200 {
        let list = notifications(app, id).await;
        if list.len() >= count && list.iter().all(|n| n["status"] == status) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "notifications of {id} not all {status}: {:?}",
        notifications(app, id).await
    );
}

#[tokio::test]
async fn an_email_page_carries_links_that_confirm_on_get_and_act_on_post() {
    if std::env::var_os("KLAXON_SKIP_SMTP").is_some() {
        return;
    }
    let smtp = Smtp::start().await;
    let app = smtp.app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "Checkout is down").await;

    // No rules: paged once, at once, by email to the user's address.
    let mail = smtp.wait_for(1).await.remove(0);
    let list = wait_status(&app, &id, 1, "SENT").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["channel"], "email");
    assert_eq!(list[0]["attempts"], 1);
    assert!(list[0]["contactMethod"].is_null());
    let text = unquote(&mail);
    assert!(text.contains("To: alice@example.com"), "{text}");
    assert!(text.contains("Subject: [HIGH] Checkout is down"), "{text}");
    assert!(text.contains("Content-Type: text/plain"), "{text}");
    assert!(text.contains("Content-Type: text/html"), "{text}");
    assert!(text.contains("Service: Payments"), "{text}");
    assert!(text.contains("Escalation level: 0"), "{text}");
    assert!(
        text.contains("Bob") && text.contains("Carol"),
        "the rest of the policy: {text}"
    );
    assert!(
        text.contains(&app.url(&format!("/incidents/{id}"))),
        "{text}"
    );
    let ack = line_after(&text, "Acknowledge: ").to_owned();
    let resolve = line_after(&text, "Resolve: ").to_owned();
    assert!(ack.starts_with(&app.url("/actions/")), "{ack}");

    let browser = reqwest::Client::new();
    // A mail scanner follows the link: a confirmation page, nothing changes.
    let page = browser.get(&ack).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\">"), "{html}");
    assert!(html.contains("Alice"), "{html}");
    assert_eq!(app.incident(&id).await["state"], "TRIGGERED");

    // The form's POST acknowledges, as the paged user.
    let done = browser.post(&ack).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let incident = app
        .data(
            "query($id: ID!) { incident(id: $id) { state acknowledgedBy { kind name } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(incident["incident"]["state"], "ACKNOWLEDGED");
    assert_eq!(incident["incident"]["acknowledgedBy"]["kind"], "USER");
    assert_eq!(incident["incident"]["acknowledgedBy"]["name"], "Alice");

    // A second POST changes nothing and says so.
    let again = browser.post(&ack).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("already acknowledged by Alice")
    );

    // A tampered link is not a link.
    let tampered = format!("{}0", &ack[..ack.len() - 1]);
    let tampered = if tampered == ack {
        format!("{}1", &ack[..ack.len() - 1])
    } else {
        tampered
    };
    assert_eq!(browser.get(&tampered).send().await.unwrap().status(), 404);
    assert_eq!(browser.post(&tampered).send().await.unwrap().status(), 404);

    // Resolve from the email; from then on every link of the incident is dead.
    assert_eq!(browser.get(&resolve).send().await.unwrap().status(), 200);
    assert_eq!(app.incident(&id).await["state"], "ACKNOWLEDGED");
    assert_eq!(browser.post(&resolve).send().await.unwrap().status(), 200);
    assert_eq!(app.incident(&id).await["state"], "RESOLVED");
    assert_eq!(browser.get(&ack).send().await.unwrap().status(), 410);
    assert_eq!(browser.post(&resolve).send().await.unwrap().status(), 410);
    app.stop().await;
}

#[tokio::test]
async fn an_smtp_server_that_is_down_fails_the_page_after_its_attempts_and_nothing_else() {
    let app = spawn_app_with(Config {
        smtp: Some(SmtpSettings {
            url: format!("smtp://127.0.0.1:{}", free_port()),
            from: "klaxon@example.com".into(),
        }),
        delivery: fast_delivery(),
        ..Config::default()
    })
    .await;
    let team = app.team(60_000, 60_000).await;
    let receiver = Receiver::start(vec![]).await;
    let method = add_method(&app, &team.alice, "WEBHOOK", "Pager", &receiver.url()).await;
    let email = add_method(&app, &team.alice, "EMAIL", "Work", "alice@example.com").await;
    add_rule(&app, &team.alice, &email["id"], 0).await;
    add_rule(&app, &team.alice, &method["id"], 0).await;
    let id = app.trigger_id(&team.schedule, "Disk full").await;
    let mut list = Vec::new();
    for _ in 0..200 {
        list = notifications(&app, &id).await;
        if list.len() == 2 && list.iter().all(|n| n["status"] != "PENDING") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let by = |channel: &str| {
        list.iter()
            .find(|n| n["channel"] == channel)
            .cloned()
            .unwrap_or_else(|| panic!("no {channel} notification in {list:?}"))
    };
    let failed = by("email");
    assert_eq!(failed["status"], "FAILED", "{list:?}");
    assert_eq!(failed["attempts"], 2);
    assert!(
        failed["lastError"].as_str().unwrap().contains("SMTP"),
        "{failed}"
    );
    assert_eq!(failed["contactMethod"]["name"], "Work");
    // The other channel still delivered, and the server is healthy.
    assert_eq!(by("webhook")["status"], "SENT", "{list:?}");
    assert_eq!(receiver.received().len(), 1);
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;
type Script = Arc<Mutex<std::vec::IntoIter<u16>>>;

/// An HTTP receiver that answers each request with the next scripted status (200 when
/// the script runs out) and keeps what it received.
struct Receiver {
    addr: SocketAddr,
    got: Received,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> Receiver {
        let got: Received = Arc::default();
        let script = Arc::new(Mutex::new(script.into_iter()));
        let state = (got.clone(), script);
        let app = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(
                |axum::extract::State((got, script)): axum::extract::State<(Received, Script)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    got.lock().unwrap().push((headers, body));
                    let status = script.lock().unwrap().next().unwrap_or(200);
                    StatusCode::from_u16(status).unwrap()
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.with_state(state)).await;
        });
        Receiver { addr, got }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn received(&self) -> Vec<(HeaderMap, Bytes)> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<(HeaderMap, Bytes)> {
        for _ in 0..200 {
            if self.received().len() >= count {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("expected {count} posts, got {}", self.received().len());
    }
}

async fn add_method(app: &TestApp, user: &str, kind: &str, name: &str, target: &str) -> Value {
    let body = app
        .gql(
            "mutation($i: AddContactMethodInput!) { addContactMethod(input: $i) { id kind name target signingSecret } }",
            json!({ "i": { "userId": user, "kind": kind, "name": name, "target": target } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["addContactMethod"].clone()
}

async fn add_rule(app: &TestApp, user: &str, method: &Value, delay_ms: i64) -> Value {
    let body = app
        .gql(
            "mutation($i: AddNotificationRuleInput!) { addNotificationRule(input: $i) { id delayMs contactMethod { id } } }",
            json!({ "i": { "userId": user, "contactMethodId": method, "delayMs": delay_ms } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["addNotificationRule"].clone()
}

#[tokio::test]
async fn rules_page_each_method_after_its_delay_unless_acknowledged_first() {
    let app = spawn_app_with(Config {
        delivery: fast_delivery(),
        ..Config::default()
    })
    .await;
    let team = app.team(60_000, 60_000).await;
    let hook = Receiver::start(vec![]).await;
    let slack = Receiver::start(vec![]).await;
    let webhook = add_method(&app, &team.alice, "WEBHOOK", "Pager", &hook.url()).await;
    let chat = add_method(&app, &team.alice, "SLACK", "Team", &slack.url()).await;
    let secret = webhook["signingSecret"].as_str().expect("a signing secret");
    assert!(chat["signingSecret"].is_null());
    add_rule(&app, &team.alice, &chat["id"], 600).await;
    add_rule(&app, &team.alice, &webhook["id"], 0).await;
    let rules = app
        .data(
            "query($id: ID!) { user(id: $id) { notificationRules { delayMs contactMethod { name } } contactMethods { name target } } }",
            json!({ "id": team.alice }),
        )
        .await;
    assert_eq!(rules["user"]["notificationRules"][0]["delayMs"], 0);
    assert_eq!(
        rules["user"]["notificationRules"][1]["contactMethod"]["name"],
        "Team"
    );
    assert_eq!(rules["user"]["contactMethods"][0]["target"], hook.url());

    let started = std::time::Instant::now();
    let id = app.trigger_id(&team.schedule, "Checkout is down").await;
    // The webhook at once, signed with the method's secret.
    let (headers, body) = hook.wait_for(1).await.remove(0);
    let signature = headers["x-klaxon-signature"].to_str().unwrap();
    assert!(klaxon::engine::http_out::verify(
        secret.as_bytes(),
        &body,
        signature
    ));
    assert!(headers.contains_key("x-klaxon-delivery"));
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["event"]["type"], "incident.page");
    assert_eq!(envelope["event"]["incident"]["id"], id.as_str());
    assert_eq!(envelope["event"]["incident"]["service"]["name"], "Payments");
    // The incident as every webhook envelope shows it.
    assert_eq!(envelope["event"]["incident"]["state"], "TRIGGERED");
    assert_eq!(envelope["event"]["incident"]["assignee"]["name"], "Alice");
    assert_eq!(
        envelope["event"]["incident"]["url"],
        app.url(&format!("/incidents/{id}")).as_str()
    );
    assert!(
        slack.received().is_empty(),
        "the Slack rule waits its delay"
    );
    // Slack after its delay, with Block Kit.
    let (_, body) = slack.wait_for(1).await.remove(0);
    assert!(started.elapsed() >= Duration::from_millis(550));
    let message: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("Checkout is down")
    );
    let blocks = message["blocks"].to_string();
    assert!(
        blocks.contains("Payments") && blocks.contains("Alice"),
        "{blocks}"
    );
    let list = wait_status(&app, &id, 2, "SENT").await;
    assert_eq!(list.len(), 2, "{list:?}");

    // Acknowledged before the delay: the Slack rule sends nothing.
    let second = app.trigger_id(&team.schedule, "Queue backlog").await;
    hook.wait_for(2).await;
    app.act("acknowledgeIncident", &second).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        slack.received().len(),
        1,
        "a rule due after the acknowledgement sent"
    );
    let list = notifications(&app, &second).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["channel"], "webhook");
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_method_that_fails_is_retried_then_shown_failed() {
    let app = spawn_app_with(Config {
        delivery: fast_delivery(),
        ..Config::default()
    })
    .await;
    let team = app.team(60_000, 60_000).await;
    // 503 then 200: retried, sent on the second attempt.
    let flaky = Receiver::start(vec![503]).await;
    let method = add_method(&app, &team.alice, "WEBHOOK", "Flaky", &flaky.url()).await;
    add_rule(&app, &team.alice, &method["id"], 0).await;
    let id = app.trigger_id(&team.schedule, "One").await;
    let list = wait_status(&app, &id, 1, "SENT").await;
    assert_eq!(list[0]["attempts"], 2);
    let posts = flaky.wait_for(2).await;
    assert_eq!(
        posts[0].0["x-klaxon-delivery"], posts[1].0["x-klaxon-delivery"],
        "the same delivery id on every retry"
    );
    // A 400 is not retried.
    let refusing = Receiver::start(vec![400, 400, 400]).await;
    let other = add_method(&app, &team.bob, "WEBHOOK", "Refusing", &refusing.url()).await;
    add_rule(&app, &team.bob, &other["id"], 0).await;
    let id = app.trigger_id(&team.schedule, "Two").await;
    app.act("escalateIncident", &id).await;
    let mut failed = None;
    for _ in 0..200 {
        let list = notifications(&app, &id).await;
        if let Some(n) = list
            .iter()
            .find(|n| n["user"]["name"] == "Bob" && n["status"] == "FAILED")
        {
            failed = Some(n.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let failed = failed.expect("Bob's page failed");
    assert_eq!(failed["attempts"], 1, "{failed}");
    assert!(failed["lastError"].as_str().unwrap().contains("400"));
    assert_eq!(refusing.received().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_contact_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let cases = [
        ("EMAIL", "not-an-address", "BAD_USER_INPUT"),
        ("EMAIL", "a b@example.com", "BAD_USER_INPUT"),
        ("SLACK", "ftp://hooks.example.com/x", "BAD_USER_INPUT"),
        (
            "WEBHOOK",
            "https://user:pass@example.com/hook",
            "BAD_USER_INPUT",
        ),
        ("WEBHOOK", "javascript:alert(1)", "BAD_USER_INPUT"),
        ("WEBHOOK", "", "BAD_USER_INPUT"),
    ];
    for (kind, target, expected) in cases {
        let body = app
            .gql(
                "mutation($i: AddContactMethodInput!) { addContactMethod(input: $i) { id } }",
                json!({ "i": { "userId": team.alice, "kind": kind, "name": "x", "target": target } }),
            )
            .await;
        assert_eq!(code(&body), expected, "{kind} {target}: {body}");
    }
    let long = format!("https://example.com/{}", "a".repeat(3000));
    let body = app
        .gql(
            "mutation($i: AddContactMethodInput!) { addContactMethod(input: $i) { id } }",
            json!({ "i": { "userId": team.alice, "kind": "WEBHOOK", "name": "x", "target": long } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    // Loopback and private targets are fine.
    let ok = add_method(
        &app,
        &team.alice,
        "WEBHOOK",
        "Internal",
        "http://10.1.2.3:8080/page",
    )
    .await;
    for delay in [-1, 86_400_001, i32::MAX as i64] {
        let body = app
            .gql(
                "mutation($i: AddNotificationRuleInput!) { addNotificationRule(input: $i) { id } }",
                json!({ "i": { "userId": team.alice, "contactMethodId": ok["id"], "delayMs": delay } }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{delay}: {body}");
    }
    // A rule must name one of the user's own methods.
    let body = app
        .gql(
            "mutation($i: AddNotificationRuleInput!) { addNotificationRule(input: $i) { id } }",
            json!({ "i": { "userId": team.bob, "contactMethodId": ok["id"], "delayMs": 0 } }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    for _ in 0..20 {
        add_rule(&app, &team.alice, &ok["id"], 1000).await;
    }
    let body = app
        .gql(
            "mutation($i: AddNotificationRuleInput!) { addNotificationRule(input: $i) { id } }",
            json!({ "i": { "userId": team.alice, "contactMethodId": ok["id"], "delayMs": 0 } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "the 21st rule: {body}");
    let data = app
        .data(
            "query($id: ID!) { user(id: $id) { contactMethods { id } notificationRules { id } } }",
            json!({ "id": team.alice }),
        )
        .await;
    assert_eq!(data["user"]["contactMethods"].as_array().unwrap().len(), 1);
    assert_eq!(
        data["user"]["notificationRules"].as_array().unwrap().len(),
        20
    );

    // Removing the method removes its rules.
    let body = app
        .gql(
            "mutation($id: ID!) { removeContactMethod(id: $id) }",
            json!({ "id": ok["id"] }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let data = app
        .data(
            "query($id: ID!) { user(id: $id) { contactMethods { id } notificationRules { id } } }",
            json!({ "id": team.alice }),
        )
        .await;
    assert_eq!(data["user"]["notificationRules"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn only_the_owner_and_admins_see_and_change_contacts() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let method = add_method(
        &app,
        &team.alice,
        "WEBHOOK",
        "Pager",
        "http://127.0.0.1:9/x",
    )
    .await;
    // A responder token is not Alice: it sees no targets and changes nothing.
    let data = app
        .data(
            "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token } }",
            json!({ "i": { "name": "script", "role": "RESPONDER" } }),
        )
        .await;
    let token = data["createApiToken"]["token"].as_str().unwrap().to_owned();
    let responder = client_with_token(&token);
    let ask = |query: &'static str, variables: Value| {
        let responder = responder.clone();
        let url = app.url("/graphql");
        async move {
            responder
                .post(url)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let body = ask(
        "query($id: ID!) { user(id: $id) { contactMethods { id } } }",
        json!({ "id": team.alice }),
    )
    .await;
    assert_eq!(body["data"]["user"]["contactMethods"], json!([]), "{body}");
    let body = ask(
        "mutation($i: AddContactMethodInput!) { addContactMethod(input: $i) { id } }",
        json!({ "i": { "userId": team.alice, "kind": "EMAIL", "name": "x", "target": "x@example.com" } }),
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = ask(
        "mutation($id: ID!) { removeContactMethod(id: $id) }",
        json!({ "id": method["id"] }),
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = ask(
        "mutation($id: ID!) { sendTestNotification(contactMethodId: $id) { ok } }",
        json!({ "id": method["id"] }),
    )
    .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");

    // Alice herself, logged in, manages her own and tests them.
    let hook = Receiver::start(vec![]).await;
    let alice_id = team.alice.parse().map(klaxon::domain::UserId).unwrap();
    let link = app.gate.login_link(alice_id);
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(&format!("/auth/link/{link}")))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let alice = reqwest::Client::new();
    let as_alice = |query: &'static str, variables: Value| {
        let alice = alice.clone();
        let cookie = cookie.clone();
        let url = app.url("/graphql");
        async move {
            alice
                .post(url)
                .header("cookie", cookie)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let body = as_alice(
        "mutation($i: AddContactMethodInput!) { addContactMethod(input: $i) { id } }",
        json!({ "i": { "userId": team.alice, "kind": "SLACK", "name": "Chat", "target": hook.url() } }),
    )
    .await;
    let chat = body["data"]["addContactMethod"]["id"].clone();
    assert!(chat.is_string(), "{body}");
    let body = as_alice(
        "mutation($id: ID!) { sendTestNotification(contactMethodId: $id) { ok error } }",
        json!({ "id": chat }),
    )
    .await;
    assert_eq!(body["data"]["sendTestNotification"]["ok"], true, "{body}");
    let (_, posted) = hook.wait_for(1).await.remove(0);
    assert!(String::from_utf8_lossy(&posted).contains("test notification"));
    // A test to a dead endpoint says why.
    let body = as_alice(
        "mutation($id: ID!) { sendTestNotification(contactMethodId: $id) { ok error } }",
        json!({ "id": method["id"] }),
    )
    .await;
    assert_eq!(body["data"]["sendTestNotification"]["ok"], false, "{body}");
    assert!(body["data"]["sendTestNotification"]["error"].is_string());
    // But not Bob's.
    let bobs = add_method(&app, &team.bob, "EMAIL", "Bob", "bob@example.com").await;
    let body = as_alice(
        "mutation($id: ID!) { removeContactMethod(id: $id) }",
        json!({ "id": bobs["id"] }),
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_storm_to_one_contact_method_is_bundled_not_dropped() {
    let app = spawn_app_with(Config {
        delivery: DeliveryPolicy {
            per_minute: 2,
            window: Duration::from_millis(1500),
            ..fast_delivery()
        },
        ..Config::default()
    })
    .await;
    let team = app.team(60_000, 60_000).await;
    let hook = Receiver::start(vec![]).await;
    let method = add_method(&app, &team.alice, "WEBHOOK", "Pager", &hook.url()).await;
    add_rule(&app, &team.alice, &method["id"], 0).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(app.trigger_id(&team.schedule, &format!("storm {n}")).await);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        hook.received().len(),
        2,
        "two messages in the window, the rest wait"
    );
    // When the window has room again: one message for the other four.
    let posts = hook.wait_for(3).await;
    let bundle: Value = serde_json::from_slice(&posts[2].1).unwrap();
    assert_eq!(bundle["event"]["incident"]["id"], ids[2].as_str());
    let bundled: Vec<&str> = bundle["event"]["bundled"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        bundled,
        vec![ids[3].as_str(), ids[4].as_str(), ids[5].as_str()]
    );
    for id in &ids {
        let list = wait_status(&app, id, 1, "SENT").await;
        assert_eq!(list.len(), 1, "one entry per incident: {list:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.received().len(), 3, "nothing sent twice");
    app.stop().await;
}

#[tokio::test]
async fn an_smtp_server_that_answers_5xx_is_retried_and_the_page_arrives() {
    if std::env::var_os("KLAXON_SKIP_SMTP").is_some() {
        return;
    }
    let smtp = Smtp::start_refusing(1).await;
    let app = smtp.app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "Refused once").await;
    let list = wait_status(&app, &id, 1, "SENT").await;
    assert_eq!(list[0]["attempts"], 2, "{list:?}");
    assert_eq!(smtp.wait_for(1).await.len(), 1);
    app.stop().await;
}
