//! Where accepted events go before anyone is told about them.
//!
//! The store appends each event here and waits for the answer before it applies the event
//! to memory, answers the client, or publishes it. [`MemoryJournal`] (`--in-memory`)
//! accepts everything at once and keeps nothing.

use futures_util::future::BoxFuture;

use crate::domain::Event;

/// The journal could not make an event durable; the change was not applied.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JournalError(pub String);

/// A durable, ordered log of events.
pub trait Journal: Send + Sync + 'static {
    /// Appends `event`; resolves once it is durable (or refused).
    fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), JournalError>>;

    /// Appends an `IncidentsRetired` record and, in the same transaction, the retired
    /// incidents' cold rows. Journals without a cold index refuse (nothing is retired).
    fn retire<'a>(
        &'a self,
        event: &'a Event,
        rows: Vec<super::cold::ColdRow>,
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        let _ = (event, rows);
        Box::pin(std::future::ready(Err(JournalError(
            "this journal keeps no cold history".into(),
        ))))
    }

    /// Where retired incidents are read back, if this journal keeps them.
    fn cold(&self) -> Option<std::sync::Arc<dyn super::cold::ColdIndex>> {
        None
    }

    /// The PostgreSQL journal, when this is one: several processes share it, and the
    /// store then folds through its log instead of applying its own events directly.
    fn postgres(&self) -> Option<&super::postgres::PgJournal> {
        None
    }

    /// Times each group commit (its fsync) into `histogram` from now on; journals without
    /// commits ignore it.
    fn observe_commits(&self, histogram: prometheus_client::metrics::histogram::Histogram) {
        let _ = histogram;
    }
}

/// A journal that keeps nothing: for `--in-memory` and tests.
#[derive(Debug, Default)]
pub struct MemoryJournal;

impl Journal for MemoryJournal {
    fn append<'a>(&'a self, _event: &'a Event) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
