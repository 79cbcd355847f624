//! `analytics`: how the on-call went over a window (counts, MTTA/MTTR, per service,
//! responder, local day and person on call). Thin: the store validates and computes
//! ([`crate::store::analytics`]); this module only shapes the answer.

use async_graphql::{Context, ID, Object, Result, SimpleObject};

use super::error::api_error;
use super::scalars::DateTime;
use super::types::{ServiceObject, UserObject, store};
use crate::store::analytics::{Day, Load, Mean, ResponderTotals, Totals};

/// The analytics query, merged into `Query`.
#[derive(Default)]
pub struct AnalyticsQuery;

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn ms(mean: Mean) -> Option<f64> {
    mean.ms()
}

#[Object]
impl AnalyticsQuery {
    /// Figures over the incidents triggered in `[from, to)` (at most 400 days), of one
    /// service or all. Days are local to `timeZone` (IANA; UTC when absent). Times are
    /// whole milliseconds; a mean or percentile over nothing is null.
    async fn analytics(
        &self,
        ctx: &Context<'_>,
        from: DateTime,
        to: DateTime,
        service_id: Option<ID>,
        time_zone: Option<String>,
    ) -> Result<AnalyticsObject> {
        let analytics = store(ctx)
            .analytics(
                from.0,
                to.0,
                service_id.as_ref().map(|id| id.as_str()),
                time_zone.as_deref(),
            )
            .map_err(api_error)?;
        let state = store(ctx).state();
        let report = analytics.report;
        let by_service = report
            .by_service
            .iter()
            .filter_map(|(id, totals)| {
                let service = state.service_any(*id)?;
                Some(ServiceAnalytics::new(ServiceObject(service), totals))
            })
            .collect();
        let by_responder = report
            .by_responder
            .iter()
            .filter_map(|r| {
                let user = state.user_any(r.user_id)?;
                Some(ResponderAnalytics::new(UserObject(user), r))
            })
            .collect();
        let on_call_load = report
            .on_call_load
            .iter()
            .filter_map(|l| {
                let user = state.user_any(l.user_id)?;
                Some(OnCallLoad::new(UserObject(user), l))
            })
            .collect();
        let totals = report.totals;
        Ok(AnalyticsObject {
            from: DateTime(analytics.from),
            to: DateTime(analytics.to),
            time_zone: analytics.time_zone.name().to_owned(),
            incident_count: count(totals.incident_count),
            acknowledged_count: count(totals.acknowledged_count),
            resolved_count: count(totals.resolved_count),
            escalated_count: count(totals.escalated_count),
            mtta_ms: ms(totals.mtta),
            mttr_ms: ms(totals.mttr),
            mtta_p50_ms: report.mtta_p50_ms,
            mtta_p90_ms: report.mtta_p90_ms,
            mttr_p50_ms: report.mttr_p50_ms,
            mttr_p90_ms: report.mttr_p90_ms,
            by_service,
            by_responder,
            daily: report.daily.iter().map(DailyAnalytics::from).collect(),
            on_call_load,
        })
    }
}

/// How the on-call went over a window.
#[derive(SimpleObject)]
#[graphql(name = "Analytics")]
pub struct AnalyticsObject {
    /// Inclusive.
    from: DateTime,
    /// Exclusive.
    to: DateTime,
    /// The zone `daily` is counted in.
    time_zone: String,
    /// Incidents triggered in the window.
    incident_count: i32,
    /// Of those, ever acknowledged.
    acknowledged_count: i32,
    /// Of those, resolved.
    resolved_count: i32,
    /// Of those, escalated by timeout or by hand.
    escalated_count: i32,
    /// Mean time from trigger to first acknowledgement, over the acknowledged ones.
    mtta_ms: Option<f64>,
    /// Mean time from trigger to resolution, over the resolved ones.
    mttr_ms: Option<f64>,
    /// Median time to acknowledge (nearest rank).
    #[graphql(name = "mttaP50Ms")]
    mtta_p50_ms: Option<f64>,
    /// 90th percentile time to acknowledge (nearest rank).
    #[graphql(name = "mttaP90Ms")]
    mtta_p90_ms: Option<f64>,
    /// Median time to resolve (nearest rank).
    #[graphql(name = "mttrP50Ms")]
    mttr_p50_ms: Option<f64>,
    /// 90th percentile time to resolve (nearest rank).
    #[graphql(name = "mttrP90Ms")]
    mttr_p90_ms: Option<f64>,
    /// Per service with incidents, most incidents first.
    by_service: Vec<ServiceAnalytics>,
    /// Per paged user, most pages first.
    by_responder: Vec<ResponderAnalytics>,
    /// Every local day of the window, days without incidents included.
    daily: Vec<DailyAnalytics>,
    /// Per user on call or paged, most time on call first.
    on_call_load: Vec<OnCallLoad>,
}

/// One service's figures.
#[derive(SimpleObject)]
pub struct ServiceAnalytics {
    /// The service (deleted ones too).
    service: ServiceObject,
    /// Incidents triggered.
    incident_count: i32,
    /// Of those, ever acknowledged.
    acknowledged_count: i32,
    /// Of those, resolved.
    resolved_count: i32,
    /// Mean time to first acknowledgement.
    mtta_ms: Option<f64>,
    /// Mean time to resolution.
    mttr_ms: Option<f64>,
}

impl ServiceAnalytics {
    fn new(service: ServiceObject, t: &Totals) -> Self {
        Self {
            service,
            incident_count: count(t.incident_count),
            acknowledged_count: count(t.acknowledged_count),
            resolved_count: count(t.resolved_count),
            mtta_ms: ms(t.mtta),
            mttr_ms: ms(t.mttr),
        }
    }
}

/// One paged user's figures.
#[derive(SimpleObject)]
pub struct ResponderAnalytics {
    /// The person.
    user: UserObject,
    /// Incidents they were paged for.
    incident_count: i32,
    /// Pages they received.
    pages_received: i32,
    /// Incidents they acknowledged (the standing acknowledgement is theirs).
    acknowledged_count: i32,
    /// Mean time from trigger to their acknowledgement, over those.
    mtta_ms: Option<f64>,
    /// Mean time from trigger to resolution, over those that are resolved.
    mttr_ms: Option<f64>,
}

impl ResponderAnalytics {
    fn new(user: UserObject, r: &ResponderTotals) -> Self {
        Self {
            user,
            incident_count: count(r.incident_count),
            pages_received: count(r.pages_received),
            acknowledged_count: count(r.acknowledged_count),
            mtta_ms: ms(r.mtta),
            mttr_ms: ms(r.mttr),
        }
    }
}

/// One local day.
#[derive(SimpleObject)]
pub struct DailyAnalytics {
    /// `YYYY-MM-DD` in the requested zone.
    date: String,
    /// Incidents triggered that day.
    incident_count: i32,
    /// Of those, `LOW`.
    low_count: i32,
    /// Of those, `MEDIUM`.
    medium_count: i32,
    /// Of those, `HIGH`.
    high_count: i32,
    /// That day's incidents' mean time to first acknowledgement.
    mtta_ms: Option<f64>,
    /// That day's incidents' mean time to resolution.
    mttr_ms: Option<f64>,
}

impl From<&Day> for DailyAnalytics {
    fn from(d: &Day) -> Self {
        Self {
            date: d.date.format("%Y-%m-%d").to_string(),
            incident_count: count(d.incident_count),
            low_count: count(d.low_count),
            medium_count: count(d.medium_count),
            high_count: count(d.high_count),
            mtta_ms: ms(d.mtta),
            mttr_ms: ms(d.mttr),
        }
    }
}

/// One person's on-call load.
#[derive(SimpleObject)]
pub struct OnCallLoad {
    /// The person.
    user: UserObject,
    /// Time on call in the window, from the shifts served, summed over schedules.
    on_call_ms: f64,
    /// Pages received for the window's incidents.
    pages: i32,
    /// Of those, decided between 22:00 and 07:00 in the paging schedule's zone.
    night_pages: i32,
}

impl OnCallLoad {
    fn new(user: UserObject, l: &Load) -> Self {
        Self {
            user,
            on_call_ms: l.on_call_ms as f64,
            pages: count(l.pages),
            night_pages: count(l.night_pages),
        }
    }
}
