//! Synthetic history for `klaxon-bench history`: a long past of resolved incidents, and
//! the open ones of today, journaled into a data directory quickly.
//!
//! It writes through the real store commands (trigger, acknowledge, note, resolve, the
//! page outcomes, the retention cut), not hand-made events, so the journal, the cold
//! index and the snapshot are exactly what a server that lived that long would leave. Only
//! the clock is synthetic: it starts `days` ago and moves a day per batch. The journal
//! is opened with fsync off while generating (the history is thrown away if the machine
//! loses power meanwhile); a server then opens the directory with its own settings.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use futures_util::future::join_all;

use super::sqlite::{DurableOptions, SqliteJournal};
use super::{IncidentFilter, ScheduleDraft, Store, UPDATE_BUFFER};
use crate::clock::Clock;
use crate::domain::schedule::{PolicyInput, RotationInput};
use crate::domain::{
    Delivery, IncidentId, IncidentState, NewIncident, Principal, Severity, Timestamp,
};

/// What to generate.
#[derive(Clone, Debug)]
pub struct HistoryPlan {
    /// Resolved incidents, spread evenly over `days`.
    pub resolved: usize,
    /// Incidents left open at the end.
    pub open: usize,
    /// How far back the history reaches.
    pub days: u32,
    /// The retention the cuts use while generating.
    pub hot_days: u32,
}

/// What was generated.
#[derive(Clone, Debug)]
pub struct HistoryReport {
    /// Journal records written.
    pub events: u64,
    /// Up to 1,000 retired incidents, spread over the history.
    pub cold_sample: Vec<(IncidentId, u64)>,
    /// Incidents only in the cold index at the end.
    pub retired: u64,
    /// How long generating took.
    pub elapsed: Duration,
}

/// A clock the generator moves.
struct Synthetic(AtomicI64);

impl Clock for Synthetic {
    fn now(&self) -> Timestamp {
        chrono::DateTime::from_timestamp_millis(self.0.load(Ordering::Relaxed)).unwrap_or_default()
    }
}

/// Why generating (or setting up) a history failed.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Fills the data directory `dir` (which should be empty) with `plan`'s history, then
/// writes a snapshot.
pub async fn generate(dir: &std::path::Path, plan: &HistoryPlan) -> Result<HistoryReport, Failure> {
    let started = Instant::now();
    let options = DurableOptions {
        fsync: false,
        snapshot_every: 0,
        ..DurableOptions::new(dir)
    };
    let (journal, state, _) = SqliteJournal::open(&options)?;
    let journal = Arc::new(journal);
    let real_now = chrono::Utc::now();
    let start = real_now - TimeDelta::days(i64::from(plan.days));
    let clock = Arc::new(Synthetic(AtomicI64::new(start.timestamp_millis())));
    let (store, _outlets) = Store::new(state, journal.clone(), clock.clone(), "log", UPDATE_BUFFER);
    let by = Principal::system();
    let (_services, schedules) = team(
        &store,
        &["Checkout", "Search", "Payments", "Mobile"],
        start - TimeDelta::days(1),
        real_now + TimeDelta::days(3650),
    )
    .await?;
    let per_day = plan.resolved.div_ceil(plan.days.max(1) as usize).max(1);
    let mut made = 0usize;
    let mut sample = Vec::new();
    let sample_every = (plan.resolved / 1_000).max(1);
    let mut day = 0i64;
    while made < plan.resolved {
        clock.0.store(
            (start + TimeDelta::days(day)).timestamp_millis(),
            Ordering::Relaxed,
        );
        let today = per_day.min(plan.resolved - made);
        for chunk_start in (0..today).step_by(256) {
            let chunk = (chunk_start..today.min(chunk_start + 256)).map(|k| {
                let n = made + k;
                let store = &store;
                let schedule = &schedules[n % schedules.len()];
                async move { one_incident(store, schedule, n).await }
            });
            for result in join_all(chunk).await {
                let (id, seq) = result?;
                if sample.len() < 1_000 && (seq as usize) % sample_every == 0 {
                    sample.push((id, seq));
                }
            }
        }
        settle_pages(&store).await?;
        made += today;
        let cutoff = store.clock().now() - TimeDelta::days(i64::from(plan.hot_days));
        store.retire_resolved(cutoff).await?;
        day += 1;
    }
    clock
        .0
        .store(real_now.timestamp_millis(), Ordering::Relaxed);
    for chunk_start in (0..plan.open).step_by(256) {
        let chunk = (chunk_start..plan.open.min(chunk_start + 256)).map(|k| {
            let (store, by) = (&store, &by);
            let schedule = &schedules[k % schedules.len()];
            async move {
                let new = NewIncident::parse(
                    &format!("Open {k}: latency high on api-{}", k % 40),
                    Some("p99 above 2 s for 5 minutes"),
                    Severity::High,
                    None,
                )?;
                store.trigger(by, schedule, new).await?;
                Ok::<_, Failure>(())
            }
        });
        for result in join_all(chunk).await {
            result?;
        }
    }
    settle_pages(&store).await?;
    let cutoff = store.clock().now() - TimeDelta::days(i64::from(plan.hot_days));
    store.retire_resolved(cutoff).await?;
    let retired = store.state().retired();
    let snapshot = journal.clone();
    let events = tokio::task::spawn_blocking(move || snapshot.snapshot_now()).await??;
    // Only the one still cold is a sample.
    sample.retain(|(id, _)| store.incident(*id).is_none());
    Ok(HistoryReport {
        events,
        cold_sample: sample,
        retired,
        elapsed: started.elapsed(),
    })
}

/// One responder on call from `from` to `to` on a schedule per service named in
/// `services`, no escalation levels: the services' and the schedules' ids.
pub async fn team(
    store: &Store,
    services: &[&str],
    from: Timestamp,
    to: Timestamp,
) -> Result<(Vec<String>, Vec<String>), Failure> {
    let by = Principal::system();
    let user = store
        .create_user(
            &by,
            crate::domain::user::UserFields::parse(
                "History",
                "history@example.com",
                None,
                crate::domain::Role::Responder,
            )?,
            None,
        )
        .await?;
    let mut service_ids = Vec::new();
    let mut schedule_ids = Vec::new();
    for name in services {
        let service = store.create_service(&by, name, None).await?;
        let draft = ScheduleDraft {
            name: format!("{name} primary"),
            service_id: service.id.to_string(),
            time_zone: None,
            rotation: vec![RotationInput {
                user_id: user.id.to_string(),
                start: from,
                end: to,
            }],
            rotations: Vec::new(),
            escalation_policy: PolicyInput {
                initial_timeout_ms: 3_600_000,
                levels: Vec::new(),
                repeat: 0,
                acknowledge_timeout_ms: None,
            },
        };
        schedule_ids.push(store.create_schedule(&by, draft).await?.id.to_string());
        service_ids.push(service.id.to_string());
    }
    Ok((service_ids, schedule_ids))
}

/// Triggered, acknowledged a few minutes later, noted for every third, resolved.
async fn one_incident(
    store: &Store,
    schedule: &str,
    n: usize,
) -> Result<(IncidentId, u64), Failure> {
    let by = Principal::system();
    let severity = [Severity::Low, Severity::Medium, Severity::High][n % 3];
    let new = NewIncident::parse(
        &format!(
            "Incident {n}: disk {} on db-{}",
            ["full", "slow", "gone"][n % 3],
            n % 50
        ),
        (n % 2 == 0).then_some("Checked by the nightly job"),
        severity,
        None,
    )?;
    let incident = store.trigger(&by, schedule, new).await?;
    let id = incident.id.to_string();
    store.acknowledge(&by, &id).await?;
    if n % 3 == 0 {
        store.add_note(&by, &id, "rolled back the deploy").await?;
    }
    store.resolve(&by, &id).await?;
    Ok((incident.id, incident.seq))
}

/// Every pending page delivered, as the notifier would record it.
pub async fn settle_pages(store: &Store) -> Result<(), Failure> {
    let pending: Vec<Delivery> = store
        .state()
        .incidents
        .iter()
        .flat_map(|slot| {
            let incident = slot.current();
            incident
                .notifications
                .iter()
                .filter(|n| !n.delivered && !n.failed)
                .map(|n| Delivery {
                    incident_id: incident.id,
                    notification_id: n.id,
                    attempts: 1,
                    error: None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for batch in pending.chunks(4096) {
        store.record_deliveries(batch).await?;
    }
    Ok(())
}

/// The titles the retention property tests trigger with: the filters in [`answers`]
/// search them ("DISK" in two, by case; "ünï" in one).
const PROBE_TITLES: [&str; 3] = ["Disk full on db-1", "CPU hot", "disk SLOW Ünïcode"];

/// The incident a retention property test's trigger step opens: title `title` of
/// [`PROBE_TITLES`] (the second with a description that also matches "DISK") and severity
/// `severity` (0 low, 1 medium, 2 high). Indexes past the end are clamped.
pub fn probe_incident(title: u8, severity: u8) -> Result<NewIncident, Failure> {
    let title = usize::from(title).min(PROBE_TITLES.len() - 1);
    let severity = [Severity::Low, Severity::Medium, Severity::High][usize::from(severity).min(2)];
    Ok(NewIncident::parse(
        PROBE_TITLES[title],
        (title == 1).then_some("the DISK is fine"),
        severity,
        None,
    )?)
}

/// Everything a reader can ask about incidents `ids` (on `services`, as `team` made them),
/// as text: each incident, every page of `incidents` under seven filters, and the export
/// of everything triggered from 2026-04-30 to 2027-04-30 (the tests' clocks start on
/// 2026-05-01). Two stores that answer the same are indistinguishable to a client; the
/// retention property tests compare a store that evicts with one that never did.
pub async fn answers(
    store: &Store,
    ids: &[IncidentId],
    services: &[String],
) -> Result<Vec<String>, Failure> {
    use chrono::TimeZone;
    let day = |y, m, d| chrono::Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single();
    let window = (day(2026, 4, 30), day(2027, 4, 30));
    let (Some(from), Some(to)) = window else {
        return Err("the export window is not a date".into());
    };
    let mut out = Vec::new();
    for id in ids {
        let found = store.find_incident(*id).await?;
        out.push(serde_json::to_string(&found.as_deref())?);
    }
    let service = |i: usize| services.get(i).and_then(|s| s.parse().ok());
    let filters = [
        IncidentFilter::default(),
        IncidentFilter {
            state: Some(IncidentState::Resolved),
            ..IncidentFilter::default()
        },
        IncidentFilter {
            state: Some(IncidentState::Triggered),
            ..IncidentFilter::default()
        },
        IncidentFilter {
            service_id: service(0),
            ..IncidentFilter::default()
        },
        IncidentFilter {
            severity: Some(Severity::High),
            state: Some(IncidentState::Resolved),
            ..IncidentFilter::default()
        },
        IncidentFilter {
            search: Some("DISK".into()),
            ..IncidentFilter::default()
        },
        IncidentFilter {
            search: Some("ünï".into()),
            service_id: service(1),
            ..IncidentFilter::default()
        },
    ];
    for filter in &filters {
        let mut after = None;
        loop {
            let page = store.incidents(filter, 3, after).await?;
            let seqs: Vec<u64> = page.nodes.iter().map(|i| i.seq).collect();
            out.push(format!(
                "{filter:?} after {after:?}: {seqs:?} total {} next {}",
                page.total_count, page.has_next_page
            ));
            for node in &page.nodes {
                out.push(serde_json::to_string(&**node)?);
            }
            match (page.has_next_page, page.nodes.last()) {
                (true, Some(last)) => after = Some(last.seq),
                _ => break,
            }
        }
    }
    let window = store.incidents_triggered(from, to, None).await?;
    out.push(format!(
        "export: {:?}",
        window.iter().map(|i| i.seq).collect::<Vec<_>>()
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_history_is_retired_snapshotted_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let plan = HistoryPlan {
            resolved: 60,
            open: 5,
            days: 30,
            hot_days: 7,
        };
        let report = runtime.block_on(generate(dir.path(), &plan)).unwrap();
        // Two incidents a day for 30 days: those older than a week are cold.
        assert!((40..=50).contains(&report.retired), "{report:?}");
        assert!(!report.cold_sample.is_empty());
        let options = DurableOptions {
            fsync: false,
            ..DurableOptions::new(dir.path())
        };
        let (_journal, state, load) = SqliteJournal::open(&options).unwrap();
        assert_eq!(load.snapshot, Some(report.events));
        assert_eq!(load.replayed, 0);
        assert_eq!(state.retired(), report.retired);
        assert_eq!(state.open.read().unwrap().len(), 5);
        assert_eq!(state.count(crate::domain::IncidentState::Resolved), 60);
        assert_eq!(state.analytics.len(), 65);
    }
}
