//! The seed's REST API under `/api`: a thin adapter over the same store commands as
//! GraphQL, speaking the seed's JSON shapes (lower-case states and severities, timeouts in
//! `initialTimeout` / `timeout` milliseconds, `assignedTo` as a user id). 201 on create,
//! 404 for an unknown id, 400 with `{"error": "..."}` for bad input or a refused move.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::domain::schedule::{LevelInput, PolicyInput, RotationInput};
use crate::domain::{
    DomainError, EscalationPolicy, Incident, IncidentId, IncidentState, NewIncident, Principal,
    Schedule, ScheduleId, Service, Severity, Timestamp, User, UserId,
};
use crate::graphql::scalars::{format as time, parse as parse_time};
use crate::store::{CommandError, IncidentFilter, ScheduleDraft};

/// Most incidents `GET /api/incidents` returns.
const MAX_LIST: usize = 500;

/// The `/api` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/services", get(list_services).post(create_service))
        .route("/schedules", get(list_schedules).post(create_schedule))
        .route("/schedules/{id}", get(get_schedule))
        .route("/schedules/{id}/oncall", get(get_on_call))
        .route("/incidents", get(list_incidents).post(trigger_incident))
        .route("/incidents/{id}", get(get_incident))
        .route("/incidents/{id}/acknowledge", patch(acknowledge))
        .route("/incidents/{id}/resolve", patch(resolve))
        .route("/incidents/{id}/escalate", post(escalate))
}

/// A REST failure: status plus `{"error": message}`.
struct RestError(StatusCode, String);

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<CommandError> for RestError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Domain(e @ DomainError::NotFound { .. }) => {
                Self(StatusCode::NOT_FOUND, e.to_string())
            }
            CommandError::Domain(DomainError::Forbidden(message)) => {
                Self(StatusCode::FORBIDDEN, message)
            }
            CommandError::Domain(e) => Self(StatusCode::BAD_REQUEST, e.to_string()),
            CommandError::Journal(e) => {
                tracing::error!(error = %e, "journal write failed");
                Self(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the change was not recorded: {e}"),
                )
            }
            conflict @ CommandError::Conflict(_) => {
                Self(StatusCode::INTERNAL_SERVER_ERROR, conflict.to_string())
            }
        }
    }
}

impl From<DomainError> for RestError {
    fn from(error: DomainError) -> Self {
        CommandError::from(error).into()
    }
}

impl From<JsonRejection> for RestError {
    fn from(rejection: JsonRejection) -> Self {
        Self(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

type RestResult = Result<Response, RestError>;

fn ok(body: Value) -> RestResult {
    Ok(Json(body).into_response())
}

fn created(body: Value) -> RestResult {
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn not_found(kind: &'static str, id: &str) -> RestError {
    DomainError::not_found(kind, id.chars().take(64).collect::<String>()).into()
}

// ---- shapes ---------------------------------------------------------------------------

fn user_json(user: &User) -> Value {
    json!({ "id": user.id, "name": user.name, "email": user.email, "phone": user.phone, "role": user.role.as_str().to_lowercase() })
}

fn service_json(service: &Service) -> Value {
    json!({ "id": service.id, "name": service.name, "description": service.description })
}

fn policy_json(policy: &EscalationPolicy) -> Value {
    json!({
        "initialTimeout": policy.initial_timeout_ms,
        "escalationLevels": policy.levels.iter().map(|l| json!({
            "userId": l.user_id, "scheduleId": l.schedule_id, "timeout": l.timeout_ms,
        })).collect::<Vec<_>>(),
    })
}

fn schedule_json(schedule: &Schedule) -> Value {
    json!({
        "id": schedule.id,
        "name": schedule.name,
        "serviceId": schedule.service_id,
        "rotation": schedule.rotation.iter().map(|e| json!({
            "userId": e.user_id, "startTime": time(e.start), "endTime": time(e.end),
        })).collect::<Vec<_>>(),
        "escalationPolicy": policy_json(&schedule.escalation_policy),
    })
}

fn lower<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn incident_json(incident: &Incident) -> Value {
    json!({
        "id": incident.id,
        "title": incident.title,
        "description": incident.description(),
        "serviceId": incident.service_id,
        "scheduleId": incident.schedule_id,
        "severity": lower(incident.severity),
        "state": lower(incident.state),
        "triggeredAt": time(incident.triggered_at),
        "acknowledgedAt": incident.acknowledged_at.map(time),
        "resolvedAt": incident.resolved_at.map(time),
        "assignedTo": incident.assigned_to,
        "escalationLevel": incident.escalation_level,
        "escalationPolicy": policy_json(&incident.escalation_policy),
        "escalationHistory": incident.escalation_history().iter().map(|s| json!({
            "fromLevel": s.from_level,
            "toLevel": s.to_level,
            "userId": s.to,
            "reason": lower(s.reason),
            "timestamp": time(s.at),
        })).collect::<Vec<_>>(),
        "notifications": incident.notifications.iter().map(|n| json!({
            "id": n.id,
            "userId": n.user_id,
            "channel": n.channel,
            "reason": n.reason.as_str(),
            "timestamp": time(n.at),
            "delivered": n.delivered,
        })).collect::<Vec<_>>(),
        "dedupKey": incident.dedup_key,
        "alertCount": incident.alert_count,
        "nextEscalationAt": incident.escalation_deadline.map(time),
    })
}

// ---- users and services ---------------------------------------------------------------

#[derive(Deserialize)]
struct UserBody {
    name: String,
    email: String,
    phone: Option<String>,
}

async fn list_users(State(state): State<AppState>) -> RestResult {
    ok(Value::Array(
        state.store.users().iter().map(|u| user_json(u)).collect(),
    ))
}

async fn create_user(
    State(state): State<AppState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<UserBody>, JsonRejection>,
) -> RestResult {
    by.require(crate::domain::Action::Configure)?;
    let Json(body) = body?;
    let fields = crate::domain::user::UserFields::parse(
        &body.name,
        &body.email,
        body.phone.as_deref(),
        crate::domain::Role::default(),
    )?;
    let user = state.store.create_user(&by, fields, None).await?;
    created(user_json(&user))
}

async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> RestResult {
    let user = id
        .parse::<UserId>()
        .ok()
        .and_then(|id| state.store.state().user(id))
        .ok_or_else(|| not_found("user", &id))?;
    ok(user_json(&user))
}

#[derive(Deserialize)]
struct ServiceBody {
    name: String,
    description: Option<String>,
}

async fn list_services(State(state): State<AppState>) -> RestResult {
    ok(Value::Array(
        state
            .store
            .services()
            .iter()
            .map(|s| service_json(s))
            .collect(),
    ))
}

async fn create_service(
    State(state): State<AppState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<ServiceBody>, JsonRejection>,
) -> RestResult {
    by.require(crate::domain::Action::Configure)?;
    let Json(body) = body?;
    let service = state
        .store
        .create_service(&by, &body.name, body.description.as_deref())
        .await?;
    created(service_json(&service))
}

// ---- schedules ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RotationBody {
    user_id: String,
    start_time: String,
    end_time: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LevelBody {
    user_id: String,
    timeout: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyBody {
    initial_timeout: i64,
    #[serde(default)]
    escalation_levels: Vec<LevelBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleBody {
    name: String,
    service_id: String,
    #[serde(default)]
    rotation: Vec<RotationBody>,
    escalation_policy: Option<PolicyBody>,
}

fn instant(field: String, raw: &str) -> Result<Timestamp, DomainError> {
    parse_time(raw).ok_or_else(|| {
        DomainError::invalid(
            field,
            "must be an RFC 3339 date-time such as 2026-01-31T09:00:00Z",
        )
    })
}

async fn list_schedules(State(state): State<AppState>) -> RestResult {
    let now = state.store.clock().now();
    let schedules = state
        .store
        .schedules()
        .iter()
        .map(|s| {
            let mut body = schedule_json(s);
            body["currentOnCall"] = state
                .store
                .on_call(s, Some(now))
                .map(|u| user_json(&u))
                .unwrap_or(Value::Null);
            body
        })
        .collect();
    ok(Value::Array(schedules))
}

async fn create_schedule(
    State(state): State<AppState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<ScheduleBody>, JsonRejection>,
) -> RestResult {
    by.require(crate::domain::Action::Configure)?;
    let Json(body) = body?;
    let rotation = body
        .rotation
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(RotationInput {
                user_id: e.user_id.clone(),
                start: instant(format!("rotation[{i}].startTime"), &e.start_time)?,
                end: instant(format!("rotation[{i}].endTime"), &e.end_time)?,
            })
        })
        .collect::<Result<Vec<_>, DomainError>>()?;
    let escalation_policy = match body.escalation_policy {
        Some(p) => PolicyInput {
            initial_timeout_ms: p.initial_timeout,
            levels: p
                .escalation_levels
                .into_iter()
                .map(|l| LevelInput {
                    user_id: Some(l.user_id),
                    schedule_id: None,
                    timeout_ms: l.timeout,
                })
                .collect(),
            repeat: 0,
            acknowledge_timeout_ms: None,
        },
        None => PolicyInput {
            initial_timeout_ms: 5 * 60 * 1000,
            levels: Vec::new(),
            repeat: 0,
            acknowledge_timeout_ms: None,
        },
    };
    let schedule = state
        .store
        .create_schedule(
            &by,
            ScheduleDraft {
                name: body.name,
                service_id: body.service_id,
                time_zone: None,
                rotations: Vec::new(),
                rotation,
                escalation_policy,
            },
        )
        .await?;
    created(schedule_json(&schedule))
}

fn find_schedule(state: &AppState, id: &str) -> Result<Arc<Schedule>, RestError> {
    id.parse::<ScheduleId>()
        .ok()
        .and_then(|sid| state.store.state().schedule(sid))
        .ok_or_else(|| not_found("schedule", id))
}

async fn get_schedule(State(state): State<AppState>, Path(id): Path<String>) -> RestResult {
    let schedule = find_schedule(&state, &id)?;
    ok(schedule_json(&schedule))
}

async fn get_on_call(State(state): State<AppState>, Path(id): Path<String>) -> RestResult {
    let schedule = find_schedule(&state, &id)?;
    let now = state.store.clock().now();
    let user = state.store.on_call(&schedule, Some(now));
    ok(json!({
        "scheduleId": schedule.id,
        "at": time(now),
        "onCall": user.map(|u| user_json(&u)),
    }))
}

// ---- incidents ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncidentBody {
    title: String,
    description: Option<String>,
    schedule_id: String,
    service_id: Option<String>,
    severity: Option<String>,
    dedup_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncidentQuery {
    state: Option<String>,
    service_id: Option<String>,
}

fn severity(raw: Option<&str>) -> Result<Severity, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(Severity::Medium),
        Some(word) => serde_json::from_value(Value::String(word.to_lowercase()))
            .map_err(|_| DomainError::invalid("severity", "must be low, medium or high")),
    }
}

async fn list_incidents(
    State(state): State<AppState>,
    Query(query): Query<IncidentQuery>,
) -> RestResult {
    let incident_state = query
        .state
        .map(|s| {
            serde_json::from_value::<IncidentState>(Value::String(s.to_lowercase())).map_err(|_| {
                DomainError::invalid("state", "must be triggered, acknowledged or resolved")
            })
        })
        .transpose()?;
    let service_id = query
        .service_id
        .map(|s| s.parse().map_err(|_| not_found("service", &s)))
        .transpose()?;
    let filter = IncidentFilter {
        state: incident_state,
        service_id,
        ..IncidentFilter::default()
    };
    let page = state.store.incidents(&filter, MAX_LIST, None).await?;
    ok(Value::Array(
        page.nodes.iter().map(|i| incident_json(i)).collect(),
    ))
}

async fn trigger_incident(
    State(state): State<AppState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<IncidentBody>, JsonRejection>,
) -> RestResult {
    by.require(crate::domain::Action::TriggerIncident)?;
    let Json(body) = body?;
    let new = NewIncident::parse(
        &body.title,
        body.description.as_deref(),
        severity(body.severity.as_deref())?,
        body.dedup_key.as_deref(),
    )?;
    if let Some(service_id) = &body.service_id {
        let schedule = find_schedule(&state, &body.schedule_id)?;
        if schedule.service_id.to_string() != service_id.trim() {
            return Err(DomainError::invalid(
                "serviceId",
                format!(
                    "schedule {} belongs to service {}",
                    schedule.id, schedule.service_id
                ),
            )
            .into());
        }
    }
    let incident = state.store.trigger(&by, &body.schedule_id, new).await?;
    created(incident_json(&incident))
}

async fn get_incident(State(state): State<AppState>, Path(id): Path<String>) -> RestResult {
    let found = match id.parse::<IncidentId>() {
        Ok(iid) => state.store.find_incident(iid).await?,
        Err(_) => None,
    };
    let incident = found.ok_or_else(|| not_found("incident", &id))?;
    ok(incident_json(&incident))
}

async fn acknowledge(
    State(state): State<AppState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> RestResult {
    let incident = state.store.acknowledge(&by, &id).await?;
    ok(incident_json(&incident))
}

async fn resolve(
    State(state): State<AppState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> RestResult {
    let incident = state.store.resolve(&by, &id).await?;
    ok(incident_json(&incident))
}

async fn escalate(
    State(state): State<AppState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> RestResult {
    let incident = state.store.escalate(&by, &id).await?;
    ok(incident_json(&incident))
}
