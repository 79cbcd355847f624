//! The GraphQL API: schema roots, object types over the domain, and the mapping of errors
//! to the contract's codes. Resolvers translate and delegate to the [`Store`]; they never
//! hold a business rule.

pub mod error;
pub mod mutation;
pub mod query;
pub mod scalars;
pub mod subscription;
pub mod types;

use async_graphql::Schema;

use crate::store::Store;
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::{SubscriptionBudget, SubscriptionRoot};

/// Klaxon's executable schema.
pub type KlaxonSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

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

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
}

/// The executable schema over `store`.
pub fn build_schema(store: Store, limits: QueryLimits) -> KlaxonSchema {
    builder()
        .data(store)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_recursive_depth(64)
        .limit_directives(16)
        .extension(error::ContractErrors {
            max_aliases: limits.aliases,
        })
        .finish()
}

/// The schema in SDL, as `klaxon schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder().finish().sdl()
}
