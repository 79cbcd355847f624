//! The cost of measuring the on-call: `analytics` over one year of 100,000 incidents across
//! 20 services (state built through `State::apply` from synthetic events, as replay builds
//! it), and the `/metrics` exposition with 100 services and 10,000 open incidents.
//! Target: `analytics` well under 100 ms. Besides criterion's estimates, the analytics
//! benchmark prints p50/p99 over 200 timed runs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use klaxon::clock::SystemClock;
use klaxon::domain::incident::{NewIncident, Page};
use klaxon::domain::oncall::{Rotation, ShiftUnit};
use klaxon::domain::schedule::EscalationLevel;
use klaxon::domain::{
    Actor, EscalationPolicy, Event, Incident, IncidentChange, IncidentChangeKind, IncidentId,
    NotificationId, Role, RotationId, Schedule, ScheduleId, Service, ServiceId, Severity,
    Timestamp, User, UserId,
};
use klaxon::metrics::{Metrics, Scrape};
use klaxon::store::{MemoryJournal, State, Store};

const SERVICES: usize = 20;
const INCIDENTS: u64 = 100_000;
const USERS_PER_SERVICE: usize = 5;

fn start() -> Timestamp {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn user(id: UserId, n: usize) -> User {
    User {
        id,
        name: format!("Responder {n}"),
        email: format!("r{n}@example.com"),
        phone: None,
        role: Role::Responder,
        password: None,
        deleted_at: None,
    }
}

fn service(n: usize) -> Service {
    Service {
        id: ServiceId::new(),
        name: format!("service-{n}"),
        description: None,
        deleted_at: None,
        maintenance_until: None,
    }
}

/// A weekly rotation of five people in a European zone, a backup as level 1.
fn schedule(service: ServiceId, people: Vec<UserId>) -> Schedule {
    let backup = people[0];
    Schedule {
        id: ScheduleId::new(),
        name: "primary".into(),
        service_id: service,
        time_zone: "Europe/Berlin".into(),
        rotation: Vec::new(),
        rotations: vec![Rotation {
            id: RotationId::new(),
            name: "weekly".into(),
            time_zone: "Europe/Berlin".into(),
            start: start() - Duration::days(30),
            shift_length: 1,
            shift_unit: ShiftUnit::Week,
            participants: people,
            restriction: None,
        }],
        overrides: Vec::new(),
        escalation_policy: std::sync::Arc::new(EscalationPolicy {
            initial_timeout_ms: 300_000,
            levels: vec![EscalationLevel {
                user_id: Some(backup),
                schedule_id: None,
                timeout_ms: 600_000,
            }],
            repeat: 0,
            acknowledge_timeout_ms: None,
        }),
        calendar_key: None,
        deleted_at: None,
    }
}

fn page() -> Page {
    Page {
        id: NotificationId::new(),
        channel: "log".into(),
    }
}

fn change(incident: &Incident, at: Timestamp, kind: IncidentChangeKind, actor: Actor) -> Event {
    Event::Incident(IncidentChange {
        incident_id: incident.id,
        at,
        kind,
        actor,
    })
}

/// 100,000 incidents spread over 2025: most acknowledged within minutes and resolved
/// within hours, one in ten escalated first, one in twenty never acknowledged.
fn year_of_incidents() -> (Store, Vec<ServiceId>) {
    let state = State::default();
    let mut schedules = Vec::new();
    let mut services = Vec::new();
    let mut n = 0;
    for s in 0..SERVICES {
        let service = service(s);
        services.push(service.id);
        state.apply(&Event::ServiceCreated {
            service: service.clone(),
            actor: Actor::system(),
        });
        let people: Vec<UserId> = (0..USERS_PER_SERVICE).map(|_| UserId::new()).collect();
        for id in &people {
            n += 1;
            state.apply(&Event::UserCreated {
                user: user(*id, n),
                actor: Actor::system(),
            });
        }
        let schedule = schedule(service.id, people);
        state.apply(&Event::ScheduleCreated {
            schedule: schedule.clone(),
            actor: Actor::system(),
        });
        schedules.push(schedule);
    }
    let year_ms = 365 * 24 * 3_600_000_i64;
    for i in 0..INCIDENTS {
        let schedule = &schedules[(i as usize * 7) % SERVICES];
        let at = start() + Duration::milliseconds((i as i64 * year_ms) / INCIDENTS as i64);
        let severity = [Severity::Low, Severity::Medium, Severity::High][(i % 3) as usize];
        let new = NewIncident::parse(&format!("incident {i}"), None, severity, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let who = |level: &EscalationLevel| level.user_id;
        let incident = Incident::trigger(IncidentId::new(), i + 1, new, schedule, at, page(), &who);
        let id = incident.id;
        let on_call = incident.assigned_to;
        state.apply(&change(
            &incident,
            at,
            IncidentChangeKind::Triggered(Box::new(incident.clone())),
            Actor::system(),
        ));
        let mut now = at;
        if i % 10 == 0 {
            let current = state.incident(id).unwrap_or_else(|| panic!("indexed"));
            now += Duration::minutes(5);
            if let Ok(kind) = current.escalate_manually(now, page(), &who) {
                state.apply(&change(&current, now, kind, Actor::system()));
            }
        }
        if i % 20 != 0 {
            let current = state.incident(id).unwrap_or_else(|| panic!("indexed"));
            now += Duration::seconds(30 + (i % 600) as i64);
            let by = current.assigned_to.or(on_call).unwrap_or_else(UserId::new);
            state.apply(&change(
                &current,
                now,
                IncidentChangeKind::Acknowledged,
                Actor::user(by, "responder"),
            ));
            now += Duration::minutes(10 + (i % 240) as i64);
            state.apply(&change(
                &current,
                now,
                IncidentChangeKind::Resolved,
                Actor::user(by, "responder"),
            ));
        }
    }
    let (store, _outlets) = Store::new(
        state,
        Arc::new(MemoryJournal),
        Arc::new(SystemClock),
        "log",
        16,
    );
    (store, services)
}

fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn analytics(c: &mut Criterion) {
    let built = Instant::now();
    let (store, services) = year_of_incidents();
    eprintln!(
        "built {} incidents across {SERVICES} services in {:?}",
        store.state().analytics.len(),
        built.elapsed()
    );
    let from = start();
    let to = start() + Duration::days(365);
    let run = |service: Option<&str>, zone: Option<&str>| {
        store
            .analytics(from, to, service, zone)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let report = run(None, Some("Europe/Berlin")).report;
    assert_eq!(report.totals.incident_count as u64, INCIDENTS);
    let one = services[3].to_string();
    for (label, service, zone) in [
        ("all services, UTC", None, None),
        ("all services, Europe/Berlin", None, Some("Europe/Berlin")),
        ("one service", Some(one.as_str()), None),
    ] {
        let mut times: Vec<StdDuration> = (0..200)
            .map(|_| {
                let started = Instant::now();
                black_box(run(service, zone));
                started.elapsed()
            })
            .collect();
        times.sort();
        eprintln!(
            "analytics/year of 100,000 incidents, {label}: p50 {:.2} ms, p99 {:.2} ms (200 runs)",
            percentile(&times, 50.0).as_secs_f64() * 1e3,
            percentile(&times, 99.0).as_secs_f64() * 1e3,
        );
    }
    c.bench_function("analytics/year of 100,000 incidents, 20 services", |b| {
        b.iter(|| black_box(run(None, Some("Europe/Berlin"))))
    });
    c.bench_function("analytics/year, one service of 20", |b| {
        b.iter(|| black_box(run(Some(one.as_str()), None)))
    });
}

/// The exposition once 100 services have opened 10,000 incidents (each series of each
/// family filled) and a few routes have been served.
fn metrics(c: &mut Criterion) {
    let metrics = Metrics::new();
    let services: Vec<String> = (0..100).map(|n| format!("service-{n}")).collect();
    let schedule = schedule(ServiceId::new(), vec![UserId::new()]);
    for i in 0..10_000u64 {
        let severity = [Severity::Low, Severity::Medium, Severity::High][(i % 3) as usize];
        let new = NewIncident::parse("x", None, severity, None).unwrap_or_else(|e| panic!("{e}"));
        let who = |level: &EscalationLevel| level.user_id;
        let incident =
            Incident::trigger(IncidentId::new(), i, new, &schedule, start(), page(), &who);
        let service = &services[(i % 100) as usize];
        for kind in [
            IncidentChangeKind::Triggered(Box::new(incident.clone())),
            IncidentChangeKind::Acknowledged,
        ] {
            let change = IncidentChange {
                incident_id: incident.id,
                at: start(),
                kind,
                actor: Actor::system(),
            };
            metrics.record_incident(&change, &incident, service);
        }
    }
    metrics.register_channel("log");
    for route in [
        "/graphql",
        "/graphql/ws",
        "/metrics",
        "/healthz",
        "/api/incidents",
    ] {
        for status in [200, 401, 404] {
            metrics.http_request(
                route,
                &axum::http::Method::POST,
                status,
                StdDuration::from_micros(300),
            );
        }
    }
    let scrape = Scrape {
        incidents: [6_000, 4_000, 0],
        websocket_connections: 100,
        subscriptions: 100,
        subscription_executions: 10,
        users: 500,
        schedules: 100,
        login_sessions: 50,
        journal_lag: 0,
        engine_holder: true,
    };
    let body = metrics.encode(&scrape).unwrap_or_default();
    eprintln!(
        "metrics exposition: {} bytes, {} lines",
        body.len(),
        body.lines().count()
    );
    c.bench_function("metrics/encode, 100 services, 10,000 open incidents", |b| {
        b.iter(|| black_box(metrics.encode(black_box(&scrape))))
    });
}

criterion_group!(benches, analytics, metrics);
criterion_main!(benches);
