//! `incidentEvents` over WebSocket, in both protocols.

use std::time::Duration;

use std::sync::Arc;

use futures_util::StreamExt;
use klaxon::app::{Config, Core};
use klaxon::domain::{NewIncident, Severity};
use klaxon::store::{MemoryJournal, State};
use serde_json::json;

use crate::helpers::{EVENTS, Protocol, Subscriber, schema_for, spawn_app, spawn_app_with, sys};

#[tokio::test]
async fn trigger_reaches_a_graphql_transport_ws_subscriber() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let mut events = app.events().await;
    let id = app.trigger(&team.schedule, "x").await["id"].clone();
    let event = events.next_event().await;
    assert_eq!(event["kind"], "TRIGGERED");
    assert_eq!(event["incident"]["id"], id);
    assert_eq!(event["incident"]["state"], "TRIGGERED");
}

#[tokio::test]
async fn trigger_reaches_a_legacy_graphql_ws_subscriber() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let mut events = app
        .subscribe(Protocol::LegacyGraphqlWs, EVENTS, json!({}))
        .await;
    app.trigger(&team.schedule, "x").await;
    assert_eq!(events.next_event().await["kind"], "TRIGGERED");
}

#[tokio::test]
async fn events_arrive_in_the_order_they_happened() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let mut events = app.events().await;
    let id = app.trigger_id(&team.schedule, "x").await;
    app.act("acknowledgeIncident", &id).await;
    app.act("escalateIncident", &id).await;
    app.act("resolveIncident", &id).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(
            events.next_event().await["kind"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(seen, ["TRIGGERED", "ACKNOWLEDGED", "ESCALATED", "RESOLVED"]);
}

#[tokio::test]
async fn a_no_op_or_refused_mutation_publishes_nothing() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "x").await;
    app.act("acknowledgeIncident", &id).await;
    let mut events = app.events().await;
    app.act("acknowledgeIncident", &id).await; // no-op
    app.act("resolveIncident", &id).await;
    app.act("resolveIncident", &id).await; // no-op
    app.act("escalateIncident", &id).await; // refused
    assert_eq!(events.next_event().await["kind"], "RESOLVED");
    events.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn filters_by_service_and_schedule() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let other_service = app.create_service("Other").await;
    let other = app.create_schedule(&other_service, &[], 60_000, &[]).await;
    let mut by_service = app
        .subscribe(
            Protocol::TransportWs,
            EVENTS,
            json!({ "service": other_service }),
        )
        .await;
    let mut by_schedule = app
        .subscribe(
            Protocol::TransportWs,
            EVENTS,
            json!({ "schedule": team.schedule }),
        )
        .await;
    app.trigger(&team.schedule, "mine").await;
    let theirs = app.trigger(&other, "theirs").await["id"].clone();
    assert_eq!(by_service.next_event().await["incident"]["id"], theirs);
    by_service.expect_silence(Duration::from_millis(200)).await;
    let mine = by_schedule.next_event().await;
    assert_ne!(mine["incident"]["id"], theirs);
    by_schedule.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn subscribing_to_an_unknown_service_is_not_found() {
    let app = spawn_app().await;
    let mut sub = app
        .subscribe(
            Protocol::TransportWs,
            EVENTS,
            json!({ "service": "00000000-0000-0000-0000-000000000000" }),
        )
        .await;
    let message = sub.next_message(Duration::from_secs(5)).await.unwrap();
    let errors = if message["type"] == "error" {
        message["payload"].clone()
    } else {
        message["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{message}");
}

#[tokio::test]
async fn a_lagging_subscriber_gets_an_error_and_its_stream_ends_while_others_continue() {
    // Straight on the schema, so "not reading" is exact (no socket buffers in between).
    let config = Config {
        update_buffer: 4,
        ..Config::default()
    };
    let core = Core::start(State::default(), Arc::new(MemoryJournal), &config);
    let schema = schema_for(&core.store);
    let subscription = "subscription { incidentEvents { kind incident { title } } }";
    let mut slow = schema.execute_stream(subscription);
    let mut fast = schema.execute_stream(subscription);
    // Start both subscriptions (the first poll registers the broadcast receiver).
    assert!(futures_util::poll!(slow.next()).is_pending());
    assert!(futures_util::poll!(fast.next()).is_pending());

    let store = &core.store;
    let schedule = crate::helpers::one_schedule(store).await;
    for i in 0..10 {
        let new = NewIncident::parse(&format!("storm {i}"), None, Severity::Low, None).unwrap();
        store.trigger(&sys(), &schedule, new).await.unwrap();
        // The fast subscriber keeps up.
        let event = fast.next().await.unwrap();
        assert!(event.errors.is_empty(), "{event:?}");
    }
    // The slow one gets what is still buffered, then one error, then the end.
    let mut received = Vec::new();
    while let Some(response) = tokio::time::timeout(Duration::from_secs(2), slow.next())
        .await
        .unwrap()
    {
        received.push(response);
    }
    let last = received.last().expect("an error before the end");
    assert_eq!(last.errors.len(), 1, "{last:?}");
    let extensions = last.errors[0].extensions.as_ref().unwrap();
    assert_eq!(
        extensions.get("code"),
        Some(&async_graphql::Value::from("INTERNAL"))
    );
    assert!(
        received[..received.len() - 1]
            .iter()
            .all(|r| r.errors.is_empty())
    );
    assert!(received.len() <= 5, "at most the buffer, then the error");
    core.stop();
}

#[tokio::test]
async fn subscriptions_per_connection_are_capped() {
    let app = spawn_app_with(Config {
        max_subscriptions_per_connection: 2,
        ..Config::default()
    })
    .await;
    let mut sub = app.events().await;
    sub.start("2", EVENTS, json!({})).await;
    sub.start("3", EVENTS, json!({})).await;
    // Streams start in no particular order: exactly one of the three is refused.
    let message = sub.next_message(Duration::from_secs(5)).await.unwrap();
    let errors = if message["type"] == "error" {
        message["payload"].clone()
    } else {
        message["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "RATE_LIMITED", "{message}");
    let complete = sub.next_message(Duration::from_secs(5)).await.unwrap();
    assert_eq!(complete["type"], "complete");
    assert_eq!(complete["id"], message["id"]);
    sub.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn websocket_connections_are_capped() {
    let app = spawn_app_with(Config {
        max_ws_connections: 2,
        ..Config::default()
    })
    .await;
    let _a = Subscriber::open(app.addr, Protocol::TransportWs)
        .await
        .unwrap();
    let _b = Subscriber::open(app.addr, Protocol::TransportWs)
        .await
        .unwrap();
    let third = Subscriber::open(app.addr, Protocol::TransportWs).await;
    assert!(third.is_err(), "a third connection is refused");
    // The server still answers everyone else.
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert!(health.status().is_success());
}

#[tokio::test]
async fn shutdown_closes_websockets_cleanly() {
    let app = spawn_app().await;
    let mut sub = app.events().await;
    let stopping = tokio::spawn(app.stop());
    let message = sub
        .next_message(Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert_eq!(message["type"], "__closed");
    assert_eq!(message["code"], 1001);
    stopping.await.unwrap();
}
