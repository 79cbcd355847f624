//! `GET /schedules/{id}/calendar.ics`: the next 60 days of a schedule's shifts as an
//! iCalendar feed (RFC 5545), so a person can subscribe from their calendar app.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use icalendar::{Calendar, Component, EventLike};

use super::AppState;
use super::auth::principal_of;
use crate::domain::ScheduleId;

/// How far ahead the feed reaches.
const DAYS_AHEAD: i64 = 60;

/// The feed's query: the schedule's calendar secret.
#[derive(serde::Deserialize)]
pub struct FeedKey {
    key: Option<String>,
}

/// The feed. Works with the schedule's calendar key in `?key=` (calendar apps send no
/// headers) or with an ordinary credential; otherwise 401, and an unknown schedule looks
/// the same as a wrong key, so the feed reveals nothing without one.
pub async fn calendar(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(feed): Query<FeedKey>,
) -> Response {
    let schedule = id
        .parse::<ScheduleId>()
        .ok()
        .and_then(|id| state.store.state().schedule(id));
    let key_matches = match (&schedule, &feed.key) {
        (Some(schedule), Some(key)) => schedule
            .calendar_key
            .as_deref()
            .is_some_and(|expected| crate::secret::same_secret(expected, key)),
        _ => false,
    };
    if !key_matches {
        if let Err(refusal) = principal_of(&state, &headers, &Method::GET) {
            return (
                refusal.status(),
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "this feed needs its calendar URL's key (Schedule.calendarUrl) or a credential",
            )
                .into_response();
        }
    }
    let Some(schedule) = schedule else {
        return (StatusCode::NOT_FOUND, "no such schedule").into_response();
    };
    let now = state.store.clock().now();
    let mut calendar = Calendar::new();
    calendar
        .name(&format!("On call: {}", schedule.name))
        .timezone(&schedule.time_zone);
    for shift in schedule.shifts(now, now + Duration::days(DAYS_AHEAD)) {
        let who = state
            .store
            .state()
            .user_any(shift.user_id)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| shift.user_id.to_string());
        calendar.push(
            icalendar::Event::new()
                .uid(&format!(
                    "{}-{}@klaxon",
                    schedule.id,
                    shift.start.timestamp_millis()
                ))
                .summary(&format!("{who} on call ({})", schedule.name))
                .timestamp(now)
                .starts(shift.start)
                .ends(shift.end)
                .done(),
        );
    }
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        calendar.done().to_string(),
    )
        .into_response()
}
