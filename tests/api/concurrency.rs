//! Races between people (and timers) on one incident leave one consistent history.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_moves_on_one_incident_leave_a_consistent_history() {
    let app = spawn_app().await;
    // Escalation timers of 5 ms race with the people too.
    let team = app.team(5, 5).await;
    let mut events = app.events().await;
    let id = app.trigger_id(&team.schedule, "contended").await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let app = app.clone();
        let id = id.clone();
        let mutation = ["acknowledgeIncident", "escalateIncident", "resolveIncident"][i % 3];
        tasks.push(tokio::spawn(async move {
            (mutation, app.act(mutation, &id).await)
        }));
    }
    let mut answers: Vec<(&str, Value)> = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    for (mutation, body) in &answers {
        if let Some(errors) = body.get("errors") {
            assert_eq!(
                errors[0]["extensions"]["code"], "INVALID_STATE",
                "{mutation}: {body}"
            );
        }
    }
    let incident = app.incident(&id).await;
    assert_eq!(
        incident["state"], "RESOLVED",
        "resolve always succeeds or is a no-op"
    );
    let history = incident["escalationHistory"].as_array().unwrap();
    for (k, step) in history.iter().enumerate() {
        assert_eq!(
            step["fromLevel"], k as u64,
            "levels climb one at a time: {history:?}"
        );
        assert_eq!(step["toLevel"], k as u64 + 1);
    }
    assert!(history.len() <= 2, "never past the last level");
    assert_eq!(incident["escalationLevel"], history.len() as u64);
    // One page per step, plus the first.
    assert_eq!(
        incident["notifications"].as_array().unwrap().len(),
        history.len() + 1
    );
    let page_ids: HashSet<_> = incident["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    assert_eq!(page_ids.len(), history.len() + 1);

    // The published events tell the same story, in order: one TRIGGERED, one ESCALATED
    // per step, exactly one RESOLVED, and nothing after it.
    let mut kinds = Vec::new();
    loop {
        let event = events.next_event().await;
        let kind = event["kind"].as_str().unwrap().to_owned();
        kinds.push(kind.clone());
        if kind == "RESOLVED" {
            break;
        }
    }
    events
        .expect_silence(std::time::Duration::from_millis(200))
        .await;
    assert_eq!(kinds[0], "TRIGGERED");
    assert_eq!(
        kinds.iter().filter(|k| *k == "ESCALATED").count(),
        history.len()
    );
    assert_eq!(kinds.iter().filter(|k| *k == "RESOLVED").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_triggers_with_one_dedup_key_open_one_incident() {
    let app = std::sync::Arc::new(spawn_app().await);
    let team = app.team(60_000, 60_000).await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let app = app.clone();
        let schedule = team.schedule.clone();
        tasks.push(tokio::spawn(async move {
            app.trigger_with(json!({ "title": "flap", "scheduleId": schedule, "dedupKey": "same" }))
                .await["id"]
                .clone()
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(ids.len(), 1);
    let id = ids.into_iter().next().unwrap();
    let incident = app.incident(id.as_str().unwrap()).await;
    assert_eq!(incident["alertCount"], 30);
    assert_eq!(incident["notifications"].as_array().unwrap().len(), 1);
}
