//! The fold's central property: whatever valid commands ran, the state replayed from the
//! journal (with or without a snapshot) is the state that was served.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use super::sqlite::{DurableOptions, SqliteJournal, chunks_of};
use super::{IncidentState, ScheduleDraft, State, Store, UPDATE_BUFFER, UserPatch, codec};
use crate::clock::Clock;
use crate::domain::Timestamp;
use crate::domain::schedule::{LevelInput, PolicyInput, RotationInput};
use crate::domain::{NewIncident, Severity};

/// A clock that moves one second forward on every read: deterministic, and every change
/// gets a distinct instant.
struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now(&self) -> Timestamp {
        let ms = self.0.fetch_add(1_000, Ordering::Relaxed);
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap() + TimeDelta::milliseconds(ms)
    }
}

#[derive(Clone, Debug)]
enum Command {
    CreateUser,
    RenameUser(usize),
    CreateService,
    CreateSchedule { on_call: bool, levels: usize },
    Trigger { schedule: usize, dedup: Option<u8> },
    Acknowledge(usize),
    Resolve(usize),
    Escalate(usize),
    TimerFires(usize),
    Delivered(usize),
    CreateWebhook { only_last_service: bool },
    DeleteWebhook(usize),
    WebhookAttempt(usize, u8),
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        1 => Just(Command::CreateUser),
        1 => (0..8usize).prop_map(Command::RenameUser),
        1 => Just(Command::CreateService),
        1 => (any::<bool>(), 0..3usize)
            .prop_map(|(on_call, levels)| Command::CreateSchedule { on_call, levels }),
        3 => (0..8usize, proptest::option::of(0..3u8))
            .prop_map(|(schedule, dedup)| Command::Trigger { schedule, dedup }),
        2 => (0..16usize).prop_map(Command::Acknowledge),
        2 => (0..16usize).prop_map(Command::Resolve),
        2 => (0..16usize).prop_map(Command::Escalate),
        2 => (0..16usize).prop_map(Command::TimerFires),
        1 => (0..16usize).prop_map(Command::Delivered),
        1 => any::<bool>().prop_map(|only_last_service| Command::CreateWebhook { only_last_service }),
        1 => (0..4usize).prop_map(Command::DeleteWebhook),
        3 => (0..8usize, 0..3u8).prop_map(|(i, outcome)| Command::WebhookAttempt(i, outcome)),
    ]
}

/// Everything a reader can observe, in a comparable form.
fn fingerprint(state: &State) -> (Vec<u8>, [u64; 3], Vec<u64>, Vec<String>, u64) {
    let entities = chunks_of(state)
        .iter()
        .flat_map(|chunk| codec::encode_chunk(chunk).unwrap())
        .collect();
    let counts = [
        state.count(IncidentState::Triggered),
        state.count(IncidentState::Acknowledged),
        state.count(IncidentState::Resolved),
    ];
    let open = super::state::read(&state.open).iter().copied().collect();
    let mut dedup: Vec<String> = state
        .dedup
        .iter()
        .map(|e| format!("{}/{}={}", e.key().0, e.key().1, e.value()))
        .collect();
    dedup.sort();
    let max_seq = state.max_seq.load(Ordering::Relaxed);
    (entities, counts, open, dedup, max_seq)
}

async fn run(store: &Store, commands: &[Command]) {
    let mut users = Vec::new();
    let mut services = Vec::new();
    let mut schedules = Vec::new();
    let mut incidents = Vec::new();
    let now = store.clock().now();
    // A person as the actor, so the property also covers actors surviving replay.
    let by = crate::domain::Principal {
        actor: crate::domain::Actor::user(crate::domain::UserId::new(), "Replay Admin"),
        ..crate::domain::Principal::system()
    };
    for command in commands {
        // Refusals are fine (that is the domain's business); only accepted changes are
        // journaled, and those are what the property is about.
        match command {
            Command::CreateUser => {
                let n = users.len();
                if let Ok(user) = store
                    .create_user(
                        &by,
                        crate::domain::user::UserFields::parse(
                            &format!("User {n}"),
                            &format!("u{n}@example.com"),
                            None,
                            crate::domain::Role::Responder,
                        )
                        .unwrap(),
                        None,
                    )
                    .await
                {
                    users.push(user.id);
                }
            }
            Command::RenameUser(i) if !users.is_empty() => {
                let id = users[i % users.len()].to_string();
                let patch = UserPatch {
                    name: Some(format!("Renamed {i}")),
                    ..UserPatch::default()
                };
                let _ = store.update_user(&by, &id, patch).await;
            }
            Command::CreateService => {
                if let Ok(service) = store.create_service(&by, "Checkout", None).await {
                    services.push(service.id);
                }
            }
            Command::CreateSchedule { on_call, levels } if !users.is_empty() => {
                let Some(service) = services.last() else {
                    continue;
                };
                let user = |k: usize| users[k % users.len()].to_string();
                let rotation = if *on_call {
                    vec![RotationInput {
                        user_id: user(0),
                        start: now - TimeDelta::days(1),
                        end: now + TimeDelta::days(30),
                    }]
                } else {
                    Vec::new()
                };
                let draft = ScheduleDraft {
                    name: "Primary".into(),
                    service_id: service.to_string(),
                    time_zone: None,
                    rotation,
                    rotations: Vec::new(),
                    escalation_policy: PolicyInput {
                        initial_timeout_ms: 60_000,
                        levels: (0..*levels)
                            .map(|k| LevelInput {
                                user_id: Some(user(k + 1)),
                                schedule_id: None,
                                timeout_ms: 60_000,
                            })
                            .collect(),
                        repeat: 0,
                        acknowledge_timeout_ms: None,
                    },
                };
                if let Ok(schedule) = store.create_schedule(&by, draft).await {
                    schedules.push(schedule.id);
                }
            }
            Command::Trigger { schedule, dedup } if !schedules.is_empty() => {
                let id = schedules[schedule % schedules.len()].to_string();
                let key = dedup.map(|k| format!("key-{k}"));
                let new =
                    NewIncident::parse("Disk full", None, Severity::High, key.as_deref()).unwrap();
                if let Ok(incident) = store.trigger(&by, &id, new).await {
                    incidents.push(incident.id);
                }
            }
            Command::Acknowledge(i) if !incidents.is_empty() => {
                let id = incidents[i % incidents.len()].to_string();
                let _ = store.acknowledge(&by, &id).await;
            }
            Command::Resolve(i) if !incidents.is_empty() => {
                let id = incidents[i % incidents.len()].to_string();
                let _ = store.resolve(&by, &id).await;
            }
            Command::Escalate(i) if !incidents.is_empty() => {
                let id = incidents[i % incidents.len()].to_string();
                let _ = store.escalate(&by, &id).await;
            }
            Command::TimerFires(i) if !incidents.is_empty() => {
                let id = incidents[i % incidents.len()];
                if let Some(deadline) = store.incident(id).and_then(|i| i.escalation_deadline) {
                    let _ = store.escalate_on_timeout(id, deadline).await;
                }
            }
            Command::Delivered(i) if !incidents.is_empty() => {
                let id = incidents[i % incidents.len()];
                let page = store
                    .incident(id)
                    .and_then(|i| i.notifications.iter().find(|n| !n.delivered).map(|n| n.id));
                if let Some(page) = page {
                    let delivery = crate::domain::Delivery {
                        incident_id: id,
                        notification_id: page,
                        attempts: 1,
                        error: (i % 3 == 0).then(|| "refused".to_owned()),
                    };
                    let _ = store.record_deliveries(&[delivery]).await;
                }
            }
            Command::CreateWebhook { only_last_service } => {
                let service = services
                    .last()
                    .filter(|_| *only_last_service)
                    .map(|s| s.to_string());
                let _ = store
                    .create_webhook(&by, "http://127.0.0.1:9/hook", service.as_deref(), None)
                    .await;
            }
            Command::DeleteWebhook(i) => {
                let hooks = store.state().webhooks.live();
                if !hooks.is_empty() {
                    let id = hooks[i % hooks.len()].id.to_string();
                    let _ = store.delete_webhook(&by, &id).await;
                }
            }
            Command::WebhookAttempt(i, outcome) => {
                use crate::domain::webhook::{AttemptOutcome, AttemptRecord};
                let pending = store.state().webhooks.pending();
                if !pending.is_empty() {
                    let delivery = &pending[i % pending.len()];
                    let at = store.clock().now();
                    let outcome = match outcome {
                        0 => AttemptOutcome::Sent,
                        1 => AttemptOutcome::Retry {
                            next_attempt_at: at + TimeDelta::seconds(5),
                        },
                        _ => AttemptOutcome::Failed,
                    };
                    let _ = store
                        .record_webhook_attempt(AttemptRecord {
                            delivery_id: delivery.id,
                            webhook_id: delivery.webhook_id,
                            at,
                            response_status: Some(500),
                            error: Some("answered 500".into()),
                            duration_ms: 12,
                            outcome,
                        })
                        .await;
                }
            }
            _ => {}
        }
    }
}

fn options(dir: &std::path::Path) -> DurableOptions {
    DurableOptions {
        fsync: false,
        snapshot_every: 0,
        ..DurableOptions::new(dir)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_valid_command_sequence_replays_to_the_served_state(
        commands in proptest::collection::vec(command(), 1..60),
        snapshot_at in 0..60usize,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let served = runtime.block_on(async {
            let (journal, state, _) = SqliteJournal::open(&options(dir.path())).unwrap();
            let journal = Arc::new(journal);
            let clock = Arc::new(SteppingClock(AtomicI64::new(0)));
            let (store, _outlets) = Store::new(state, journal.clone(), clock, "log", UPDATE_BUFFER);
            let split = snapshot_at.min(commands.len());
            run(&store, &commands[..split]).await;
            journal.snapshot_now().unwrap();
            run(&store, &commands[split..]).await;
            fingerprint(store.state())
        });
        // The store (and its journal) are gone: reopen from disk, with the snapshot and
        // without it.
        let (_, replayed, _) = SqliteJournal::open(&options(dir.path())).unwrap();
        prop_assert_eq!(&fingerprint(&replayed), &served);
        drop(replayed);
        let full = DurableOptions { use_snapshots: false, ..options(dir.path()) };
        let (_, replayed, _) = SqliteJournal::open(&full).unwrap();
        prop_assert_eq!(&fingerprint(&replayed), &served);
    }
}

#[test]
fn a_timer_from_before_the_restart_does_not_repeat_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = || Arc::new(SteppingClock(AtomicI64::new(0)));
    let (id, old_deadline) = runtime.block_on(async {
        let (journal, state, _) = SqliteJournal::open(&options(dir.path())).unwrap();
        let (store, _outlets) = Store::new(state, Arc::new(journal), clock(), "log", UPDATE_BUFFER);
        run(
            &store,
            &[
                Command::CreateUser,
                Command::CreateUser,
                Command::CreateService,
                Command::CreateSchedule {
                    on_call: true,
                    levels: 2,
                },
                Command::Trigger {
                    schedule: 0,
                    dedup: None,
                },
            ],
        )
        .await;
        let incident = store.open_incidents()[0].clone();
        let deadline = incident.escalation_deadline.unwrap();
        store
            .escalate_on_timeout(incident.id, deadline)
            .await
            .unwrap();
        (incident.id, deadline)
    });
    runtime.block_on(async {
        let (journal, state, _) = SqliteJournal::open(&options(dir.path())).unwrap();
        let (store, _outlets) = Store::new(state, Arc::new(journal), clock(), "log", UPDATE_BUFFER);
        // The timer that already fired before the "crash" fires again after replay.
        let incident = store.escalate_on_timeout(id, old_deadline).await.unwrap();
        assert_eq!(incident.escalation_level, 1);
        assert_eq!(incident.escalation_history().len(), 1);
        assert_eq!(incident.notifications.len(), 2);
    });
}

#[test]
fn a_delivery_decided_with_a_trigger_is_replayed_with_its_id_and_body_and_a_snapshot_adds_none() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = || Arc::new(SteppingClock(AtomicI64::new(0)));
    let served = runtime.block_on(async {
        let (journal, state, _) = SqliteJournal::open(&options(dir.path())).unwrap();
        let journal = Arc::new(journal);
        let (store, _outlets) = Store::new(state, journal.clone(), clock(), "log", UPDATE_BUFFER);
        run(
            &store,
            &[
                Command::CreateUser,
                Command::CreateService,
                Command::CreateSchedule {
                    on_call: true,
                    levels: 0,
                },
                Command::CreateWebhook {
                    only_last_service: true,
                },
                Command::Trigger {
                    schedule: 0,
                    dedup: None,
                },
                Command::Acknowledge(0),
            ],
        )
        .await;
        journal.snapshot_now().unwrap();
        // After the snapshot: the restored incident is not a new trigger.
        let incident = store.open_incidents()[0].id.to_string();
        store
            .resolve(&crate::domain::Principal::system(), &incident)
            .await
            .unwrap();
        store.state().webhooks.pending()
    });
    let kinds: Vec<_> = served.iter().map(|d| d.event).collect();
    use crate::domain::WebhookEvent::*;
    assert_eq!(kinds, [Triggered, Acknowledged, Resolved]);
    for use_snapshots in [true, false] {
        let opened = DurableOptions {
            use_snapshots,
            ..options(dir.path())
        };
        let (_, replayed, _) = SqliteJournal::open(&opened).unwrap();
        assert_eq!(replayed.webhooks.pending(), served);
    }
}

#[test]
fn incidents_read_back_share_their_schedules_policy_while_it_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (journal, state, _) = SqliteJournal::open(&options(dir.path())).unwrap();
        let clock = Arc::new(SteppingClock(AtomicI64::new(0)));
        let (store, _outlets) = Store::new(state, Arc::new(journal), clock, "log", UPDATE_BUFFER);
        let mut commands = vec![
            Command::CreateUser,
            Command::CreateService,
            Command::CreateSchedule {
                on_call: true,
                levels: 2,
            },
        ];
        commands.extend((0..3).map(|_| Command::Trigger {
            schedule: 0,
            dedup: None,
        }));
        run(&store, &commands).await;
    });
    for use_snapshots in [false, true] {
        let reopen = DurableOptions {
            use_snapshots,
            ..options(dir.path())
        };
        let (journal, state, _) = SqliteJournal::open(&reopen).unwrap();
        let schedule = state.schedules.iter().next().unwrap().value().clone();
        let incidents: Vec<_> = state.incidents.iter().map(|s| s.current()).collect();
        assert_eq!(incidents.len(), 3);
        for incident in &incidents {
            assert!(Arc::ptr_eq(
                &incident.escalation_policy,
                &schedule.escalation_policy
            ));
        }
        journal.snapshot_now().unwrap();
    }
}
