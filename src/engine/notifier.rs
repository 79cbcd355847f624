//! Sending pages. A page is decided (and made durable) by an incident change first; only
//! then does this worker hand it to a [`Notifier`] channel and record the delivery, so a
//! crash can delay a page but never lose one.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use crate::domain::{Incident, IncidentId, Notification, User};
use crate::store::Store;

/// How many pages may be in flight at once.
const CONCURRENT_PAGES: usize = 64;
/// Most pages taken (and recorded) in one batch.
const BATCH: usize = 1024;
/// Attempts per page before it is left undelivered.
const ATTEMPTS: u32 = 3;

/// A decided page, waiting to be sent.
#[derive(Clone, Debug)]
pub struct PageJob {
    /// The incident it is about.
    pub incident_id: IncidentId,
    /// The recorded page.
    pub notification: Notification,
}

/// Why a channel could not deliver.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// A way to reach a person.
pub trait Notifier: Send + Sync + 'static {
    /// The channel name recorded on pages (`log`, `email`, ...).
    fn channel(&self) -> &str;
    /// Delivers one page to `user` about `incident`.
    fn send<'a>(
        &'a self,
        user: &'a User,
        incident: &'a Incident,
        page: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// Writes one structured `tracing` line per page (target `klaxon::page`).
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn channel(&self) -> &str {
        "log"
    }

    fn send<'a>(
        &'a self,
        user: &'a User,
        incident: &'a Incident,
        page: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        tracing::info!(
            target: "klaxon::page",
            incident = %incident.id,
            title = %incident.title,
            severity = ?incident.severity,
            level = incident.escalation_level,
            user = %user.id,
            name = %user.name,
            email = %user.email,
            phone = user.phone.as_deref().unwrap_or(""),
            reason = page.reason.as_str(),
            notification = %page.id,
            "page"
        );
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Delivers pages until the store stops producing them. Pages are taken in batches of
/// whatever is waiting (up to [`BATCH`]), sent concurrently, and their deliveries recorded
/// in one event per batch: under an alert storm one journal append covers many pages.
pub async fn run_pages(
    store: Store,
    notifier: Arc<dyn Notifier>,
    mut jobs: mpsc::UnboundedReceiver<PageJob>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while jobs.recv_many(&mut batch, BATCH).await > 0 {
        let sent = futures_util::stream::iter(batch.drain(..))
            .map(|job| {
                let store = &store;
                let notifier = notifier.as_ref();
                async move { deliver(store, notifier, &job).await.then_some(job) }
            })
            .buffer_unordered(CONCURRENT_PAGES)
            .filter_map(std::future::ready)
            .map(|job| (job.incident_id, job.notification.id))
            .collect::<Vec<_>>()
            .await;
        if let Err(error) = store.record_deliveries(&sent).await {
            tracing::error!(%error, pages = sent.len(), "could not record delivered pages");
        }
    }
}

/// Sends one page, retrying a failing channel; true once the channel confirmed it.
async fn deliver(store: &Store, notifier: &dyn Notifier, job: &PageJob) -> bool {
    let Some(incident) = store.incident(job.incident_id) else {
        return false;
    };
    let Some(user) = store.state().user_any(job.notification.user_id) else {
        tracing::warn!(incident = %job.incident_id, user = %job.notification.user_id, "page to an unknown user dropped");
        return false;
    };
    for attempt in 1..=ATTEMPTS {
        match notifier.send(&user, &incident, &job.notification).await {
            Ok(()) => {
                if let Some(metrics) = store.metrics() {
                    metrics.page_sent(notifier.channel());
                }
                return true;
            }
            Err(error) => {
                tracing::warn!(incident = %job.incident_id, attempt, %error, "page not delivered");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
    }
    if let Some(metrics) = store.metrics() {
        metrics.page_failed(notifier.channel());
    }
    false
}
