//! On-call resolution at scale: `onCall(at)` on a schedule with 3 rotation layers, 50
//! overrides and 10 years of history, and `shifts` over 366 days of a daily rotation.
//! Targets (issue 4): under 2 µs per `onCall`, under 1 ms per `shifts`.

use std::hint::black_box;

use chrono::{Duration, NaiveTime, TimeZone, Utc, Weekday};
use criterion::{Criterion, criterion_group, criterion_main};
use klaxon::domain::oncall::{Restriction, Rotation, ScheduleOverride, ShiftUnit};
use klaxon::domain::{
    EscalationPolicy, OverrideId, RotationId, Schedule, ScheduleId, ServiceId, Timestamp, UserId,
};

fn team(n: usize) -> Vec<UserId> {
    (0..n).map(|_| UserId::new()).collect()
}

fn rotation(
    zone: &str,
    start: Timestamp,
    len: u32,
    unit: ShiftUnit,
    people: Vec<UserId>,
) -> Rotation {
    Rotation {
        id: RotationId::new(),
        name: "layer".into(),
        time_zone: zone.into(),
        start,
        shift_length: len,
        shift_unit: unit,
        participants: people,
        restriction: None,
    }
}

fn busy_schedule(now: Timestamp) -> Schedule {
    let ten_years_ago = now - Duration::days(3_652);
    let mut office = rotation(
        "America/New_York",
        ten_years_ago,
        1,
        ShiftUnit::Week,
        team(4),
    );
    office.restriction = Some(Restriction {
        weekdays: vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ],
        start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
        end: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
    });
    let cover = team(5);
    let overrides = (0..50)
        .map(|i| {
            let start = now - Duration::days(200) + Duration::days(i * 8);
            ScheduleOverride {
                id: OverrideId::new(),
                user_id: cover[i as usize % cover.len()],
                start,
                end: start + Duration::hours(30),
                replaces: None,
            }
        })
        .collect();
    Schedule {
        id: ScheduleId::new(),
        name: "busy".into(),
        service_id: ServiceId::new(),
        time_zone: "Europe/Berlin".into(),
        rotation: Vec::new(),
        rotations: vec![
            rotation("Europe/Berlin", ten_years_ago, 1, ShiftUnit::Day, team(6)),
            rotation("UTC", ten_years_ago, 12, ShiftUnit::Hour, team(3)),
            office,
        ],
        overrides,
        escalation_policy: std::sync::Arc::new(EscalationPolicy {
            initial_timeout_ms: 300_000,
            levels: Vec::new(),
            repeat: 0,
            acknowledge_timeout_ms: None,
        }),
        calendar_key: None,
        deleted_at: None,
    }
}

fn benches(c: &mut Criterion) {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 27, 12, 0, 0)
        .single()
        .unwrap_or_default();
    let schedule = busy_schedule(now);
    // Instants spread over the ten years, visited in a fixed pseudo-random order.
    let instants: Vec<Timestamp> = (0..1024u64)
        .map(|i| now - Duration::minutes(((i * 2_654_435_761) % (3_652 * 1_440)) as i64))
        .collect();
    let mut i = 0;
    c.bench_function("on_call/3 layers, 50 overrides, 10 years", |b| {
        b.iter(|| {
            i = (i + 1) % instants.len();
            black_box(schedule.on_call(black_box(instants[i])))
        })
    });
    let daily = Schedule {
        rotations: vec![rotation(
            "Europe/Berlin",
            now - Duration::days(3_652),
            1,
            ShiftUnit::Day,
            team(7),
        )],
        overrides: Vec::new(),
        ..schedule.clone()
    };
    c.bench_function("shifts/366 days of a daily rotation", |b| {
        b.iter(|| black_box(daily.shifts(black_box(now), now + Duration::days(366))))
    });
    c.bench_function("shifts/373 days, 3 layers, 50 overrides", |b| {
        b.iter(|| {
            black_box(schedule.shifts(
                black_box(now - Duration::days(7)),
                now + Duration::days(366),
            ))
        })
    });
    let mut j = 0;
    c.bench_function("shift_at (currentShift)/3 layers, 50 overrides", |b| {
        b.iter(|| {
            j = (j + 1) % instants.len();
            black_box(schedule.shift_at(black_box(instants[j])))
        })
    });
    c.bench_function("next_change/3 layers", |b| {
        b.iter(|| black_box(schedule.next_change(black_box(now))))
    });
}

criterion_group!(oncall, benches);
criterion_main!(oncall);
