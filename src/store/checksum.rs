//! Checksums of what a table holds, to compare two stores (a crash-recovered one with a
//! clean one, a node's partitions with another's).

use crate::store::encode;
use crate::store::table::{LiveTable, PartitionRows};
use crate::store::value::Value;

/// An order-independent checksum of a table's rows (values, op, timestamp, offset) with the
/// row count: equal for two stores that hold the same rows, however they got there.
pub fn table_checksum(table: &LiveTable) -> (usize, u64) {
    let mut count = 0;
    let mut sum = 0u64;
    for (_, part) in table.partitions() {
        let (n, s) = partition_checksum(&part.rows.read());
        count += n;
        sum = sum.wrapping_add(s);
    }
    (count, sum)
}

/// The same checksum over one partition's rows; a table's is the wrapping sum of its
/// partitions', so partitions held by different nodes add up to the whole.
pub fn partition_checksum(rows: &PartitionRows) -> (usize, u64) {
    let mut count = 0;
    let mut sum = 0u64;
    {
        for (key, row) in &rows.rows {
            count += 1;
            let mut h = Fnv::default();
            h.write(key);
            h.write(&[row.op]);
            h.write(&row.ts_ms.to_le_bytes());
            h.write(&row.offset.get().to_le_bytes());
            let trimmed = {
                let mut v = row.values.as_slice();
                while let [rest @ .., Value::Null] = v {
                    v = rest;
                }
                v
            };
            h.write(&encode(&trimmed));
            sum = sum.wrapping_add(h.0);
        }
    }
    (count, sum)
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
