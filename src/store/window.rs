//! Event-time windows a partition actor folds its changes into: tumbling panes (1 min by
//! default) of counts and numeric statistics per dimension value, plus the co-occurrence of a
//! dimension value with each value of the few-valued columns (status, reason…) that shares are
//! computed from. Hopping windows are runs of panes. Like the rows, a partition's panes are a
//! fold of its log: replaying the records rebuilds them.
//!
//! Event time: an insert (`c`) is placed by the table's event-time column (creation time), an
//! update or delete by the change's own time (`ts_ms`); snapshot reads (`r`) describe state,
//! not events, and are left out. The watermark is the partition's largest event time minus the
//! allowed lateness: an older event is late — counted, applied to its table, kept out of its
//! (closed) window.

use std::collections::BTreeMap;
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::ident::Offset;
use crate::store::schema::TableSchema;
use crate::store::value::{DType, Value};

/// Count, sum, extremes and log-moments of a numeric column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct NumStats {
    pub n: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Values > 0 and the sums of their logarithms (for ratio-scale spike tests).
    pub n_pos: u64,
    pub sum_ln: f64,
    pub sum_ln2: f64,
}

impl NumStats {
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.n == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += 1;
        self.sum += x;
        if x > 0.0 {
            let l = x.ln();
            self.n_pos += 1;
            self.sum_ln += l;
            self.sum_ln2 += l * l;
        }
    }

    pub fn merge(&mut self, o: &NumStats) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.n += o.n;
        self.sum += o.sum;
        self.n_pos += o.n_pos;
        self.sum_ln += o.sum_ln;
        self.sum_ln2 += o.sum_ln2;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// Counts and numeric statistics of the events in one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Acc {
    pub count: u64,
    /// By column index.
    pub measures: Vec<(usize, NumStats)>,
}

impl Acc {
    fn add(&mut self, nums: &[(usize, f64)]) {
        self.count += 1;
        for &(c, x) in nums {
            self.stat_mut(c).add(x);
        }
    }

    fn stat_mut(&mut self, c: usize) -> &mut NumStats {
        let i = match self.measures.iter().position(|(k, _)| *k == c) {
            Some(i) => i,
            None => {
                self.measures.push((c, NumStats::default()));
                self.measures.len() - 1
            }
        };
        &mut self.measures[i].1
    }

    pub fn stat(&self, c: usize) -> Option<&NumStats> {
        self.measures.iter().find(|(k, _)| *k == c).map(|(_, s)| s)
    }

    pub fn merge(&mut self, o: &Acc) {
        self.count += o.count;
        for (c, s) in &o.measures {
            self.stat_mut(*c).merge(s);
        }
    }
}

/// What a partition's windows are computed over, derived from the table schema (recomputed
/// only when the schema changes).
#[derive(Clone, Debug, Default)]
pub struct WindowSpec {
    pub schema_version: u64,
    pub pane_ms: i64,
    pub lateness_ms: i64,
    /// Column index of the event-time column for inserts.
    pub time_col: Option<usize>,
    /// Candidate dimension columns (text and boolean, not the key).
    pub dims: Vec<usize>,
    /// Numeric columns.
    pub measures: Vec<usize>,
    pub max_values: usize,
    pub max_share: usize,
}

impl WindowSpec {
    /// Derives the spec from the schema and the `[live]` settings.
    pub fn of(schema: &TableSchema, cfg: &crate::config::LiveConfig) -> WindowSpec {
        let table = schema.name.to_string();
        let named = |want: &str| {
            schema
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(want) || c.original == want)
        };
        let time_col = match cfg.time_columns.get(&table) {
            Some(c) => named(c),
            None => pick_time_column(schema),
        };
        let dims = match cfg.dimensions.get(&table) {
            Some(list) => list.iter().filter_map(|c| named(c)).collect(),
            None => schema
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    matches!(c.dtype, Some(DType::Utf8) | Some(DType::Bool))
                        && !schema.primary_key.contains(&c.name)
                        // Personal data never becomes a dimension: insights, alerts and
                        // webhooks would carry it to everyone.
                        && crate::store::personal::by_name_in(&table, &c.name).is_none()
                })
                .map(|(i, _)| i)
                .collect(),
        };
        let measures = schema
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    c.dtype,
                    Some(DType::Int32 | DType::Int64 | DType::Float64 | DType::Decimal { .. })
                ) && !schema.primary_key.contains(&c.name)
            })
            .map(|(i, _)| i)
            .collect();
        WindowSpec {
            schema_version: schema.version,
            pane_ms: cfg.window_ms.max(1000),
            lateness_ms: cfg.allowed_lateness_ms.max(0),
            time_col,
            dims,
            measures,
            max_values: cfg.max_dimension_values.max(2),
            max_share: cfg.max_share_values.max(2),
        }
    }
}

/// The event-time column: a timestamp named for when the thing happened (created, occurred,
/// sale time…) rather than when the row last changed.
pub fn pick_time_column(schema: &TableSchema) -> Option<usize> {
    let changed = |n: &str| {
        ["updat", "modifi", "chang", "load", "ingest"]
            .iter()
            .any(|w| n.contains(w))
    };
    let ts: Vec<(usize, &str)> = schema
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.dtype == Some(DType::Timestamp))
        .map(|(i, c)| (i, c.name.as_str()))
        .collect();
    ts.iter()
        .find(|(_, n)| !changed(n))
        .or_else(|| ts.first())
        .map(|(i, _)| *i)
}

/// One column's value ids while it has few enough distinct values to be a dimension.
#[derive(Default)]
struct Interner {
    ids: FxHashMap<String, u32>,
    names: Vec<String>,
    /// Too many distinct values: not a dimension (the maps are freed).
    high: bool,
}

#[derive(Default)]
struct Pane {
    count: u64,
    version: u64,
    non_null: Vec<u64>,
    total: Acc,
    cells: FxHashMap<(u32, u32), Acc>,
    pairs: FxHashMap<(u32, u32, u32, u32), u64>,
}

/// Where an observed event went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// Into its pane (which may already have been emitted: it is then re-emitted).
    Windowed,
    /// Behind the watermark by this many ms: counted, not windowed.
    Late(i64),
}

/// One partition's panes and clocks.
#[derive(Default)]
pub struct PartitionWindows {
    panes: BTreeMap<i64, Pane>,
    values: Vec<Interner>,
    seq: u64,
    /// The largest event time windowed (ms).
    pub max_event_ms: Option<i64>,
    /// The largest record timestamp seen (ms), any op.
    pub max_ts_ms: Option<i64>,
    /// When the last batch was applied (wall clock).
    pub last_batch: Option<Instant>,
    /// Late events not yet reported, by the pane of event time the partition had reached
    /// when they arrived: (count, largest lateness in ms). The live engine takes them once its
    /// clock has passed, so summaries depend on the data, not on how fast partitions are read.
    pub late_arrivals: BTreeMap<i64, (u64, i64)>,
    /// Records skipped as already applied (redelivery) so far, and the offsets of the last ones.
    pub duplicates: u64,
    pub duplicate_offsets: (Offset, Offset),
    /// The live engine has emitted every window starting before this (ms): panes are kept at
    /// least until then, however far this partition runs ahead of the others.
    pub emitted_before: Option<i64>,
}

/// The text of a dimension value.
fn dim_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::Str(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        Value::Null => None,
        other => other.to_text().map(std::borrow::Cow::Owned),
    }
}

impl PartitionWindows {
    /// The watermark: event times before it are late.
    pub fn watermark(&self, lateness_ms: i64) -> Option<i64> {
        self.max_event_ms.map(|m| m - lateness_ms)
    }

    /// The event time of a change: the event-time column for an insert, else the change time.
    /// `None` for snapshot reads.
    pub fn event_time(spec: &WindowSpec, op: u8, values: &[Value], ts_ms: i64) -> Option<i64> {
        match op {
            b'r' => None,
            b'c' => Some(
                spec.time_col
                    .and_then(|i| match values.get(i) {
                        Some(Value::Timestamp(us)) => Some(us.div_euclid(1000)),
                        _ => None,
                    })
                    .unwrap_or(ts_ms),
            ),
            _ => Some(ts_ms),
        }
    }

    /// Folds one change's row image into its pane.
    pub fn observe(&mut self, spec: &WindowSpec, values: &[Value], event_ms: i64) -> Placed {
        if let Some(wm) = self.watermark(spec.lateness_ms)
            && event_ms < wm
        {
            let reached = self.max_event_ms.unwrap_or(event_ms);
            let lag = reached - event_ms;
            let at = self
                .late_arrivals
                .entry(reached.div_euclid(spec.pane_ms) * spec.pane_ms)
                .or_default();
            at.0 += 1;
            at.1 = at.1.max(lag);
            return Placed::Late(lag);
        }
        self.max_event_ms = Some(self.max_event_ms.map_or(event_ms, |m| m.max(event_ms)));
        if self.values.len() < values.len() {
            self.values.resize_with(values.len(), Interner::default);
        }
        let mut dims: smallvec_like::Dims = Default::default();
        for &d in &spec.dims {
            let Some(text) = values.get(d).and_then(dim_text) else {
                continue;
            };
            let interner = &mut self.values[d];
            if interner.high {
                continue;
            }
            let id = match interner.ids.get(text.as_ref()) {
                Some(id) => *id,
                None => {
                    if interner.names.len() >= spec.max_values {
                        *interner = Interner {
                            high: true,
                            ..Default::default()
                        };
                        continue;
                    }
                    let id = interner.names.len() as u32;
                    interner.names.push(text.clone().into_owned());
                    interner.ids.insert(text.into_owned(), id);
                    id
                }
            };
            dims.push((d as u32, id));
        }
        let mut nums: Vec<(usize, f64)> = Vec::with_capacity(spec.measures.len());
        for &m in &spec.measures {
            if let Some(x) = values.get(m).and_then(Value::as_f64) {
                nums.push((m, x));
            }
        }
        let start = event_ms.div_euclid(spec.pane_ms) * spec.pane_ms;
        self.seq += 1;
        let pane = self.panes.entry(start).or_default();
        pane.count += 1;
        pane.version = self.seq;
        if pane.non_null.len() < values.len() {
            pane.non_null.resize(values.len(), 0);
        }
        for (i, v) in values.iter().enumerate() {
            if !matches!(v, Value::Null) {
                pane.non_null[i] += 1;
            }
        }
        pane.total.add(&nums);
        for &(d, id) in dims.iter() {
            pane.cells.entry((d, id)).or_default().add(&nums);
        }
        for &(g, gid) in dims.iter() {
            for &(s, sid) in dims.iter() {
                if s != g && self.values[s as usize].names.len() <= spec.max_share {
                    *pane.pairs.entry((g, gid, s, sid)).or_default() += 1;
                }
            }
        }
        Placed::Windowed
    }

    /// Takes the late events that arrived in panes before `before` (ms).
    pub fn take_late_before(&mut self, before: i64) -> BTreeMap<i64, (u64, i64)> {
        let rest = self.late_arrivals.split_off(&before);
        std::mem::replace(&mut self.late_arrivals, rest)
    }

    /// Notes a record's timestamp (any op, for silence detection).
    pub fn saw_record(&mut self, ts_ms: i64) {
        self.max_ts_ms = Some(self.max_ts_ms.map_or(ts_ms, |m| m.max(ts_ms)));
    }

    /// The version of a pane (changes whenever an event lands in it).
    pub fn version(&self, start: i64) -> u64 {
        self.panes.get(&start).map_or(0, |p| p.version)
    }

    /// The earliest pane start held.
    pub fn first_start(&self) -> Option<i64> {
        self.panes.keys().next().copied()
    }

    /// Drops panes that ended before `before_ms` and that the live engine has emitted.
    pub fn prune(&mut self, before_ms: i64, pane_ms: i64) {
        let before_ms = before_ms.min(self.emitted_before.unwrap_or(i64::MIN));
        while let Some((&start, _)) = self.panes.first_key_value() {
            if start + pane_ms > before_ms {
                break;
            }
            self.panes.pop_first();
        }
    }

    /// Columns with too many values to be dimensions.
    pub fn high_cardinality(&self) -> Vec<usize> {
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.high)
            .map(|(i, _)| i)
            .collect()
    }

    /// A pane with values spelled out, ready to merge with other partitions'.
    pub fn export(&self, start: i64, max_share: usize) -> PaneView {
        let mut view = PaneView {
            start_ms: start,
            ..Default::default()
        };
        let Some(p) = self.panes.get(&start) else {
            return view;
        };
        let name =
            |c: u32, id: u32| -> String { self.values[c as usize].names[id as usize].clone() };
        let live = |c: u32| !self.values[c as usize].high;
        view.count = p.count;
        view.non_null = p.non_null.clone();
        view.total = p.total.clone();
        for (&(c, id), acc) in &p.cells {
            if live(c) {
                view.cells.insert((c as usize, name(c, id)), acc.clone());
            }
        }
        for (&(g, gid, s, sid), n) in &p.pairs {
            if live(g) && live(s) && self.values[s as usize].names.len() <= max_share {
                view.pairs
                    .insert((g as usize, name(g, gid), s as usize, name(s, sid)), *n);
            }
        }
        view
    }
}

/// A small fixed-capacity list of (column, value id), to avoid allocating per event.
mod smallvec_like {
    #[derive(Default)]
    pub struct Dims {
        items: [(u32, u32); 32],
        len: usize,
    }

    impl Dims {
        pub fn push(&mut self, x: (u32, u32)) {
            if self.len < self.items.len() {
                self.items[self.len] = x;
                self.len += 1;
            }
        }

        pub fn iter(&self) -> std::slice::Iter<'_, (u32, u32)> {
            self.items[..self.len].iter()
        }
    }
}

/// A pane (or a run of panes) of a whole table, values spelled out: what detectors and rules
/// read. Columns are table column indices.
#[derive(Clone, Debug, Default)]
pub struct PaneView {
    pub start_ms: i64,
    pub count: u64,
    pub non_null: Vec<u64>,
    pub total: Acc,
    pub cells: FxHashMap<(usize, String), Acc>,
    pub pairs: FxHashMap<(usize, String, usize, String), u64>,
}

impl PaneView {
    pub fn merge(&mut self, o: &PaneView) {
        self.count += o.count;
        if self.non_null.len() < o.non_null.len() {
            self.non_null.resize(o.non_null.len(), 0);
        }
        for (i, n) in o.non_null.iter().enumerate() {
            self.non_null[i] += n;
        }
        self.total.merge(&o.total);
        for (k, acc) in &o.cells {
            match self.cells.get_mut(k) {
                Some(a) => a.merge(acc),
                None => {
                    self.cells.insert(k.clone(), acc.clone());
                }
            }
        }
        for (k, n) in &o.pairs {
            *self.pairs.entry(k.clone()).or_default() += n;
        }
    }

    /// Drops the cells and pairs of columns that are not dimensions.
    pub fn retain_columns(&mut self, keep: impl Fn(usize) -> bool) {
        self.cells.retain(|(c, _), _| keep(*c));
        self.pairs.retain(|(g, _, s, _), _| keep(*g) && keep(*s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::TableName;

    fn schema() -> TableSchema {
        let mut s = TableSchema::new(TableName::from_topic("shop.sales"), "shop.sales");
        for (name, t) in [
            ("ID", DType::Utf8),
            ("REGION", DType::Utf8),
            ("AMOUNT", DType::Float64),
            ("CREATED_AT", DType::Timestamp),
        ] {
            let i = s.ensure_column(name);
            s.widen(i, t);
        }
        s.set_primary_key(&["ID".to_string()]);
        s
    }

    fn row(id: &str, region: &str, amount: f64, at_ms: i64) -> Vec<Value> {
        vec![
            Value::Str(id.into()),
            Value::Str(region.into()),
            Value::Float(amount),
            Value::Timestamp(at_ms * 1000),
        ]
    }

    #[test]
    fn inserts_are_windowed_by_their_time_column_and_late_ones_counted() {
        let cfg = crate::config::LiveConfig::default();
        let spec = WindowSpec::of(&schema(), &cfg);
        assert_eq!(spec.time_col, Some(3));
        assert_eq!(spec.dims, vec![1], "the key is not a dimension");
        let mut w = PartitionWindows::default();
        let r = row("1", "EU", 10.0, 61_000);
        let t = PartitionWindows::event_time(&spec, b'c', &r, 999_999).unwrap();
        assert_eq!(t, 61_000, "an insert is placed by its creation time");
        assert_eq!(w.observe(&spec, &r, t), Placed::Windowed);
        let r2 = row("2", "US", 30.0, 400_000);
        w.observe(&spec, &r2, 400_000);
        // Within the lateness (2 min): updates its pane.
        let r3 = row("3", "EU", 20.0, 300_000);
        assert_eq!(w.observe(&spec, &r3, 300_000), Placed::Windowed);
        // Behind the watermark (400 s − 120 s): late, counted, not windowed.
        let r4 = row("4", "EU", 20.0, 100_000);
        assert_eq!(w.observe(&spec, &r4, 100_000), Placed::Late(300_000));
        assert_eq!(w.late_arrivals.values().map(|a| a.0).sum::<u64>(), 1);
        assert!(w.take_late_before(i64::MIN).is_empty());
        assert_eq!(w.take_late_before(i64::MAX).len(), 1);
        assert!(w.late_arrivals.is_empty());
        let v = w.export(60_000, 12);
        assert_eq!(v.count, 1);
        assert_eq!(v.cells[&(1, "EU".to_string())].stat(2).unwrap().sum, 10.0);
        let v = w.export(300_000, 12);
        assert_eq!(v.count, 1);
        // Snapshot reads are state, not events.
        assert_eq!(PartitionWindows::event_time(&spec, b'r', &r, 5), None);
        // Updates are placed by the change time.
        assert_eq!(
            PartitionWindows::event_time(&spec, b'u', &r, 777),
            Some(777)
        );
    }

    #[test]
    fn a_column_with_too_many_values_stops_being_a_dimension() {
        let cfg = crate::config::LiveConfig {
            max_dimension_values: 3,
            ..Default::default()
        };
        let spec = WindowSpec::of(&schema(), &cfg);
        let mut w = PartitionWindows::default();
        for (i, r) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            w.observe(&spec, &row(&i.to_string(), r, 1.0, 1000), 1000);
        }
        assert_eq!(w.high_cardinality(), vec![1]);
        assert!(w.export(0, 12).cells.is_empty());
        assert_eq!(w.export(0, 12).count, 5);
    }

    #[test]
    fn panes_merge_across_partitions() {
        let cfg = crate::config::LiveConfig::default();
        let spec = WindowSpec::of(&schema(), &cfg);
        let (mut a, mut b) = (PartitionWindows::default(), PartitionWindows::default());
        a.observe(&spec, &row("1", "EU", 10.0, 1000), 1000);
        b.observe(&spec, &row("2", "EU", 30.0, 2000), 2000);
        b.observe(&spec, &row("3", "US", 5.0, 3000), 3000);
        let mut v = a.export(0, 12);
        v.merge(&b.export(0, 12));
        assert_eq!(v.count, 3);
        let eu = &v.cells[&(1, "EU".to_string())];
        assert_eq!((eu.count, eu.stat(2).unwrap().mean()), (2, Some(20.0)));
        assert_eq!(v.total.stat(2).unwrap().max, 30.0);
    }
}
