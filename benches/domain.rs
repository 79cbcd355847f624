//! Micro-benchmarks of the hot domain paths: on-call resolution, incident state
//! transitions, and event encoding (what a journal writes per change).
//!
//! `cargo bench --bench domain` for figures; `cargo bench --bench domain -- --test` runs
//! each once (the CI smoke).

use std::hint::black_box;

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

use klaxon::domain::incident::Page;
use klaxon::domain::{
    EscalationLevel, EscalationPolicy, Event, Incident, IncidentChange, IncidentChangeKind,
    IncidentId, NewIncident, NotificationId, RotationEntry, Schedule, ScheduleId, ServiceId,
    Severity, Timestamp, UserId,
};

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// A schedule with `shifts` consecutive one-day shifts from `t0`, and two escalation levels.
fn schedule(shifts: i64) -> Schedule {
    let users: Vec<UserId> = (0..4).map(|_| UserId::new()).collect();
    Schedule {
        id: ScheduleId::new(),
        name: "Primary".into(),
        service_id: ServiceId::new(),
        rotation: (0..shifts)
            .map(|i| RotationEntry {
                user_id: users[i as usize % users.len()],
                start: t0() + TimeDelta::days(i),
                end: t0() + TimeDelta::days(i + 1),
            })
            .collect(),
        escalation_policy: EscalationPolicy {
            initial_timeout_ms: 300_000,
            levels: vec![
                EscalationLevel {
                    user_id: users[1],
                    timeout_ms: 600_000,
                },
                EscalationLevel {
                    user_id: users[2],
                    timeout_ms: 900_000,
                },
            ],
        },
        deleted_at: None,
    }
}

fn page() -> Page {
    Page {
        id: NotificationId::new(),
        channel: "log".into(),
    }
}

fn triggered(schedule: &Schedule, now: Timestamp) -> Incident {
    let new = NewIncident::parse(
        "Checkout latency above 2 s",
        Some("p99 of /checkout over 2 s for 5 minutes"),
        Severity::High,
        None,
    )
    .unwrap();
    Incident::trigger(IncidentId::new(), 1, new, schedule, now, page())
}

fn on_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("on_call");
    for shifts in [7, 365] {
        let schedule = schedule(shifts);
        // The last shift: the worst case for a scan in list order.
        let at = t0() + TimeDelta::days(shifts - 1) + TimeDelta::hours(3);
        group.bench_function(format!("{shifts}_shifts"), |b| {
            b.iter(|| black_box(&schedule).on_call(black_box(at)))
        });
    }
    group.finish();
}

fn transitions(c: &mut Criterion) {
    let schedule = schedule(7);
    let now = t0() + TimeDelta::hours(1);
    let incident = triggered(&schedule, now);
    c.bench_function("trigger", |b| {
        b.iter(|| triggered(black_box(&schedule), black_box(now)))
    });
    c.bench_function("acknowledge_and_apply", |b| {
        b.iter(|| {
            let mut next = black_box(&incident).clone();
            if let Ok(Some(change)) = incident.acknowledge() {
                next.apply(now, &change);
            }
            next
        })
    });
    let deadline = incident.escalation_deadline.unwrap();
    c.bench_function("escalate_on_timeout_and_apply", |b| {
        b.iter(|| {
            let mut next = black_box(&incident).clone();
            if let Some(change) = incident.escalate_on_timeout(deadline, deadline, page()) {
                next.apply(deadline, &change);
            }
            next
        })
    });
}

fn encoding(c: &mut Criterion) {
    let schedule = schedule(7);
    let now = t0() + TimeDelta::hours(1);
    let incident = triggered(&schedule, now);
    let triggered_event = Event::Incident(IncidentChange {
        incident_id: incident.id,
        at: now,
        kind: IncidentChangeKind::Triggered(Box::new(incident.clone())),
    });
    let acknowledged_event = Event::Incident(IncidentChange {
        incident_id: incident.id,
        at: now,
        kind: IncidentChangeKind::Acknowledged,
    });
    let mut buffer = Vec::with_capacity(4096);
    c.bench_function("encode_event_triggered", |b| {
        b.iter(|| {
            buffer.clear();
            serde_json::to_writer(&mut buffer, black_box(&triggered_event)).unwrap();
            buffer.len()
        })
    });
    c.bench_function("encode_event_acknowledged", |b| {
        b.iter(|| {
            buffer.clear();
            serde_json::to_writer(&mut buffer, black_box(&acknowledged_event)).unwrap();
            buffer.len()
        })
    });
    let encoded = serde_json::to_vec(&triggered_event).unwrap();
    c.bench_function("decode_event_triggered", |b| {
        b.iter(|| serde_json::from_slice::<Event>(black_box(&encoded)).unwrap())
    });
}

criterion_group!(benches, on_call, transitions, encoding);
criterion_main!(benches);
