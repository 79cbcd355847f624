//! Heartbeats and maintenance windows: `heartbeat`, `heartbeats`, `createHeartbeat`,
//! `deleteHeartbeat`, `startMaintenance`, `endMaintenance`. Merged into the schema roots;
//! the rules live in `domain::heartbeat` and the store.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};

use super::error::{api_error, code, coded};
use super::scalars::DateTime;
use super::types::{
    ActorObject, IncidentObject, PublicUrl, ScheduleObject, ServiceObject, principal, store,
};
use crate::domain::{self, HeartbeatId};

/// Where a heartbeat is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "HeartbeatState", remote = "domain::HeartbeatState")]
pub enum HeartbeatState {
    /// Never beat: raises nothing.
    Inactive,
    /// Beat within its interval.
    Healthy,
    /// No beat for `intervalMs` after the last one: an incident was triggered.
    Unhealthy,
}

/// A monitor that must check in (`POST` or `GET` its `url`) every `intervalMs`.
pub struct HeartbeatObject(pub Arc<domain::Heartbeat>);

#[Object(name = "Heartbeat")]
impl HeartbeatObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// How long it may stay silent (1 s to 30 days). Past 24.8 days the number is larger
    /// than a 32-bit GraphQL `Int`; Klaxon writes it as a plain (64-bit) JSON number.
    async fn interval_ms(&self) -> i64 {
        i64::from(self.0.interval_ms)
    }
    /// The address to `POST` (or `GET`) on every run, e.g. `curl -fsS -X POST <url>`. It
    /// holds a secret of its own and works without other credentials.
    async fn url(&self, ctx: &Context<'_>) -> String {
        let base = ctx
            .data_opt::<PublicUrl>()
            .map_or("", |u| u.0.trim_end_matches('/'));
        format!("{base}/heartbeats/{}", self.0.token)
    }
    /// The last beat; null: never.
    async fn last_beat_at(&self) -> Option<DateTime> {
        self.0.last_beat_at.map(DateTime)
    }
    async fn state(&self) -> HeartbeatState {
        self.0.state().into()
    }
    /// When silence becomes an outage (while healthy).
    async fn next_deadline_at(&self) -> Option<DateTime> {
        self.0.deadline(None).map(DateTime)
    }
    /// The schedule its outages page.
    async fn schedule(&self, ctx: &Context<'_>) -> Result<ScheduleObject> {
        store(ctx)
            .state()
            .schedule_any(self.0.schedule_id)
            .map(ScheduleObject)
            .ok_or_else(|| {
                coded(
                    code::INTERNAL,
                    format!("schedule {} is missing", self.0.schedule_id),
                )
            })
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// Who made it.
    async fn created_by(&self) -> ActorObject {
        ActorObject(self.0.created_by.clone())
    }
    /// The open outage's incident, while unhealthy and it is not resolved.
    async fn incident(&self, ctx: &Context<'_>) -> Option<IncidentObject> {
        self.0
            .outage
            .and_then(|id| store(ctx).incident(id))
            .filter(|incident| incident.is_open())
            .map(IncidentObject)
    }
}

/// A new heartbeat.
#[derive(InputObject)]
pub struct CreateHeartbeatInput {
    /// The schedule its outages page.
    pub schedule_id: ID,
    /// 1 to 200 characters.
    pub name: String,
    /// How long it may stay silent: 1000 (1 s) to 2592000000 (30 days). Values past
    /// 2147483647 (24.8 days) are larger than a 32-bit GraphQL `Int`: send them in
    /// variables (JSON numbers); Klaxon reads any integer and checks the range.
    pub interval_ms: i64,
}

/// Heartbeat reads.
#[derive(Default)]
pub struct HeartbeatQuery;

#[Object]
impl HeartbeatQuery {
    /// One heartbeat; null for an unknown id.
    async fn heartbeat(&self, ctx: &Context<'_>, id: ID) -> Option<HeartbeatObject> {
        let id: HeartbeatId = id.parse().ok()?;
        store(ctx).heartbeat(id).map(HeartbeatObject)
    }
    /// Every heartbeat, by name.
    async fn heartbeats(&self, ctx: &Context<'_>) -> Vec<HeartbeatObject> {
        store(ctx)
            .heartbeats()
            .into_iter()
            .map(HeartbeatObject)
            .collect()
    }
}

/// Heartbeat and maintenance changes (ADMIN: both are configuration).
#[derive(Default)]
pub struct HeartbeatMutation;

#[Object]
impl HeartbeatMutation {
    /// Makes a heartbeat on a schedule; it is INACTIVE until its first beat.
    async fn create_heartbeat(
        &self,
        ctx: &Context<'_>,
        input: CreateHeartbeatInput,
    ) -> Result<HeartbeatObject> {
        store(ctx)
            .create_heartbeat(
                principal(ctx)?,
                &input.schedule_id,
                &input.name,
                input.interval_ms,
            )
            .await
            .map(HeartbeatObject)
            .map_err(api_error)
    }

    /// Deletes a heartbeat: its URL stops working, its timer stops. Returns its id.
    async fn delete_heartbeat(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        store(ctx)
            .delete_heartbeat(principal(ctx)?, &id)
            .await
            .map(|id| ID(id.to_string()))
            .map_err(api_error)
    }

    /// Puts a service in maintenance until `until` (in the future, at most 90 days ahead;
    /// again on a service in maintenance: moves the end). Its incidents still open, but
    /// nobody is paged and nothing escalates until it ends.
    async fn start_maintenance(
        &self,
        ctx: &Context<'_>,
        service_id: ID,
        until: DateTime,
    ) -> Result<ServiceObject> {
        store(ctx)
            .start_maintenance(principal(ctx)?, &service_id, until.0)
            .await
            .map(ServiceObject)
            .map_err(api_error)
    }

    /// Ends a service's maintenance now: open incidents page and escalate from now. A
    /// service not in maintenance is returned unchanged.
    async fn end_maintenance(&self, ctx: &Context<'_>, service_id: ID) -> Result<ServiceObject> {
        store(ctx)
            .end_maintenance(principal(ctx)?, &service_id)
            .await
            .map(ServiceObject)
            .map_err(api_error)
    }
}
