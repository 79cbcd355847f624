//! The single mapping from Klaxon's errors to the contract's `extensions.code`, and the
//! extension that gives the GraphQL layer's own errors (parse, validation, variable
//! coercion) the code `BAD_USER_INPUT`.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, Response, ServerError, ServerResult, Variables};
use futures_util::StreamExt;

use super::parse_cache::ParseCache;
use crate::domain::DomainError;
use crate::store::CommandError;

/// Contract error codes.
pub mod code {
    /// Malformed or invalid input.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// Unknown id.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// The move is not allowed from the current state.
    pub const INVALID_STATE: &str = "INVALID_STATE";
    /// No valid credential.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The credential's role does not allow it.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// Too many requests or subscriptions.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// A server-side failure.
    pub const INTERNAL: &str = "INTERNAL";
}

/// A GraphQL error with a contract code.
pub fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// `BAD_USER_INPUT` for one input field.
pub fn bad_input(field: &str, message: impl std::fmt::Display) -> async_graphql::Error {
    async_graphql::Error::new(format!("{field}: {message}")).extend_with(|_, e| {
        e.set("code", code::BAD_USER_INPUT);
        e.set("field", field);
    })
}

/// Maps a command failure to its contract code, once.
pub fn api_error(error: impl Into<CommandError>) -> async_graphql::Error {
    match error.into() {
        CommandError::Domain(DomainError::Invalid { field, message }) => bad_input(&field, message),
        CommandError::Domain(e @ DomainError::NotFound { .. }) => {
            let message = e.to_string();
            let DomainError::NotFound { field, .. } = e else {
                unreachable!("matched above")
            };
            coded(code::NOT_FOUND, message).extend_with(|_, ext| {
                if let Some(field) = &field {
                    ext.set("field", field.as_str());
                }
            })
        }
        CommandError::Domain(DomainError::InvalidState(message)) => {
            coded(code::INVALID_STATE, message)
        }
        CommandError::Domain(DomainError::Forbidden(message)) => coded(code::FORBIDDEN, message),
        CommandError::Journal(e) => {
            tracing::error!(error = %e, "journal write failed");
            coded(code::INTERNAL, format!("the change was not recorded: {e}"))
        }
        conflict @ CommandError::Conflict(_) => coded(code::INTERNAL, conflict.to_string()),
    }
}

/// Gives every error without a code (the GraphQL layer's own) `BAD_USER_INPUT`, caps
/// the number of aliases in a document, and keeps the documents that passed (parsing is
/// the largest cost of a small mutation).
pub struct ContractErrors {
    /// Most aliased fields a document may contain.
    pub max_aliases: usize,
    /// Documents already parsed and checked, shared by every request.
    pub parsed: Arc<ParseCache>,
}

impl ExtensionFactory for ContractErrors {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ContractErrorsExtension {
            max_aliases: self.max_aliases,
            parsed: self.parsed.clone(),
        })
    }
}

struct ContractErrorsExtension {
    max_aliases: usize,
    parsed: Arc<ParseCache>,
}

fn ensure_code(response: &mut Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code::BAD_USER_INPUT);
        }
    }
}

fn count_aliases(doc: &ExecutableDocument) -> usize {
    fn in_set(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| in_set(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| in_set(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

#[async_graphql::async_trait::async_trait]
impl Extension for ContractErrorsExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        ensure_code(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                ensure_code(&mut response);
                response
            })
            .boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(doc) = self.parsed.get(query) {
            return Ok(doc);
        }
        let doc = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&doc);
        if aliases > self.max_aliases {
            let mut error = ServerError::new(
                format!(
                    "the document uses {aliases} aliases; at most {} are allowed",
                    self.max_aliases
                ),
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code::BAD_USER_INPUT);
            return Err(error);
        }
        self.parsed.insert(query, &doc);
        Ok(doc)
    }
}
