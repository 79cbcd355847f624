//! Hot retention loses nothing: whatever commands, retention cuts, snapshots and restarts
//! ran, every query answers exactly as a server that never evicted an incident.
//!
//! The server that never evicted is the same journal folded with `keep_retired` and no
//! snapshot: every `IncidentsRetired` record skipped, so every incident stays in memory
//! and every change applies to it directly. Both have the same ids, so answers compare
//! byte for byte.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use super::journal::MemoryJournal;
use super::sqlite::{DurableOptions, SqliteJournal, backup};
use super::{IncidentState, Store, UPDATE_BUFFER};
use crate::clock::Clock;
use crate::domain::{Delivery, IncidentId, NewIncident, Principal, Severity, Timestamp};

/// A clock tests move by hand.
struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
            + TimeDelta::milliseconds(self.0.load(Ordering::Relaxed))
    }
}

#[derive(Clone, Debug)]
enum Step {
    Trigger {
        service: usize,
        severity: u8,
        title: u8,
    },
    Acknowledge(usize),
    Resolve(usize),
    Note(usize),
    /// Settle every pending page (what the notifier would do).
    Deliver,
    Advance {
        hours: u8,
    },
    /// Retire resolved incidents older than a day.
    Cut,
    Snapshot,
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..2usize, 0..3u8, 0..3u8)
            .prop_map(|(service, severity, title)| Step::Trigger { service, severity, title }),
        2 => (0..24usize).prop_map(Step::Acknowledge),
        4 => (0..24usize).prop_map(Step::Resolve),
        3 => (0..24usize).prop_map(Step::Note),
        2 => Just(Step::Deliver),
        2 => (1..40u8).prop_map(|hours| Step::Advance { hours }),
        3 => Just(Step::Cut),
        1 => Just(Step::Snapshot),
        1 => Just(Step::Restart),
    ]
}

fn options(dir: &std::path::Path) -> DurableOptions {
    DurableOptions {
        fsync: false,
        snapshot_every: 0,
        ..DurableOptions::new(dir)
    }
}

struct World {
    journal: Arc<SqliteJournal>,
    store: Store,
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> World {
    let (journal, state, _) = SqliteJournal::open(&options(dir)).unwrap();
    let journal = Arc::new(journal);
    let (store, _outlets) = Store::new(state, journal.clone(), clock.clone(), "log", UPDATE_BUFFER);
    World { journal, store }
}

/// The answers of a server that never evicted, from a copy of `dir`.
async fn never_evicted(
    dir: &std::path::Path,
    ids: &[IncidentId],
    services: &[String],
) -> Vec<String> {
    let copy = tempfile::tempdir().unwrap();
    let target = copy.path().join("copy");
    backup(dir, &target).unwrap();
    let (_journal, state, _) = SqliteJournal::open(&DurableOptions {
        use_snapshots: false,
        keep_retired: true,
        ..options(&target)
    })
    .unwrap();
    assert_eq!(state.retired(), 0);
    let clock = Arc::new(ManualClock(AtomicI64::new(0)));
    let (store, _outlets) = Store::new(state, Arc::new(MemoryJournal), clock, "log", UPDATE_BUFFER);
    super::history::answers(&store, ids, services)
        .await
        .unwrap()
}

async fn setup(store: &Store) -> (Vec<String>, Vec<String>) {
    let now = store.clock().now();
    super::history::team(
        store,
        &["Checkout", "Search"],
        now - TimeDelta::days(1),
        now + TimeDelta::days(3650),
    )
    .await
    .unwrap()
}

async fn run_case(steps: &[Step]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(0)));
    let mut world = open(dir.path(), &clock);
    let (services, schedules) = setup(&world.store).await;
    let by = Principal::system();
    let mut ids: Vec<IncidentId> = Vec::new();
    for step in steps {
        let store = &world.store;
        let pick = |i: &usize| (!ids.is_empty()).then(|| ids[i % ids.len()].to_string());
        match step {
            Step::Trigger {
                service,
                severity,
                title,
            } => {
                let new = super::history::probe_incident(*title, *severity).unwrap();
                let incident = store.trigger(&by, &schedules[*service], new).await.unwrap();
                ids.push(incident.id);
            }
            Step::Acknowledge(i) => {
                if let Some(id) = pick(i) {
                    let _ = store.acknowledge(&by, &id).await;
                }
            }
            Step::Resolve(i) => {
                if let Some(id) = pick(i) {
                    let _ = store.resolve(&by, &id).await;
                }
            }
            Step::Note(i) => {
                if let Some(id) = pick(i) {
                    // Notes reach retired incidents too: they come back into memory.
                    store
                        .add_note(&by, &id, "postmortem: see doc")
                        .await
                        .unwrap();
                }
            }
            Step::Deliver => {
                super::history::settle_pages(store).await.unwrap();
            }
            Step::Advance { hours } => {
                clock
                    .0
                    .fetch_add(i64::from(*hours) * 3_600_000, Ordering::Relaxed);
            }
            Step::Cut => {
                let cutoff = clock.now() - TimeDelta::days(1);
                store.retire_resolved(cutoff).await.unwrap();
            }
            Step::Snapshot => {
                world.journal.snapshot_now().unwrap();
            }
            Step::Restart => {
                drop(world);
                world = open(dir.path(), &clock);
            }
        }
    }
    let served = super::history::answers(&world.store, &ids, &services)
        .await
        .unwrap();
    drop(world);
    let expected = never_evicted(dir.path(), &ids, &services).await;
    prop_assert_eq!(served.len(), expected.len());
    for (got, want) in served.iter().zip(&expected) {
        prop_assert_eq!(got, want);
    }
    // And once more after a restart from disk (snapshot or journal, whichever is newest).
    // (Where an incident lives may differ: a refused change still read it back.)
    let world = open(dir.path(), &clock);
    let reopened = super::history::answers(&world.store, &ids, &services)
        .await
        .unwrap();
    prop_assert_eq!(&reopened, &expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn retention_cuts_snapshots_and_restarts_change_no_answer(
        steps in proptest::collection::vec(step(), 1..70),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_case(&steps))?;
    }
}

/// The shape the property is built to hit: retired, noted (thawed), retired again, a
/// snapshot in between, restarts on both sides.
#[test]
fn a_note_on_a_retired_incident_survives_retirement_snapshots_and_restarts() {
    use Step::*;
    let steps = [
        Trigger {
            service: 0,
            severity: 2,
            title: 0,
        },
        Trigger {
            service: 1,
            severity: 0,
            title: 2,
        },
        Resolve(0),
        Deliver,
        Advance { hours: 30 },
        Cut,
        Snapshot,
        Note(0),
        Restart,
        Advance { hours: 30 },
        Cut,
        Note(0),
        Advance { hours: 30 },
        Cut,
        Restart,
        Note(0),
        Snapshot,
        Cut,
        Restart,
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_case(&steps)).unwrap();
}

#[test]
fn a_retired_incident_leaves_memory_and_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(0)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let world = open(dir.path(), &clock);
        let (_services, schedules) = setup(&world.store).await;
        let by = Principal::system();
        let new = NewIncident::parse("Disk full", None, Severity::High, None).unwrap();
        let incident = world.store.trigger(&by, &schedules[0], new).await.unwrap();
        let id = incident.id.to_string();
        world.store.resolve(&by, &id).await.unwrap();
        clock.0.fetch_add(2 * 86_400_000, Ordering::Relaxed);
        let cutoff = clock.now() - TimeDelta::days(1);
        // A page not yet settled keeps it in memory.
        assert_eq!(world.store.retire_resolved(cutoff).await.unwrap(), 0);
        let pending: Vec<Delivery> = world
            .store
            .incident(incident.id)
            .unwrap()
            .notifications
            .iter()
            .map(|n| Delivery {
                incident_id: incident.id,
                notification_id: n.id,
                attempts: 1,
                error: None,
            })
            .collect();
        world.store.record_deliveries(&pending).await.unwrap();
        let before = world.store.incident(incident.id).unwrap();
        assert_eq!(world.store.retire_resolved(cutoff).await.unwrap(), 1);
        assert!(world.store.incident(incident.id).is_none());
        assert_eq!(world.store.state().retired(), 1);
        assert_eq!(world.store.state().count(IncidentState::Resolved), 1);
        let found = world
            .store
            .find_incident(incident.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*found, *before);
        // Open incidents are never retired.
        let open = NewIncident::parse("CPU", None, Severity::Low, None).unwrap();
        world.store.trigger(&by, &schedules[0], open).await.unwrap();
        clock.0.fetch_add(2 * 86_400_000, Ordering::Relaxed);
        assert_eq!(world.store.retire_resolved(clock.now()).await.unwrap(), 0);
    });
}
