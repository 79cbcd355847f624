//! Parsed documents, kept by their text: clients send the same few documents over and over
//! (a monitor's `triggerIncident`, the board's queries), and parsing one costs more than
//! everything else a small mutation does (a third of a `trigger`'s instructions, measured
//! with callgrind). Bounded: documents longer than [`MAX_CACHED_BYTES`] are parsed every
//! time, and a full cache is emptied and refilled by what is sent next (many distinct
//! documents then cost what they cost without the cache, nothing more).

use async_graphql::parser::types::ExecutableDocument;
use dashmap::DashMap;

/// Longest document text kept.
pub const MAX_CACHED_BYTES: usize = 16 * 1024;

/// Most documents kept.
pub const MAX_CACHED_DOCUMENTS: usize = 512;

/// Documents that parsed and passed the document-wide checks, by their exact text.
#[derive(Default)]
pub struct ParseCache {
    documents: DashMap<Box<str>, ExecutableDocument>,
}

impl ParseCache {
    /// The document parsed from exactly `query`, if it is kept.
    pub fn get(&self, query: &str) -> Option<ExecutableDocument> {
        self.documents.get(query).map(|doc| doc.clone())
    }

    /// Keeps `doc`, parsed from `query` (unless the text is too long to keep).
    pub fn insert(&self, query: &str, doc: &ExecutableDocument) {
        if query.len() > MAX_CACHED_BYTES {
            return;
        }
        if self.documents.len() >= MAX_CACHED_DOCUMENTS {
            self.documents.clear();
        }
        self.documents.insert(query.into(), doc.clone());
    }

    /// How many documents are kept.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("a valid document")
    }

    #[test]
    fn a_kept_document_comes_back_for_the_same_text_only() {
        let cache = ParseCache::default();
        let text = "{ users { id } }";
        cache.insert(text, &parse(text));
        let back = cache.get(text).expect("kept");
        assert_eq!(back.operations.iter().count(), 1);
        assert!(cache.get("{ users { id name } }").is_none());
        assert!(cache.get("{ users { id } } ").is_none());
    }

    #[test]
    fn long_documents_are_not_kept_and_a_full_cache_starts_over() {
        let cache = ParseCache::default();
        let long = format!("{{ users {{ id }} }}{}", " ".repeat(MAX_CACHED_BYTES));
        cache.insert(&long, &parse(&long));
        assert!(cache.is_empty());
        for i in 0..MAX_CACHED_DOCUMENTS {
            let text = format!("query Q{i} {{ users {{ id }} }}");
            cache.insert(&text, &parse(&text));
        }
        assert_eq!(cache.len(), MAX_CACHED_DOCUMENTS);
        let next = "query Next { users { id } }";
        cache.insert(next, &parse(next));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(next).is_some());
    }
}
