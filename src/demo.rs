//! `klaxon serve --demo`: a small team so a newcomer sees something at once. Loaded only
//! into an empty store, through the same commands a client would use.

use chrono::{DurationRound, NaiveTime, TimeDelta};

use std::sync::Arc;

use crate::domain::oncall::{RotationDraft, ShiftUnit, resolve_local};
use crate::domain::schedule::{LevelInput, PolicyInput, RotationInput};
use crate::domain::user::UserFields;
use crate::domain::{NewIncident, Principal, Role, Severity, User};
use crate::store::{CommandError, ScheduleDraft, Store};

/// The demo's people, by role, for the one-time login links `serve --demo` prints.
pub struct DemoTeam {
    /// Alice Nguyen, an ADMIN.
    pub admin: Arc<User>,
    /// Bob Martins, a RESPONDER.
    pub responder: Arc<User>,
    /// Dave Okafor, a VIEWER.
    pub viewer: Arc<User>,
}

/// Creates four users (an admin, two responders, a viewer; none has a password: the demo
/// logs in through one-time links), two services, a schedule for each (a daily Berlin
/// rotation; explicit daily entries for the next four weeks), a two-level policy, and one
/// open incident. `None` when the store was not empty.
pub async fn load(store: &Store) -> Result<Option<DemoTeam>, CommandError> {
    if !store.users().is_empty() || !store.services().is_empty() {
        return Ok(None);
    }
    let by = Principal::system();
    let person = |name: &str, email: &str, phone: Option<&str>, role: Role| {
        UserFields::parse(name, email, phone, role)
    };
    let alice = store
        .create_user(
            &by,
            person(
                "Alice Nguyen",
                "alice@example.com",
                Some("+1 555 0100"),
                Role::Admin,
            )?,
            None,
        )
        .await?;
    let bob = store
        .create_user(
            &by,
            person(
                "Bob Martins",
                "bob@example.com",
                Some("+1 555 0101"),
                Role::Responder,
            )?,
            None,
        )
        .await?;
    let carol = store
        .create_user(
            &by,
            person("Carol Smith", "carol@example.com", None, Role::Responder)?,
            None,
        )
        .await?;
    let dave = store
        .create_user(
            &by,
            person("Dave Okafor", "dave@example.com", None, Role::Viewer)?,
            None,
        )
        .await?;
    let payments = store
        .create_service(&by, "Payments API", Some("Card authorisation and payouts"))
        .await?;
    let web = store
        .create_service(&by, "Web Frontend", Some("The customer-facing site"))
        .await?;

    let now = store.clock().now();
    let today = now.duration_trunc(TimeDelta::days(1)).unwrap_or(now);
    let shift = |users: [&str; 2]| -> Vec<RotationInput> {
        (-1..28)
            .map(|day: i64| RotationInput {
                user_id: users[day.rem_euclid(2) as usize].to_owned(),
                start: today + TimeDelta::days(day),
                end: today + TimeDelta::days(day + 1),
            })
            .collect()
    };
    let policy = |first: &str, second: &str| PolicyInput {
        initial_timeout_ms: 5 * 60 * 1000,
        levels: vec![
            LevelInput {
                user_id: Some(first.to_owned()),
                schedule_id: None,
                timeout_ms: 10 * 60 * 1000,
            },
            LevelInput {
                user_id: Some(second.to_owned()),
                schedule_id: None,
                timeout_ms: 15 * 60 * 1000,
            },
        ],
        repeat: 0,
        acknowledge_timeout_ms: None,
    };
    let berlin_nine = resolve_local(
        chrono_tz::Europe::Berlin,
        (now - TimeDelta::days(1))
            .date_naive()
            .and_time(NaiveTime::MIN)
            + TimeDelta::hours(9),
    )
    .unwrap_or(today);
    let (a, b, c, d) = (
        alice.id.to_string(),
        bob.id.to_string(),
        carol.id.to_string(),
        dave.id.to_string(),
    );
    let payments_primary = store
        .create_schedule(
            &by,
            ScheduleDraft {
                name: "Payments primary".into(),
                service_id: payments.id.to_string(),
                time_zone: Some("Europe/Berlin".into()),
                rotation: Vec::new(),
                // Daily handoff at 09:00 Berlin time, kept across daylight saving.
                rotations: vec![RotationDraft {
                    name: "Daily follow-the-sun".into(),
                    time_zone: "Europe/Berlin".into(),
                    start: berlin_nine,
                    shift_length: 1,
                    shift_unit: ShiftUnit::Day,
                    participants: vec![a.clone(), b.clone()],
                    restriction: None,
                }],
                escalation_policy: policy(&c, &d),
            },
        )
        .await?;
    store
        .create_schedule(
            &by,
            ScheduleDraft {
                name: "Web on-call".into(),
                service_id: web.id.to_string(),
                time_zone: None,
                rotations: Vec::new(),
                rotation: shift([&c, &d]),
                escalation_policy: policy(&a, &b),
            },
        )
        .await?;
    let incident = NewIncident::parse(
        "Card authorisations failing in eu-west",
        Some("Error rate above 5% for 3 minutes"),
        Severity::High,
        Some("payments-auth-errors"),
    )?;
    store
        .trigger(&by, &payments_primary.id.to_string(), incident)
        .await?;
    Ok(Some(DemoTeam {
        admin: alice,
        responder: bob,
        viewer: dave,
    }))
}
