//! `GET /schedules/{id}/calendar.ics`: the next 60 days of a schedule's shifts as an
//! iCalendar feed (RFC 5545), so a person can subscribe from their calendar app.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use icalendar::{Calendar, Component, EventLike};

use super::AppState;
use crate::domain::ScheduleId;

/// How far ahead the feed reaches.
const DAYS_AHEAD: i64 = 60;

/// The feed.
pub async fn calendar(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(schedule) = id
        .parse::<ScheduleId>()
        .ok()
        .and_then(|id| state.store.state().schedule(id))
    else {
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
