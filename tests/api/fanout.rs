//! Shared subscription executions (`http::fanout`): subscribers with the same document,
//! variables and role share one execution and one serialized payload, and each still sees
//! exactly what a subscription of its own would.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::WebSocketProtocols;
use futures_util::StreamExt;
use klaxon::app::{Config, Core};
use klaxon::domain::{Actor, Credential, NewIncident, Principal, Role, Severity, UserId};
use klaxon::graphql::SubscriptionBudget;
use klaxon::http::fanout::{self, Hub, Incoming, Member};
use klaxon::store::{MemoryJournal, State, Store};
use serde_json::{Value, json};

use crate::helpers::{EVENTS, Protocol, one_schedule, schema_for, spawn_app, spawn_app_with, sys};

const BOARD: &str =
    "subscription { incidentEvents { kind incident { title state assignedTo { name } } } }";

/// A store with the engine and notifier running, in memory.
fn core(config: &Config) -> Core {
    Core::start(State::default(), Arc::new(MemoryJournal), config)
}

async fn trigger(store: &Store, schedule: &str, title: &str) {
    let new = NewIncident::parse(title, None, Severity::Low, None).unwrap();
    store.trigger(&sys(), schedule, new).await.unwrap();
}

fn join(hub: &Hub, id: &str, query: &str, variables: Value, principal: &Principal) -> Member {
    let message = json!({ "type": "subscribe", "id": id, "payload": { "query": query, "variables": variables } });
    let Incoming::Shareable { id, request, root } =
        fanout::classify(message.to_string().as_bytes())
    else {
        panic!("{query} is shareable");
    };
    let permit = SubscriptionBudget::new(10).try_acquire().unwrap();
    hub.join(
        &id,
        *request,
        root,
        principal,
        WebSocketProtocols::GraphQLWS,
        permit,
    )
}

async fn next(member: &mut Member) -> Value {
    let text = tokio::time::timeout(Duration::from_secs(5), member.next())
        .await
        .expect("a message in time")
        .expect("the member is live");
    serde_json::from_str(&text).unwrap()
}

fn responder(name: &str) -> Principal {
    Principal {
        actor: Actor::user(UserId(uuid::Uuid::new_v4()), name),
        role: Role::Responder,
        credential: Credential::System,
        expires_at: None,
    }
}

#[tokio::test]
async fn a_member_gets_what_its_own_subscription_would_from_the_moment_it_joins() {
    let core = core(&Config::default());
    let store = &core.store;
    let schedule = one_schedule(store).await;
    let schema = schema_for(store);
    let hub = Hub::new(schema.clone(), store.clone(), 16);
    let mut own = schema.execute_stream(BOARD);
    assert!(futures_util::poll!(own.next()).is_pending());

    let mut first = join(&hub, "a", BOARD, json!({}), &sys());
    trigger(store, &schedule, "before the second joined").await;
    let mut second = join(&hub, "b", BOARD, json!({}), &sys());
    assert_eq!((hub.groups(), hub.members()), (1, 2), "one execution");
    trigger(store, &schedule, "after both joined").await;

    for title in ["before the second joined", "after both joined"] {
        let expected = serde_json::to_value(own.next().await.unwrap()).unwrap();
        assert_eq!(
            expected["data"]["incidentEvents"]["incident"]["title"],
            title
        );
        let frame = next(&mut first).await;
        assert_eq!(frame["type"], "next");
        assert_eq!(frame["id"], "a");
        assert_eq!(
            frame["payload"], expected,
            "the same bytes as its own execution"
        );
        if title == "after both joined" {
            let frame = next(&mut second).await;
            assert_eq!(frame["id"], "b");
            assert_eq!(frame["payload"], expected);
        }
    }
    // The second never sees what was published before it joined.
    assert!(futures_util::poll!(second.next()).is_pending());
    // The store counts one receiver; the hub reports both subscribers.
    assert_eq!(hub.subscribers(), 3, "its own and the two members");
    drop(first);
    drop(second);
    assert_eq!((hub.groups(), hub.members()), (0, 0));
    core.stop();
}

#[tokio::test]
async fn a_member_that_falls_behind_lags_alone_with_the_error_its_own_subscription_gives() {
    let core = core(&Config::default());
    let store = &core.store;
    let schedule = one_schedule(store).await;
    let hub = Hub::new(schema_for(store), store.clone(), 4);
    let mut fast = join(&hub, "fast", BOARD, json!({}), &sys());
    let mut slow = join(&hub, "slow", BOARD, json!({}), &sys());
    for i in 0..10 {
        trigger(store, &schedule, &format!("storm {i}")).await;
        let frame = next(&mut fast).await;
        assert!(frame["payload"].get("errors").is_none(), "{frame}");
    }
    let mut received = Vec::new();
    loop {
        let frame = next(&mut slow).await;
        let done = frame["type"] == "complete";
        received.push(frame);
        if done {
            break;
        }
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(1), slow.next())
            .await
            .unwrap()
            .is_none()
    );
    let [.., error, complete] = received.as_slice() else {
        panic!("{received:?}");
    };
    assert_eq!(complete["id"], "slow");
    let error = &error["payload"];
    assert_eq!(error["data"], Value::Null);
    assert_eq!(error["errors"][0]["extensions"]["code"], "INTERNAL");
    assert!(error["errors"][0]["extensions"]["lagged"].as_u64().unwrap() >= 1);
    assert_eq!(error["errors"][0]["path"], json!(["incidentEvents"]));
    assert_eq!(
        error["errors"][0]["locations"],
        json!([{ "line": 1, "column": 16 }])
    );
    assert!(
        received.len() <= 4 + 2,
        "at most the buffer, then the error"
    );
    // The other member was not disturbed.
    trigger(store, &schedule, "after").await;
    assert_eq!(
        next(&mut fast).await["payload"]["data"]["incidentEvents"]["incident"]["title"],
        "after"
    );
    core.stop();
}

#[tokio::test]
async fn a_lag_error_reads_like_an_unshared_one() {
    // An unshared subscription that lags: its store keeps 2 updates.
    let small = core(&Config {
        update_buffer: 2,
        ..Config::default()
    });
    let schedule = one_schedule(&small.store).await;
    let mut own = schema_for(&small.store).execute_stream(BOARD);
    assert!(futures_util::poll!(own.next()).is_pending());
    for i in 0..6 {
        trigger(&small.store, &schedule, &format!("e{i}")).await;
    }
    let mut unshared = None;
    while let Some(response) = own.next().await {
        unshared = Some(serde_json::to_value(response).unwrap());
    }
    // A member that lags alone: its group keeps up (a default store buffer, and another
    // member read after every event proves the execution took each one), but the member
    // may fall 2 frames behind.
    let big = core(&Config::default());
    let schedule = one_schedule(&big.store).await;
    let hub = Hub::new(schema_for(&big.store), big.store.clone(), 2);
    let mut member = join(&hub, "m", BOARD, json!({}), &sys());
    let mut reader = join(&hub, "r", BOARD, json!({}), &sys());
    for i in 0..6 {
        trigger(&big.store, &schedule, &format!("e{i}")).await;
        next(&mut reader).await;
    }
    let mut frames = Vec::new();
    while let Some(text) = member.next().await {
        frames.push(serde_json::from_str::<Value>(&text).unwrap());
    }
    let [error, complete] = frames.as_slice() else {
        panic!("the lag first, then the end: {frames:?}");
    };
    assert_eq!(complete["type"], "complete");
    let mut shared = error["payload"].clone();
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["lagged"], 4,
        "6 frames, 2 kept"
    );
    let mut unshared = unshared.expect("the unshared lag error");
    for error in [&mut unshared, &mut shared] {
        assert!(
            error["errors"][0]["extensions"]["lagged"].as_u64().unwrap() >= 1,
            "{error}"
        );
        error["errors"][0]["extensions"]["lagged"] = json!("n");
        let message = error["errors"][0]["message"].as_str().unwrap().to_owned();
        error["errors"][0]["message"] = json!(message.split(' ').next().unwrap());
    }
    assert_eq!(shared, unshared);
    small.stop();
    big.stop();
}

#[tokio::test]
async fn personal_fields_are_shared_only_by_the_same_person() {
    let core = core(&Config::default());
    let store = &core.store;
    let hub = Hub::new(schema_for(store), store.clone(), 16);
    let personal =
        "subscription { incidentEvents { incident { assignedTo { contactMethods { target } } } } }";
    let (ann, ben) = (responder("Ann"), responder("Ben"));
    let _a = join(&hub, "1", personal, json!({}), &ann);
    let _b = join(&hub, "1", personal, json!({}), &ben);
    let _a2 = join(&hub, "2", personal, json!({}), &ann);
    assert_eq!(hub.groups(), 2, "one per person");
    let _c = join(&hub, "3", BOARD, json!({}), &ann);
    let _d = join(&hub, "3", BOARD, json!({}), &ben);
    assert_eq!(hub.groups(), 3, "nothing personal: one for the role");
    let _e = join(&hub, "4", BOARD, json!({}), &sys());
    assert_eq!(hub.groups(), 4, "another role, another execution");
    let _f = join(&hub, "5", BOARD, json!({ "x": 1 }), &sys());
    assert_eq!(hub.groups(), 5, "other variables, another execution");
    core.stop();
}

#[tokio::test]
async fn a_start_error_reaches_the_member_and_the_group_goes() {
    let core = core(&Config::default());
    let store = &core.store;
    let hub = Hub::new(schema_for(store), store.clone(), 16);
    let mut member = join(
        &hub,
        "x",
        EVENTS,
        json!({ "service": "00000000-0000-0000-0000-000000000000" }),
        &sys(),
    );
    let error = next(&mut member).await;
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{error}"
    );
    assert_eq!(
        next(&mut member).await,
        json!({ "type": "complete", "id": "x" })
    );
    assert!(member.next().await.is_none());
    drop(member);
    assert_eq!(hub.groups(), 0);
    core.stop();
}

async fn health(app: &crate::helpers::TestApp) -> Value {
    app.http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn websocket_subscribers_of_one_document_share_one_execution() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let mut a = app
        .subscribe(Protocol::TransportWs, EVENTS, json!({}))
        .await;
    let mut b = app
        .subscribe(Protocol::TransportWs, EVENTS, json!({}))
        .await;
    let mut legacy = app
        .subscribe(Protocol::LegacyGraphqlWs, EVENTS, json!({}))
        .await;
    let mut filtered = app
        .subscribe(
            Protocol::TransportWs,
            EVENTS,
            json!({ "schedule": team.schedule }),
        )
        .await;
    // A directive on the root field is not shared: async-graphql runs it, as before.
    let unshared_query = EVENTS.replace(
        "incidentEvents(serviceId: $service, scheduleId: $schedule)",
        "incidentEvents(serviceId: $service, scheduleId: $schedule) @include(if: true)",
    );
    let mut unshared = app
        .subscribe(Protocol::TransportWs, &unshared_query, json!({}))
        .await;
    let health = health(&app).await;
    assert_eq!(health["subscribers"], 5, "{health}");
    assert_eq!(health["subscriptionExecutions"], 3, "{health}");

    app.trigger(&team.schedule, "x").await;
    let expected = unshared.next_data(Duration::from_secs(5)).await;
    assert_eq!(expected["data"]["incidentEvents"]["kind"], "TRIGGERED");
    for sub in [&mut a, &mut b, &mut legacy, &mut filtered] {
        assert_eq!(sub.next_data(Duration::from_secs(5)).await, expected);
    }

    // `complete` ends one member; the server confirms it, as async-graphql does.
    a.send(json!({ "type": "complete", "id": "1" })).await;
    let done = a.next_message(Duration::from_secs(5)).await.unwrap();
    assert_eq!(done, json!({ "type": "complete", "id": "1" }));
    // A second subscription on the same connection, same document: it joins the group.
    a.start("2", EVENTS, json!({})).await;
    for _ in 0..200 {
        if health_of(&app, "subscribers").await == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(health_of(&app, "subscriptionExecutions").await, 3);
    app.trigger(&team.schedule, "y").await;
    // Each member gets its own operation id around the same payload.
    let frame = a.next_message(Duration::from_secs(5)).await.unwrap();
    assert_eq!(frame["id"], "2", "{frame}");
    let other = b.next_message(Duration::from_secs(5)).await.unwrap();
    assert_eq!(other["id"], "1", "{other}");
    assert_eq!(other["payload"], frame["payload"]);
    assert_eq!(
        other["payload"]["data"]["incidentEvents"]["kind"],
        "TRIGGERED"
    );
    a.expect_silence(Duration::from_millis(200)).await;

    // Everyone gone: no execution is left behind.
    drop((a, b, legacy, filtered, unshared));
    for _ in 0..400 {
        if health_of(&app, "subscriptionExecutions").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(health_of(&app, "subscriptionExecutions").await, 0);
    assert_eq!(health_of(&app, "subscribers").await, 0);
}

async fn health_of(app: &crate::helpers::TestApp, field: &str) -> u64 {
    health(app).await[field].as_u64().unwrap()
}

#[tokio::test]
async fn without_sharing_every_subscriber_executes_its_own() {
    let app = spawn_app_with(Config {
        share_subscriptions: false,
        ..Config::default()
    })
    .await;
    let team = app.team(60_000, 60_000).await;
    let mut a = app
        .subscribe(Protocol::TransportWs, EVENTS, json!({}))
        .await;
    let mut b = app
        .subscribe(Protocol::TransportWs, EVENTS, json!({}))
        .await;
    assert_eq!(health_of(&app, "subscriptionExecutions").await, 2);
    app.trigger(&team.schedule, "x").await;
    assert_eq!(a.next_event().await, b.next_event().await);
}

#[tokio::test]
async fn a_reused_id_replaces_its_subscription_on_either_side() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let mut sub = app
        .subscribe(Protocol::TransportWs, EVENTS, json!({}))
        .await;
    // The same id again, now a subscription async-graphql runs: it replaces the shared one.
    let unshared_query = EVENTS.replace("kind at", "kind at __typename");
    let unshared_query = unshared_query.replace(
        "incidentEvents(serviceId: $service, scheduleId: $schedule)",
        "incidentEvents(serviceId: $service, scheduleId: $schedule) @include(if: true)",
    );
    sub.start("1", &unshared_query, json!({})).await;
    // Once the pong is back, the replacement was routed: the shared member is gone.
    sub.ping_pong().await;
    // async-graphql registers its stream when it next polls it: trigger until it answers.
    let event = loop {
        app.trigger(&team.schedule, "x").await;
        if let Some(message) = sub.next_message(Duration::from_millis(200)).await {
            break message["payload"]["data"]["incidentEvents"].clone();
        }
    };
    assert_eq!(
        event["__typename"], "IncidentEvent",
        "the replacement answers: {event}"
    );
    sub.expect_silence(Duration::from_millis(300)).await;
}
