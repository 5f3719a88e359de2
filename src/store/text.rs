//! Full-text search: one tantivy index per partition, kept beside its sled state.
//!
//! Each live row is one document: its key, record offset and `_ts`, and the values of its
//! free-text columns (string values with whitespace — descriptions, notes, names, merchants —
//! unless the config says otherwise), both in one multi-valued `text` field (for unqualified
//! queries and snippets) and in a JSON field `cols` (for `description:"express shipping"`).
//! An update replaces the key's document, a delete removes it. A commit stores the partition's
//! applied offset in its payload; on start, an index whose offset differs from sled's is
//! rebuilt from the partition's current rows, so it never misses or duplicates a row.

use std::ops::Bound;
use std::path::Path;

use serde_json::{Map, Value as Json};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, JsonObjectOptions, STORED, STRING, Schema, TEXT, TextFieldIndexing,
    TextOptions, Value as _,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::ident::Offset;

/// Errors from a text index.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// tantivy failed (I/O, a damaged index).
    #[error("text index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The index directory could not be created.
    #[error("text index directory: {0}")]
    Io(#[from] std::io::Error),
    /// The query does not parse.
    #[error("invalid search query: {0}")]
    Query(String),
}

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    offset: Field,
    ts: Field,
    text: Field,
    cols: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let key = b.add_text_field("key", STRING | STORED);
    let offset = b.add_i64_field("offset", STORED);
    let ts = b.add_i64_field("ts", INDEXED | FAST | STORED);
    // Not stored: snippets are made from the live row's text, which the caller has.
    let text = b.add_text_field("text", TEXT);
    let cols = b.add_json_field(
        "cols",
        JsonObjectOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let _ = TextOptions::default();
    (
        b.build(),
        Fields {
            key,
            offset,
            ts,
            text,
            cols,
        },
    )
}

/// Whether a string value is free text worth indexing.
pub fn is_free_text(s: &str) -> bool {
    s.trim().contains(char::is_whitespace)
}

/// One search hit.
#[derive(Clone, Debug)]
pub struct Hit {
    pub key: Vec<u8>,
    pub offset: Offset,
    pub score: f32,
    /// The best fragment with matches wrapped in `<b>…</b>`.
    pub snippet: String,
}

/// One partition's index.
pub struct TextIndex {
    index: Index,
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    pending: bool,
}

impl TextIndex {
    /// Opens (or creates) the index in `dir` with a writer of `heap_bytes` and one thread.
    pub fn open(dir: &Path, heap_bytes: usize) -> Result<Self, TextError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let index = match Index::open_in_dir(dir) {
            Ok(i) if i.schema() == schema => i,
            // Absent, unreadable, or of an older layout.
            _ => {
                // Start empty: it is rebuilt from the rows (no committed offset).
                for e in std::fs::read_dir(dir)? {
                    let p = e?.path();
                    if p.is_dir() {
                        std::fs::remove_dir_all(&p)?;
                    } else {
                        std::fs::remove_file(&p)?;
                    }
                }
                Index::create_in_dir(dir, schema)?
            }
        };
        let writer = index.writer_with_num_threads(1, heap_bytes.max(15_000_000))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            writer,
            reader,
            fields,
            pending: false,
        })
    }

    /// The applied offset the last commit covered.
    pub fn committed_offset(&self) -> Option<Offset> {
        self.index
            .load_metas()
            .ok()?
            .payload
            .and_then(|p| p.parse().ok())
            .map(Offset)
    }

    fn key_term(&self, key: &[u8]) -> Term {
        Term::from_field_text(self.fields.key, &String::from_utf8_lossy(key))
    }

    /// Replaces the key's document with one holding `texts` (column, value). `known`: the key
    /// may have a document (false only when the caller knows it has none: no delete needed).
    pub fn upsert(
        &mut self,
        key: &[u8],
        offset: Offset,
        ts_ms: i64,
        texts: &[(&str, &str)],
        known: bool,
    ) {
        if known {
            self.writer.delete_term(self.key_term(key));
        }
        self.pending = true;
        // Every live row has exactly one document, text or not, so counts can be checked.
        let mut doc = TantivyDocument::default();
        doc.add_text(self.fields.key, String::from_utf8_lossy(key));
        doc.add_i64(self.fields.offset, offset.get());
        doc.add_i64(self.fields.ts, ts_ms);
        let mut cols = Map::new();
        for (c, v) in texts {
            doc.add_text(self.fields.text, v);
            cols.insert(c.to_string(), Json::String(v.to_string()));
        }
        doc.add_object(
            self.fields.cols,
            cols.into_iter()
                .map(|(k, v)| (k, tantivy::schema::OwnedValue::from(v)))
                .collect(),
        );
        // The writer only fails when its thread died; the next commit reports it.
        let _ = self.writer.add_document(doc);
    }

    pub fn delete(&mut self, key: &[u8]) {
        self.writer.delete_term(self.key_term(key));
        self.pending = true;
    }

    /// Drops every document (before a rebuild).
    pub fn clear(&mut self) -> Result<(), TextError> {
        self.writer.delete_all_documents()?;
        self.pending = true;
        Ok(())
    }

    pub fn has_pending(&self) -> bool {
        self.pending
    }

    /// Makes pending changes durable and visible, recording `applied` with them.
    pub fn commit(&mut self, applied: Option<Offset>) -> Result<(), TextError> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&applied.map(|a| a.to_string()).unwrap_or_default());
        prepared.commit()?;
        self.reader.reload()?;
        self.pending = false;
        Ok(())
    }

    /// A handle for searching, usable from any thread.
    pub fn searcher(&self) -> TextSearcher {
        TextSearcher {
            index: self.index.clone(),
            reader: self.reader.clone(),
            fields: self.fields,
        }
    }
}

/// The read side of a partition's index.
#[derive(Clone)]
pub struct TextSearcher {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl TextSearcher {
    /// Documents in the committed index.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Runs a query (tantivy syntax: terms, "phrases", AND/OR/NOT, +/-, `column:term`; terms
    /// are required by default), optionally within `[from_ms, to_ms)` of `_ts`. `text_of`
    /// gives a hit's live text (for its snippet); a key it does not know (the row was deleted
    /// since the last commit) is no hit.
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &self,
        query: &str,
        columns: &[String],
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: usize,
        fuzzy: bool,
        text_of: &dyn Fn(&[u8]) -> Option<String>,
    ) -> Result<Vec<Hit>, TextError> {
        let q = self.parse(query, columns, fuzzy)?;
        let q: Box<dyn Query> = if from_ms.is_some() || to_ms.is_some() {
            let lo = from_ms.map_or(Bound::Unbounded, |f| {
                Bound::Included(Term::from_field_i64(self.fields.ts, f))
            });
            let hi = to_ms.map_or(Bound::Unbounded, |t| {
                Bound::Excluded(Term::from_field_i64(self.fields.ts, t))
            });
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, q),
                (Occur::Must, Box::new(RangeQuery::new(lo, hi))),
            ]))
        } else {
            q
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&q, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        // Snippets come from the `text` field: highlight the query's terms there, whichever
        // column they were asked of.
        let plain = QueryParser::for_index(&self.index, vec![self.fields.text])
            .parse_query_lenient(&rewrite_columns(query, columns, ""))
            .0;
        let snippets = SnippetGenerator::create(&searcher, &*plain, self.fields.text)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let key = doc
                .get_first(self.fields.key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .as_bytes()
                .to_vec();
            let offset = doc
                .get_first(self.fields.offset)
                .and_then(|v| v.as_i64())
                .map_or(Offset(-1), Offset);
            let Some(text) = text_of(&key) else { continue };
            hits.push(Hit {
                snippet: snippets.snippet(&text).to_html(),
                key,
                offset,
                score,
            });
        }
        Ok(hits)
    }

    fn parse(
        &self,
        query: &str,
        columns: &[String],
        fuzzy: bool,
    ) -> Result<Box<dyn Query>, TextError> {
        let mut parser = QueryParser::for_index(&self.index, vec![self.fields.text]);
        parser.set_conjunction_by_default();
        if fuzzy {
            parser.set_field_fuzzy(self.fields.text, false, 1, true);
        }
        parser
            .parse_query(&rewrite_columns(query, columns, "cols."))
            .map_err(|e| TextError::Query(e.to_string()))
    }
}

/// `description:x` → `cols.description:x` (prefix `cols.`) or `x` (prefix ``, for snippets),
/// for the table's text columns.
fn rewrite_columns(query: &str, columns: &[String], prefix: &str) -> String {
    let mut out = String::with_capacity(query.len() + 16);
    let mut rest = query;
    while let Some(colon) = rest.find(':') {
        let head = &rest[..colon];
        let start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let word = &head[start..];
        out.push_str(&head[..start]);
        if columns.iter().any(|c| c == word) {
            if !prefix.is_empty() {
                out.push_str(prefix);
                out.push_str(word);
                out.push(':');
            }
        } else {
            out.push_str(word);
            out.push(':');
        }
        rest = &rest[colon + 1..];
    }
    out.push_str(rest);
    out
}

/// Lower-case alphanumeric tokens, as tantivy's default tokenizer makes them.
pub fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.len() < 40)
        .map(|t| t.to_lowercase())
        .collect()
}

/// The `text_match(column, query)` rule, on one value: every bare term and every "quoted
/// phrase" of the query must occur in the value (case-insensitive, whole tokens).
pub fn text_matches(value: &str, query: &str) -> bool {
    let toks = tokens(value);
    let mut parts = query.split('"');
    let mut inside = false;
    let mut any = false;
    for part in parts.by_ref() {
        let q = tokens(part);
        if !q.is_empty() {
            any = true;
            let ok = if inside {
                toks.windows(q.len()).any(|w| w == q.as_slice())
            } else {
                q.iter().all(|t| toks.contains(t))
            };
            if !ok {
                return false;
            }
        }
        inside = !inside;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_replace_and_deletes_remove_and_the_offset_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let mut ix = TextIndex::open(dir.path(), 15_000_000).unwrap();
        ix.upsert(
            b"k1",
            Offset(1),
            10,
            &[(
                "description",
                "Online purchase at Northwind Books, express shipping",
            )],
            false,
        );
        ix.upsert(
            b"k2",
            Offset(2),
            20,
            &[("description", "ATM cash withdrawal")],
            false,
        );
        ix.upsert(
            b"k1",
            Offset(3),
            30,
            &[("description", "Refund from Northwind Books")],
            true,
        );
        ix.delete(b"k2");
        ix.commit(Some(Offset(3))).unwrap();
        assert_eq!(ix.committed_offset(), Some(Offset(3)));
        let s = ix.searcher();
        assert_eq!(s.num_docs(), 1);
        let live = |k: &[u8]| (k == b"k1").then(|| "Refund from Northwind Books".to_string());
        let live: &dyn Fn(&[u8]) -> Option<String> = &live;
        let cols = vec!["description".to_string()];
        assert!(
            s.search("express", &cols, None, None, 10, false, live)
                .unwrap()
                .is_empty()
        );
        let hits = s
            .search(
                "description:\"northwind books\"",
                &cols,
                None,
                None,
                10,
                false,
                live,
            )
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            (hits[0].key.as_slice(), hits[0].offset),
            (&b"k1"[..], Offset(3))
        );
        assert!(
            hits[0].snippet.contains("<b>Northwind</b>"),
            "{}",
            hits[0].snippet
        );
        assert!(
            s.search("refund", &cols, Some(31), None, 10, false, live)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.search("refnd", &cols, None, None, 10, true, live)
                .unwrap()
                .len(),
            1
        );
        drop(ix);
        let again = TextIndex::open(dir.path(), 15_000_000).unwrap();
        assert_eq!(again.committed_offset(), Some(Offset(3)));
    }

    #[test]
    fn text_match_needs_every_term_and_phrase() {
        let v = "Online purchase at Northwind Books, express shipping";
        assert!(text_matches(v, "express shipping"));
        assert!(text_matches(v, "\"express shipping\" northwind"));
        assert!(!text_matches(v, "\"shipping express\""));
        assert!(!text_matches(v, "express gift"));
        assert!(!text_matches(v, ""));
        assert_eq!(
            rewrite_columns(
                "description:\"a b\" AND notes:x y",
                &["notes".into(), "description".into()],
                "cols."
            ),
            "cols.description:\"a b\" AND cols.notes:x y"
        );
        assert_eq!(
            rewrite_columns("description:\"a b\" x:y", &["description".into()], ""),
            "\"a b\" x:y"
        );
    }
}
