//! The GraphQL API: schema roots, object types over the domain, and the mapping of errors
//! to the contract's codes. Resolvers translate and delegate to the [`Store`]; they never
//! hold a business rule.

pub mod access;
pub mod analytics;
pub mod contacts;
pub mod error;
pub mod heartbeats;
pub mod integrations;
pub mod mutation;
pub mod parse_cache;
pub mod query;
pub mod scalars;
pub mod subscription;
pub mod types;
pub mod webhooks;

use async_graphql::{MergedObject, Schema};

use crate::auth::Gate;
pub use access::{AccessMutation, AccessQuery};
pub use analytics::AnalyticsQuery;
pub use contacts::ContactMutation;
pub use heartbeats::{HeartbeatMutation, HeartbeatQuery};
pub use integrations::{IntegrationMutation, IntegrationQuery};
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::{SubscriptionBudget, SubscriptionRoot};
pub use types::PublicUrl;
pub use webhooks::{WebhookMutation, WebhookQuery};

/// The query root, named `Query` as the contract says.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct Query(
    QueryRoot,
    AccessQuery,
    AnalyticsQuery,
    IntegrationQuery,
    HeartbeatQuery,
    WebhookQuery,
);

/// The mutation root, named `Mutation`.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct Mutation(
    MutationRoot,
    AccessMutation,
    IntegrationMutation,
    HeartbeatMutation,
    ContactMutation,
    WebhookMutation,
);

/// Klaxon's executable schema.
pub type KlaxonSchema = Schema<Query, Mutation, SubscriptionRoot>;

/// Limits that protect the server from expensive documents.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Deepest selection nesting.
    pub depth: usize,
    /// Highest complexity (fields, with list fields weighted by their page size).
    pub complexity: usize,
    /// Most aliased fields in one document.
    pub aliases: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            // Deep enough for GraphiQL's introspection query (13 levels).
            depth: 16,
            complexity: 100_000,
            aliases: 64,
        }
    }
}

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, SubscriptionRoot> {
    Schema::build(Query::default(), Mutation::default(), SubscriptionRoot)
}

/// The executable schema behind `gate` (and its store); links point at `public_url`.
pub fn build_schema(gate: Gate, public_url: PublicUrl, limits: QueryLimits) -> KlaxonSchema {
    builder()
        .data(gate.store().clone())
        .data(gate)
        .data(public_url)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_recursive_depth(64)
        .limit_directives(16)
        .extension(error::ContractErrors {
            max_aliases: limits.aliases,
            parsed: Default::default(),
        })
        .finish()
}

/// The schema in SDL, as `klaxon schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder().finish().sdl()
}
