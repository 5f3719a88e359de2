//! The content of a partition's most recent records, so a record that comes again at an
//! offset already applied can be told apart: the same bytes are a redelivery (skipped), other
//! bytes are a second record claiming the position (quarantined, never silently dropped).
//! Only the last `window` records are remembered; an older redelivery is taken as one.

use std::collections::VecDeque;
use std::hash::Hasher;

use crate::ident::Offset;
use crate::ingest::record::Record;

/// What a record at an already-applied offset is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Again {
    /// The same key and value as the record applied there.
    Same,
    /// Different bytes from the record applied there.
    Different,
    /// Older than the window: no content to compare with.
    Unknown,
}

/// The fingerprints of the last records of a partition, in offset order.
pub(super) struct Recent {
    window: usize,
    seen: VecDeque<(Offset, u64)>,
}

/// A 64-bit fingerprint of a record's key and value (absent and empty differ).
fn fingerprint(rec: &Record) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for part in [rec.key.as_deref(), rec.value.as_deref()] {
        match part {
            Some(b) => {
                h.write_usize(b.len());
                h.write(b);
            }
            None => h.write_u8(0xff),
        }
    }
    h.finish()
}

impl Recent {
    pub(super) fn new(window: usize) -> Recent {
        Recent {
            window,
            seen: VecDeque::new(),
        }
    }

    /// Remembers a record newly taken at its offset (applied or quarantined).
    pub(super) fn note(&mut self, rec: &Record) {
        if self.window == 0 {
            return;
        }
        if self.seen.len() == self.window {
            self.seen.pop_front();
        }
        self.seen.push_back((rec.offset, fingerprint(rec)));
    }

    /// Compares a record at an already-applied offset with what was taken there.
    pub(super) fn again(&self, rec: &Record) -> Again {
        match self.seen.binary_search_by_key(&rec.offset, |(o, _)| *o) {
            Ok(i) if self.seen[i].1 == fingerprint(rec) => Again::Same,
            Ok(_) => Again::Different,
            Err(_) => Again::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn rec(offset: i64, value: &str) -> Record {
        Record {
            topic: Arc::from("a.t"),
            partition: 0,
            offset: Offset(offset),
            ts_ms: 0,
            key: Some(b"k".to_vec()),
            value: Some(value.as_bytes().to_vec()),
        }
    }

    #[test]
    fn the_same_bytes_are_a_redelivery_and_other_bytes_are_not() {
        let mut r = Recent::new(2);
        r.note(&rec(1, "a"));
        r.note(&rec(2, "b"));
        r.note(&rec(5, "c"));
        assert_eq!(r.again(&rec(2, "b")), Again::Same);
        assert_eq!(r.again(&rec(5, "x")), Again::Different);
        assert_eq!(r.again(&rec(1, "zzz")), Again::Unknown, "out of the window");
        let mut tomb = rec(5, "c");
        tomb.value = None;
        assert_eq!(r.again(&tomb), Again::Different);
        let off = Recent::new(0);
        assert_eq!(off.again(&rec(5, "c")), Again::Unknown);
    }
}
