//! What Klaxon tells Prometheus: one [`Metrics`] registry, built once at start-up, with
//! typed families that the store, the engine, the notifier and the HTTP edge record into.
//! Recording is a few atomic adds; nothing here reads the state except at scrape time
//! ([`Scrape`]), and nothing here decides anything.
//!
//! Histogram buckets are chosen for what each one measures (see the `*_BUCKETS`
//! constants); they are part of the series' meaning, so change them deliberately.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::domain::incident::EscalationReason;
use crate::domain::{Incident, IncidentChange, IncidentChangeKind, Severity};

/// HTTP request latency, seconds: in-memory GraphQL answers take well under a
/// millisecond to a few, a durable mutation waits for a group commit's fsync (milliseconds
/// to tens), and anything past a second is an incident of its own.
pub const HTTP_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Journal append and commit (fsync) latency, seconds: an in-memory journal answers in
/// microseconds, an fsync on an SSD in 0.1 to 10 ms, a struggling disk in hundreds.
pub const JOURNAL_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// How late an escalation timer fired after its deadline, seconds: normally a few
/// milliseconds (scheduler wake-up, a busy runtime); after a restart, overdue deadlines
/// fire late by the downtime, so the top buckets reach minutes.
pub const TIMER_LATENESS_BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0,
];

/// `service` (its name when recorded) and `severity`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IncidentLabels {
    /// The service's name.
    pub service: String,
    /// `low`, `medium` or `high`.
    pub severity: &'static str,
}

/// An incident state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `triggered`, `acknowledged` or `resolved`.
    pub state: &'static str,
}

/// A notifier channel.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    /// `log`, ...
    pub channel: String,
}

/// An ingestion integration and what became of the event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IngestionLabels {
    /// The integration's kind (`generic`, `alertmanager`, ...).
    pub integration_kind: String,
    /// `triggered`, `deduplicated`, `acknowledged`, `resolved`, `ignored`, `rejected` or
    /// `rate_limited`.
    pub result: &'static str,
}

/// An HTTP request's route template, method and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route template (`/graphql`, `/api/incidents/{id}`), never a raw path;
    /// `unmatched` for the UI fallback and unknown paths.
    pub route: String,
    /// The method (`other` for non-standard ones).
    pub method: &'static str,
    /// The status code.
    pub status: u16,
}

/// An HTTP request's route template and method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// See [`HttpLabels::route`].
    pub route: String,
    /// See [`HttpLabels::method`].
    pub method: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

/// The values read from the state at scrape time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scrape {
    /// Incidents per state: triggered, acknowledged, resolved.
    pub incidents: [u64; 3],
    /// Open WebSocket connections.
    pub websocket_connections: usize,
    /// Live subscription receivers.
    pub subscriptions: usize,
    /// Subscription executions: one per group of subscribers sharing one.
    pub subscription_executions: usize,
    /// Live users.
    pub users: usize,
    /// Live schedules.
    pub schedules: usize,
    /// Login sessions held.
    pub login_sessions: usize,
    /// Shared journal: events this process knows of and has not applied yet (0 otherwise).
    pub journal_lag: u64,
    /// Whether this process runs the escalation engine (always, without a shared journal).
    pub engine_holder: bool,
}

/// Every series Klaxon exports. Cheap to share (`Arc`); every family is internally
/// synchronized, so recording needs only `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    incidents_opened: Family<IncidentLabels, Counter>,
    incidents_acknowledged: Family<IncidentLabels, Counter>,
    incidents_resolved: Family<IncidentLabels, Counter>,
    incidents_escalated: Family<IncidentLabels, Counter>,
    incidents: Family<StateLabels, Gauge>,
    open_incidents: Family<StateLabels, Gauge>,
    pages_sent: Family<ChannelLabels, Counter>,
    pages_failed: Family<ChannelLabels, Counter>,
    ingestion_events: Family<IngestionLabels, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    http_request_duration: HistogramFamily<RouteLabels>,
    websocket_connections: Gauge,
    subscriptions: Gauge,
    subscription_executions: Gauge,
    users: Gauge,
    schedules: Gauge,
    login_sessions: Gauge,
    journal_append: Histogram,
    journal_commit: Histogram,
    timer_lateness: Histogram,
    timers_pending: Gauge,
    journal_lag: Gauge,
    engine_holder: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn gauge_value(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    /// A registry with every family registered (prefix `klaxon_`).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("klaxon");
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<IncidentLabels, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let incidents_opened = counter(
            &mut registry,
            "incidents_opened",
            "Incidents opened, by service and severity",
        );
        let incidents_acknowledged = counter(
            &mut registry,
            "incidents_acknowledged",
            "Acknowledgements of incidents, by service and severity",
        );
        let incidents_resolved = counter(
            &mut registry,
            "incidents_resolved",
            "Incidents resolved, by service and severity",
        );
        let incidents_escalated = counter(
            &mut registry,
            "incidents_escalated",
            "Escalations by timeout or by hand, by service and severity",
        );
        let incidents = Family::<StateLabels, Gauge>::default();
        registry.register(
            "incidents",
            "Incidents held, by state (resolved included)",
            incidents.clone(),
        );
        let open_incidents = Family::<StateLabels, Gauge>::default();
        registry.register(
            "open_incidents",
            "Open incidents, by state",
            open_incidents.clone(),
        );
        let pages_sent = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "pages_sent",
            "Pages a channel confirmed, by channel",
            pages_sent.clone(),
        );
        let pages_failed = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "pages_failed",
            "Pages left undelivered after every retry, by channel",
            pages_failed.clone(),
        );
        let ingestion_events = Family::<IngestionLabels, Counter>::default();
        registry.register(
            "ingestion_events",
            "Events received from monitoring integrations, by integration kind and result",
            ingestion_events.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            http_requests.clone(),
        );
        let http_request_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(http_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by route template and method",
            Unit::Seconds,
            http_request_duration.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let websocket_connections = gauge(
            &mut registry,
            "websocket_connections",
            "Open WebSocket connections",
        );
        let subscriptions = gauge(
            &mut registry,
            "subscriptions",
            "Live subscriptions (incident and on-call feeds)",
        );
        let subscription_executions = gauge(
            &mut registry,
            "subscription_executions",
            "Subscription executions: subscribers with the same document, variables and role share one",
        );
        let users = gauge(&mut registry, "users", "Users");
        let schedules = gauge(&mut registry, "schedules", "Schedules");
        let login_sessions = gauge(&mut registry, "login_sessions", "Login sessions held");
        let histogram = |registry: &mut Registry, name: &str, help: &str, buckets: &[f64]| {
            let histogram = Histogram::new(buckets.iter().copied());
            registry.register_with_unit(name, help, Unit::Seconds, histogram.clone());
            histogram
        };
        let journal_append = histogram(
            &mut registry,
            "journal_append_duration",
            "Time for one event to become durable (journal append, including its group commit)",
            &JOURNAL_BUCKETS,
        );
        let journal_commit = histogram(
            &mut registry,
            "journal_commit_duration",
            "Time for one group commit of the durable journal (its fsync)",
            &JOURNAL_BUCKETS,
        );
        let timer_lateness = histogram(
            &mut registry,
            "escalation_timer_lateness",
            "How long after its deadline a timer fired",
            &TIMER_LATENESS_BUCKETS,
        );
        let timers_pending = gauge(
            &mut registry,
            "escalation_timers_pending",
            "Timers (escalations, handoffs) waiting in the engine; an incident deadline that was superseded counts until it passes",
        );
        let journal_lag = gauge(
            &mut registry,
            "journal_lag_events",
            "Events in the shared (PostgreSQL) journal this process has not applied yet",
        );
        let engine_holder = gauge(
            &mut registry,
            "engine_holder",
            "1 when this process runs escalation timers and sends pages, else 0",
        );
        Self {
            registry,
            journal_lag,
            engine_holder,
            incidents_opened,
            incidents_acknowledged,
            incidents_resolved,
            incidents_escalated,
            incidents,
            open_incidents,
            pages_sent,
            pages_failed,
            ingestion_events,
            http_requests,
            http_request_duration,
            websocket_connections,
            subscriptions,
            subscription_executions,
            users,
            schedules,
            login_sessions,
            journal_append,
            journal_commit,
            timer_lateness,
            timers_pending,
        }
    }

    /// Counts one durable incident change (called once, where changes are published).
    /// `service` is the incident's service's name.
    pub fn record_incident(&self, change: &IncidentChange, incident: &Incident, service: &str) {
        let family = match &change.kind {
            IncidentChangeKind::Triggered(_) => &self.incidents_opened,
            IncidentChangeKind::Acknowledged => &self.incidents_acknowledged,
            IncidentChangeKind::Resolved => &self.incidents_resolved,
            IncidentChangeKind::AlertsReceived(update) if update.resolve => {
                &self.incidents_resolved
            }
            IncidentChangeKind::Escalated { step, .. }
                if matches!(
                    step.reason,
                    EscalationReason::Timeout | EscalationReason::Manual
                ) =>
            {
                &self.incidents_escalated
            }
            _ => return,
        };
        family
            .get_or_create(&IncidentLabels {
                service: service.to_owned(),
                severity: severity(incident.severity),
            })
            .inc();
    }

    /// Starts the page series of `channel` at zero, so a failure rate has a denominator
    /// and a numerator before the first page.
    pub fn register_channel(&self, channel: &str) {
        let labels = ChannelLabels {
            channel: channel.to_owned(),
        };
        let _ = self.pages_sent.get_or_create(&labels);
        let _ = self.pages_failed.get_or_create(&labels);
    }

    /// A page the channel confirmed.
    pub fn page_sent(&self, channel: &str) {
        self.pages_sent
            .get_or_create(&ChannelLabels {
                channel: channel.to_owned(),
            })
            .inc();
    }

    /// A page left undelivered after every attempt.
    pub fn page_failed(&self, channel: &str) {
        self.pages_failed
            .get_or_create(&ChannelLabels {
                channel: channel.to_owned(),
            })
            .inc();
    }

    /// One event from a monitoring integration (`src/http/ingest.rs`).
    pub fn ingestion_event(&self, integration_kind: &str, result: &'static str) {
        self.ingestion_events
            .get_or_create(&IngestionLabels {
                integration_kind: integration_kind.to_owned(),
                result,
            })
            .inc();
    }

    /// One answered HTTP request.
    pub fn http_request(
        &self,
        route: &str,
        method: &axum::http::Method,
        status: u16,
        took: Duration,
    ) {
        let method = method_label(method);
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method,
                status,
            })
            .inc();
        self.http_request_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method,
            })
            .observe(took.as_secs_f64());
    }

    /// One journal append, from the call to durability.
    pub fn journal_append(&self, took: Duration) {
        self.journal_append.observe(took.as_secs_f64());
    }

    /// The histogram of group commits, for the journal's writer thread.
    pub fn journal_commit_histogram(&self) -> Histogram {
        self.journal_commit.clone()
    }

    /// A timer fired `late` after its deadline.
    pub fn timer_fired(&self, late: chrono::TimeDelta) {
        let seconds = late.num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
        self.timer_lateness.observe(seconds);
    }

    /// How many timers the engine holds.
    pub fn set_timers_pending(&self, pending: usize) {
        self.timers_pending.set(gauge_value(pending));
    }

    /// The OpenMetrics text exposition, with the scrape-time gauges set from `scrape`.
    pub fn encode_openmetrics(&self, scrape: &Scrape) -> Result<String, std::fmt::Error> {
        for (i, state) in ["triggered", "acknowledged", "resolved"].iter().enumerate() {
            self.incidents
                .get_or_create(&StateLabels { state })
                .set(gauge_value(scrape.incidents[i]));
            if i < 2 {
                self.open_incidents
                    .get_or_create(&StateLabels { state })
                    .set(gauge_value(scrape.incidents[i]));
            }
        }
        self.websocket_connections
            .set(gauge_value(scrape.websocket_connections));
        self.subscriptions.set(gauge_value(scrape.subscriptions));
        self.subscription_executions
            .set(gauge_value(scrape.subscription_executions));
        self.users.set(gauge_value(scrape.users));
        self.schedules.set(gauge_value(scrape.schedules));
        self.login_sessions.set(gauge_value(scrape.login_sessions));
        self.journal_lag.set(gauge_value(scrape.journal_lag));
        self.engine_holder.set(i64::from(scrape.engine_holder));
        let mut body = String::with_capacity(16 * 1024);
        encode(&mut body, &self.registry)?;
        Ok(body)
    }

    /// Prometheus' classic text format (0.0.4), which `promtool` and every scraper read.
    pub fn encode(&self, scrape: &Scrape) -> Result<String, std::fmt::Error> {
        self.encode_openmetrics(scrape)
            .map(|body| openmetrics_to_text(&body))
    }
}

/// OpenMetrics names a counter family without `_total` and ends with `# EOF`; the classic
/// text format names the family as its samples are named and has neither `# UNIT` nor
/// `# EOF`. Everything else (labels, histograms, escaping) is the same.
pub fn openmetrics_to_text(body: &str) -> String {
    let counters: std::collections::HashSet<&str> = body
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(body.len() + counters.len() * 12);
    for line in body.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find(|prefix| line.starts_with(prefix));
        match meta {
            Some(prefix) => {
                let rest = &line[prefix.len()..];
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Axum middleware: counts and times every request by its matched route template.
pub async fn track_http<F, Fut>(metrics: &Metrics, request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = inner(request).await;
    metrics.http_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_their_total_suffix_in_the_classic_format() {
        let metrics = Metrics::new();
        metrics.page_sent("log");
        let text = metrics.encode(&Scrape::default()).unwrap();
        assert!(
            text.contains("# TYPE klaxon_pages_sent_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("klaxon_pages_sent_total{channel=\"log\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
        assert!(!text.contains("# UNIT"));
        assert!(text.contains("# TYPE klaxon_journal_append_duration_seconds histogram\n"));
    }

    #[test]
    fn ingestion_events_are_counted_by_kind_and_result() {
        let metrics = Metrics::new();
        metrics.ingestion_event("alertmanager", "triggered");
        let text = metrics.encode(&Scrape::default()).unwrap();
        assert!(
            text.contains(
                "klaxon_ingestion_events_total{integration_kind=\"alertmanager\",result=\"triggered\"} 1\n"
            ),
            "{text}"
        );
    }
}
