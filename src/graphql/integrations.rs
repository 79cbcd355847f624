//! Monitoring integrations in GraphQL: `integration(id)`, `createIntegration`,
//! `rotateIntegrationKey`, `setIntegrationSecret`, `deleteIntegration`, and the `Alert`
//! views `Incident.alerts` returns. Thin: the store decides; keys are shown to admins only.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};

use super::error::api_error;
use super::scalars::DateTime;
use super::types::{PublicUrl, ScheduleObject, ServiceObject, principal, store};
use crate::domain::integration::{Alert, AlertLink, KeyValue};
use crate::domain::{self, Action, IntegrationId};

/// Which monitor an integration is for, and the format an alert came in.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "IntegrationKind", remote = "domain::IntegrationKind")]
pub enum IntegrationKind {
    /// PagerDuty's Events API v2: `POST /v2/enqueue` with the key as `routing_key`
    /// (Alertmanager's `pagerduty_configs`, Grafana's PagerDuty contact point, PagerDuty
    /// client libraries).
    #[graphql(name = "EVENTS_API_V2")]
    EventsApiV2,
    /// Prometheus Alertmanager's webhook (`webhook_configs`, payload version 4).
    Alertmanager,
    /// Grafana's webhook contact point (optionally HMAC-signed).
    Grafana,
    /// Any tool: JSON or a form with `summary`, `details`, `dedup`, `action: "close"`.
    Generic,
}

/// Whether an alert is still going on.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "AlertStatus", remote = "domain::integration::AlertStatus")]
pub enum AlertStatus {
    /// Still firing.
    Firing,
    /// Over.
    Resolved,
}

/// A monitoring tool's way in. Any integration's key works on every ingestion path: the
/// path (`/v2/enqueue`, `/integrations/{key}/alertmanager`, `.../grafana`, `.../generic`)
/// says the payload's format, the key says the schedule.
pub struct IntegrationObject(pub Arc<domain::Integration>);

fn may_read_secrets(ctx: &Context<'_>) -> bool {
    principal(ctx).is_ok_and(|p| p.role.allows(Action::ManageCredentials))
}

#[Object(name = "Integration")]
impl IntegrationObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> IntegrationKind {
        self.0.kind.into()
    }
    /// The routing key: a 32-character secret. Null unless the caller is an ADMIN (a
    /// secret, like token hashes: viewers and responders never read it).
    async fn key(&self, ctx: &Context<'_>) -> Option<&str> {
        may_read_secrets(ctx).then_some(self.0.key.0.as_str())
    }
    /// The address to paste into the monitor. For EVENTS_API_V2 it is `/v2/enqueue` (the
    /// key goes in `routing_key`) and anyone may read it; the others carry the key in the
    /// path, so they are null unless the caller is an ADMIN.
    async fn url(&self, ctx: &Context<'_>) -> Option<String> {
        let base = ctx
            .data_opt::<PublicUrl>()
            .map_or("", |u| u.0.trim_end_matches('/'));
        match self.0.kind {
            domain::IntegrationKind::EventsApiV2 => Some(format!("{base}/v2/enqueue")),
            kind => may_read_secrets(ctx)
                .then(|| format!("{base}/integrations/{}/{}", self.0.key.0, kind.as_str())),
        }
    }
    /// Whether posts must carry a valid `X-Grafana-Alerting-Signature` (HMAC-SHA256 with
    /// the secret set by `setIntegrationSecret` or `createIntegration`; checked on the
    /// Grafana path). The secret itself is never shown.
    async fn has_secret(&self) -> bool {
        self.0.secret.is_some()
    }
    async fn schedule(&self, ctx: &Context<'_>) -> Result<ScheduleObject> {
        super::types::schedule_of(ctx, self.0.schedule_id)
    }
    /// The schedule's service: where its incidents open.
    async fn service(&self, ctx: &Context<'_>) -> Result<ServiceObject> {
        let schedule = super::types::schedule_of(ctx, self.0.schedule_id)?;
        super::types::service_of(ctx, schedule.0.service_id)
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// When it last sent an event (accepted or not acted on); null when never.
    async fn last_event_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        store(ctx)
            .state()
            .integration_seen
            .get(&self.0.id)
            .map(|at| DateTime(*at))
    }
}

/// A label, annotation or field.
pub struct KeyValueObject(KeyValue);

#[Object(name = "KeyValue")]
impl KeyValueObject {
    async fn key(&self) -> &str {
        &self.0.key
    }
    async fn value(&self) -> &str {
        &self.0.value
    }
}

/// A link a monitor attached.
pub struct AlertLinkObject(AlertLink);

#[Object(name = "AlertLink")]
impl AlertLinkObject {
    async fn href(&self) -> &str {
        &self.0.href
    }
    async fn text(&self) -> Option<&str> {
        self.0.text.as_deref()
    }
}

fn pairs(list: &[KeyValue]) -> Vec<KeyValueObject> {
    list.iter().cloned().map(KeyValueObject).collect()
}

/// One alert as a monitor sent it. Alertmanager/Grafana: the group's current alerts (the
/// first 100); PagerDuty/generic: the latest 100 events, newest last.
pub struct AlertObject(pub Arc<Alert>);

#[Object(name = "Alert")]
impl AlertObject {
    /// The integration it came through; null once deleted.
    async fn integration(&self, ctx: &Context<'_>) -> Option<IntegrationObject> {
        store(ctx)
            .integration(self.0.integration_id)
            .map(IntegrationObject)
    }
    /// The format it came in.
    async fn kind(&self) -> IntegrationKind {
        self.0.kind.into()
    }
    async fn status(&self) -> AlertStatus {
        self.0.status.into()
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
    /// As the monitor sent it (`critical`, `warning`, ...).
    async fn severity(&self) -> Option<&str> {
        self.0.severity.as_deref()
    }
    async fn fingerprint(&self) -> Option<&str> {
        self.0.fingerprint.as_deref()
    }
    /// At most 128, names up to 256 and values up to 4,096 characters.
    async fn labels(&self) -> Vec<KeyValueObject> {
        pairs(&self.0.labels)
    }
    async fn annotations(&self) -> Vec<KeyValueObject> {
        pairs(&self.0.annotations)
    }
    /// Everything else: PagerDuty's component, group, class, client, timestamp and
    /// `custom_details` flattened to dotted keys (`custom_details.db.host`); at most 128.
    async fn fields(&self) -> Vec<KeyValueObject> {
        pairs(&self.0.fields)
    }
    /// PagerDuty's links, images and client_url; Alertmanager's generatorURL; Grafana's
    /// dashboard, panel and silence links.
    async fn links(&self) -> Vec<AlertLinkObject> {
        self.0.links.iter().cloned().map(AlertLinkObject).collect()
    }
    async fn starts_at(&self) -> Option<DateTime> {
        self.0.starts_at.map(DateTime)
    }
    async fn ends_at(&self) -> Option<DateTime> {
        self.0.ends_at.map(DateTime)
    }
    async fn received_at(&self) -> DateTime {
        DateTime(self.0.received_at)
    }
}

/// A new integration.
#[derive(InputObject)]
pub struct CreateIntegrationInput {
    /// Where its incidents open.
    pub schedule_id: ID,
    /// 1 to 200 characters; also the actor name on what it changes.
    pub name: String,
    /// Which monitor it is for.
    pub kind: IntegrationKind,
    /// Optional HMAC secret (16 to 256 characters) Grafana's contact point signs with.
    pub secret: Option<String>,
}

/// Integration queries, merged into `Query`.
#[derive(Default)]
pub struct IntegrationQuery;

#[Object]
impl IntegrationQuery {
    /// A live integration; null for an unknown or deleted id.
    async fn integration(&self, ctx: &Context<'_>, id: ID) -> Option<IntegrationObject> {
        let id: IntegrationId = id.parse().ok()?;
        store(ctx).integration(id).map(IntegrationObject)
    }
}

/// Integration mutations (ADMIN only), merged into `Mutation`.
#[derive(Default)]
pub struct IntegrationMutation;

#[Object]
impl IntegrationMutation {
    /// Makes an integration with a fresh key on a schedule.
    async fn create_integration(
        &self,
        ctx: &Context<'_>,
        input: CreateIntegrationInput,
    ) -> Result<IntegrationObject> {
        store(ctx)
            .create_integration(
                principal(ctx)?,
                &input.schedule_id,
                &input.name,
                input.kind.into(),
                input.secret.as_deref(),
            )
            .await
            .map(IntegrationObject)
            .map_err(api_error)
    }
    /// A new key: the old one stops working at once.
    async fn rotate_integration_key(&self, ctx: &Context<'_>, id: ID) -> Result<IntegrationObject> {
        store(ctx)
            .rotate_integration_key(principal(ctx)?, &id)
            .await
            .map(IntegrationObject)
            .map_err(api_error)
    }
    /// Sets the HMAC secret (16 to 256 characters) Grafana posts must be signed with;
    /// null clears it.
    async fn set_integration_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        secret: Option<String>,
    ) -> Result<IntegrationObject> {
        store(ctx)
            .set_integration_secret(principal(ctx)?, &id, secret.as_deref())
            .await
            .map(IntegrationObject)
            .map_err(api_error)
    }
    /// Deletes an integration: its key stops working; its alerts stay on their incidents.
    async fn delete_integration(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        store(ctx)
            .delete_integration(principal(ctx)?, &id)
            .await
            .map(|id| ID(id.to_string()))
            .map_err(api_error)
    }
}
