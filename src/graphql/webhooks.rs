//! Outbound webhooks in GraphQL: `webhooks`, `createWebhook`, `deleteWebhook`, and
//! `Webhook.deliveries`. ADMIN only (each webhook holds a signing secret, shown once by
//! `createWebhook`). Thin: the store decides, the worker sends.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};

use super::error::api_error;
use super::scalars::DateTime;
use super::types::{IncidentEventKind, IncidentObject, ServiceObject, principal, store};
use crate::domain::webhook::DeliveryStatus;
use crate::domain::{self, WebhookEvent};

/// Where a page or a webhook delivery stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "NotificationStatus", remote = "DeliveryStatus")]
pub enum NotificationStatus {
    /// Not delivered yet (waiting for its turn, in flight, or waiting to be retried).
    Pending,
    /// Its receiver accepted it.
    Sent,
    /// Given up.
    Failed,
}

fn kind_of(event: WebhookEvent) -> IncidentEventKind {
    match event {
        WebhookEvent::Triggered => IncidentEventKind::Triggered,
        WebhookEvent::Acknowledged => IncidentEventKind::Acknowledged,
        WebhookEvent::Resolved => IncidentEventKind::Resolved,
        WebhookEvent::Escalated => IncidentEventKind::Escalated,
    }
}

fn event_of(kind: IncidentEventKind) -> Result<WebhookEvent, domain::DomainError> {
    match kind {
        IncidentEventKind::Triggered => Ok(WebhookEvent::Triggered),
        IncidentEventKind::Acknowledged => Ok(WebhookEvent::Acknowledged),
        IncidentEventKind::Resolved => Ok(WebhookEvent::Resolved),
        IncidentEventKind::Escalated => Ok(WebhookEvent::Escalated),
        other => Err(domain::DomainError::invalid(
            "events",
            format!(
                "{} is not sent to webhooks; choose among TRIGGERED, ACKNOWLEDGED, RESOLVED, ESCALATED",
                async_graphql::Value::from(other)
            ),
        )),
    }
}

/// An http(s) endpoint that receives signed incident events.
pub struct WebhookObject(pub Arc<domain::Webhook>);

#[Object(name = "Webhook")]
impl WebhookObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// Only this service's incidents; null: every service.
    async fn service(&self, ctx: &Context<'_>) -> Option<ServiceObject> {
        self.0
            .service_id
            .and_then(|id| store(ctx).state().service_any(id))
            .map(ServiceObject)
    }
    /// Which incident events are sent (of TRIGGERED, ACKNOWLEDGED, RESOLVED, ESCALATED).
    async fn events(&self) -> Vec<IncidentEventKind> {
        self.0.events.iter().copied().map(kind_of).collect()
    }
    /// A delivery gave up after retrying for its whole window; cleared by the next success.
    async fn failing(&self) -> bool {
        self.0.failing
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// Newest first (the latest 100).
    async fn deliveries(&self, ctx: &Context<'_>) -> Vec<WebhookDeliveryObject> {
        store(ctx)
            .state()
            .webhooks
            .deliveries_of(self.0.id)
            .into_iter()
            .map(WebhookDeliveryObject)
            .collect()
    }
}

/// One incident event on its way to a webhook.
pub struct WebhookDeliveryObject(pub Arc<domain::WebhookDelivery>);

#[Object(name = "WebhookDelivery")]
impl WebhookDeliveryObject {
    /// Also the envelope's `event.id` and the `X-Klaxon-Delivery` header.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// incident.triggered | incident.acknowledged | incident.resolved | incident.escalated
    async fn event_type(&self) -> &'static str {
        self.0.event.type_name()
    }
    async fn status(&self) -> NotificationStatus {
        self.0.status.into()
    }
    async fn attempts(&self) -> i32 {
        i32::try_from(self.0.attempts).unwrap_or(i32::MAX)
    }
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status.map(i32::from)
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    async fn incident(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<IncidentObject>> {
        let found = store(ctx)
            .find_incident(self.0.incident_id)
            .await
            .map_err(crate::graphql::error::api_error)?;
        Ok(found.map(IncidentObject))
    }
    async fn last_attempt_at(&self) -> Option<DateTime> {
        self.0.last_attempt_at.map(DateTime)
    }
    /// How long the last attempt took.
    async fn duration_ms(&self) -> Option<i32> {
        self.0
            .duration_ms
            .map(|ms| i32::try_from(ms).unwrap_or(i32::MAX))
    }
    /// When the next retry is due, while PENDING after a failed attempt.
    async fn next_attempt_at(&self) -> Option<DateTime> {
        self.0.next_attempt_at.map(DateTime)
    }
}

/// A new webhook and its signing secret, shown only here.
#[derive(SimpleObject)]
pub struct NewWebhook {
    /// The HMAC-SHA256 key of `X-Klaxon-Signature`: keep it; it is not shown again.
    pub secret: String,
    /// The webhook.
    pub webhook: WebhookObject,
}

/// A new webhook.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// An http(s) URL without credentials, at most 2048 characters (loopback and private
    /// addresses are allowed).
    pub url: String,
    /// Only this service's incidents; null: every service.
    pub service_id: Option<ID>,
    /// Which events (of TRIGGERED, ACKNOWLEDGED, RESOLVED, ESCALATED); null or empty: all
    /// four.
    pub events: Option<Vec<IncidentEventKind>>,
}

/// Webhook reads.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every webhook, oldest first (ADMIN).
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<WebhookObject>> {
        let hooks = store(ctx).webhooks(principal(ctx)?).map_err(api_error)?;
        Ok(hooks.into_iter().map(WebhookObject).collect())
    }
}

/// Webhook changes (ADMIN).
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Makes a webhook: each matching incident event is POSTed to `url`, signed. The
    /// answer carries the signing secret, shown only here.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> Result<NewWebhook> {
        let by = principal(ctx)?;
        by.require(domain::Action::ManageWebhooks)
            .map_err(api_error)?;
        let events = input
            .events
            .map(|kinds| {
                kinds
                    .into_iter()
                    .map(event_of)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(api_error)?;
        let (webhook, secret) = store(ctx)
            .create_webhook(
                by,
                &input.url,
                input.service_id.as_ref().map(|id| id.as_str()),
                events,
            )
            .await
            .map_err(api_error)?;
        Ok(NewWebhook {
            secret,
            webhook: WebhookObject(webhook),
        })
    }

    /// Deletes a webhook: nothing more is sent to it, pending deliveries included.
    /// Returns its id.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        store(ctx)
            .delete_webhook(principal(ctx)?, &id)
            .await
            .map(|id| ID(id.to_string()))
            .map_err(api_error)
    }
}
