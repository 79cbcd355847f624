//! Read-only queries.

use async_graphql::{Context, ID, Object, Result};

use super::error::bad_input;
use super::types::{
    IncidentConnection, IncidentObject, IncidentState, PageInfo, ScheduleObject, ServiceObject,
    Severity, UserObject, cursor_of, known_service, store,
};
use crate::domain::{IncidentId, ScheduleId, ServiceId, UserId};
use crate::store::IncidentFilter;

/// Default page size of `incidents`.
pub const DEFAULT_PAGE: i32 = 50;
/// Largest page size of `incidents`.
pub const MAX_PAGE: i32 = 500;
/// Longest accepted search text.
const MAX_SEARCH_CHARS: usize = 200;

/// Query root.
#[derive(Default)]
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Every user, by name.
    async fn users(&self, ctx: &Context<'_>) -> Vec<UserObject> {
        store(ctx).users().into_iter().map(UserObject).collect()
    }

    /// A user; null when the id names nobody.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Option<UserObject> {
        let id: UserId = id.parse().ok()?;
        store(ctx).state().user(id).map(UserObject)
    }

    /// Every service, by name.
    async fn services(&self, ctx: &Context<'_>) -> Vec<ServiceObject> {
        store(ctx)
            .services()
            .into_iter()
            .map(ServiceObject)
            .collect()
    }

    /// A service; null when the id names none.
    async fn service(&self, ctx: &Context<'_>, id: ID) -> Option<ServiceObject> {
        let id: ServiceId = id.parse().ok()?;
        store(ctx).state().service(id).map(ServiceObject)
    }

    /// Every schedule, by name.
    async fn schedules(&self, ctx: &Context<'_>) -> Vec<ScheduleObject> {
        store(ctx)
            .schedules()
            .into_iter()
            .map(ScheduleObject)
            .collect()
    }

    /// A schedule; null when the id names none.
    async fn schedule(&self, ctx: &Context<'_>, id: ID) -> Option<ScheduleObject> {
        let id: ScheduleId = id.parse().ok()?;
        store(ctx).state().schedule(id).map(ScheduleObject)
    }

    /// An incident; null when the id names none.
    async fn incident(&self, ctx: &Context<'_>, id: ID) -> Result<Option<IncidentObject>> {
        let Ok(id) = id.parse::<IncidentId>() else {
            return Ok(None);
        };
        let found = store(ctx)
            .find_incident(id)
            .await
            .map_err(crate::graphql::error::api_error)?;
        Ok(found.map(IncidentObject))
    }

    /// Newest first. Relay-style connection; `first` defaults to 50, at most 500.
    /// `search` matches the title or description, case-insensitively.
    #[graphql(
        complexity = "first.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize * child_complexity"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        state: Option<IncidentState>,
        service_id: Option<ID>,
        severity: Option<Severity>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<IncidentConnection> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(bad_input(
                "first",
                format!("must be between 0 and {MAX_PAGE} (got {first})"),
            ));
        }
        let after = after
            .map(|cursor| {
                cursor.trim().parse::<u64>().map_err(|_| {
                    bad_input(
                        "after",
                        "is not a cursor returned by this API (use pageInfo.endCursor)",
                    )
                })
            })
            .transpose()?;
        let service_id = service_id
            .map(|id| known_service(store(ctx), &id))
            .transpose()?;
        let search = search
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(bad_input(
                "search",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        let filter = IncidentFilter {
            state: state.map(Into::into),
            service_id,
            severity: severity.map(Into::into),
            search,
        };
        let page = store(ctx)
            .incidents(&filter, first as usize, after)
            .await
            .map_err(crate::graphql::error::api_error)?;
        Ok(IncidentConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                has_previous_page: after.is_some(),
                start_cursor: page.nodes.first().map(|i| cursor_of(i)),
                end_cursor: page.nodes.last().map(|i| cursor_of(i)),
            },
            total_count: i32::try_from(page.total_count).unwrap_or(i32::MAX),
            incidents: page.nodes,
        })
    }
}
