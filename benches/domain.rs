//! Micro-benchmarks of the hot domain paths: on-call resolution, incident state
//! transitions, and event encoding (what a journal writes per change).
//!
//! `cargo bench --bench domain` for figures; `cargo bench --bench domain -- --test` runs
//! each once (the CI smoke).

use std::hint::black_box;

use chrono::{NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use criterion::{Criterion, criterion_group, criterion_main};

use klaxon::domain::incident::Page;
use klaxon::domain::oncall::{Restriction, Rotation, ScheduleOverride, ShiftUnit};
use klaxon::domain::{
    EscalationLevel, EscalationPolicy, Event, Incident, IncidentChange, IncidentChangeKind,
    IncidentId, NewIncident, NotificationId, OverrideId, RotationEntry, RotationId, Schedule,
    ScheduleId, ServiceId, Severity, Timestamp, UserId,
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
        time_zone: "UTC".into(),
        rotation: (0..shifts)
            .map(|i| RotationEntry {
                user_id: users[i as usize % users.len()],
                start: t0() + TimeDelta::days(i),
                end: t0() + TimeDelta::days(i + 1),
            })
            .collect(),
        rotations: Vec::new(),
        overrides: Vec::new(),
        escalation_policy: std::sync::Arc::new(EscalationPolicy {
            initial_timeout_ms: 300_000,
            levels: vec![
                EscalationLevel {
                    user_id: Some(users[1]),
                    schedule_id: None,
                    timeout_ms: 600_000,
                },
                EscalationLevel {
                    user_id: Some(users[2]),
                    schedule_id: None,
                    timeout_ms: 900_000,
                },
            ],
            repeat: 0,
            acknowledge_timeout_ms: None,
        }),
        calendar_key: None,
        deleted_at: None,
    }
}

/// A team's real schedule: a weekly follow-the-sun layer in Europe/Berlin (handoffs keep
/// local time across DST), a weekday business-hours layer on top, and 50 overrides, the
/// last of which covers the instant asked about.
fn layered(at: Timestamp) -> Schedule {
    let mut schedule = schedule(0);
    let users: Vec<UserId> = (0..6).map(|_| UserId::new()).collect();
    let monday_9_berlin = Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).unwrap();
    schedule.time_zone = "Europe/Berlin".into();
    schedule.rotations = vec![
        Rotation {
            id: RotationId::new(),
            name: "Primary".into(),
            time_zone: "Europe/Berlin".into(),
            start: monday_9_berlin,
            shift_length: 1,
            shift_unit: ShiftUnit::Week,
            participants: users[..4].to_vec(),
            restriction: None,
        },
        Rotation {
            id: RotationId::new(),
            name: "Business hours".into(),
            time_zone: "Europe/Berlin".into(),
            start: monday_9_berlin,
            shift_length: 1,
            shift_unit: ShiftUnit::Day,
            participants: users[4..].to_vec(),
            restriction: Some(Restriction {
                weekdays: vec![
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                ],
                start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            }),
        },
    ];
    schedule.overrides = (0..50)
        .map(|i| ScheduleOverride {
            id: OverrideId::new(),
            user_id: users[i % users.len()],
            start: at - TimeDelta::days(50 - i as i64),
            end: at - TimeDelta::days(50 - i as i64)
                + TimeDelta::hours(if i == 49 { 25 } else { 4 }),
            replaces: None,
        })
        .collect();
    schedule
}

/// Escalation levels name users directly in these benches.
fn direct(level: &EscalationLevel) -> Option<UserId> {
    level.user_id
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
    Incident::trigger(IncidentId::new(), 1, new, schedule, now, page(), &direct)
}

fn on_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("on_call");
    // A Wednesday in summer time, 12:00Z (14:00 in Berlin).
    let summer = Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
    let layered = layered(summer);
    assert!(layered.on_call(summer).is_some());
    group.bench_function("layers_and_overrides", |b| {
        b.iter(|| black_box(&layered).on_call(black_box(summer)))
    });
    let without_overrides = Schedule {
        overrides: Vec::new(),
        ..layered.clone()
    };
    group.bench_function("layers_in_dst_zone", |b| {
        b.iter(|| black_box(&without_overrides).on_call(black_box(summer)))
    });
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
                next.apply(now, &change, &klaxon::domain::Actor::system());
            }
            next
        })
    });
    let deadline = incident.escalation_deadline.unwrap();
    c.bench_function("escalate_on_timeout_and_apply", |b| {
        b.iter(|| {
            let mut next = black_box(&incident).clone();
            if let Some(change) =
                incident.escalate_on_timeout(deadline, deadline, page(), &direct, None)
            {
                next.apply(deadline, &change, &klaxon::domain::Actor::system());
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
        actor: klaxon::domain::Actor::system(),
    });
    let acknowledged_event = Event::Incident(IncidentChange {
        incident_id: incident.id,
        at: now,
        kind: IncidentChangeKind::Acknowledged,
        actor: klaxon::domain::Actor::system(),
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
