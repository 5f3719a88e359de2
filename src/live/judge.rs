//! Judging a table's flow beyond its windows: silence (stalls), late events, redelivered
//! records.

use super::*;

/// A redelivered run is reported once no more duplicates came for this long (wall clock) or
/// for this much stream time, whichever is first.
const DUP_QUIET_WALL: Duration = Duration::from_secs(2);
const DUP_QUIET_STREAM_MS: i64 = 30_000;

impl Live {
    pub(super) fn judge_silence(
        &self,
        table: &str,
        tl: &mut TableLive,
        global: i64,
        last: i64,
        pending: bool,
    ) {
        if tl.stall_by_pane {
            return;
        }
        if let Some(since) = tl.stalled_since {
            if last > since {
                tl.stalled_since = None;
                tl.stall_reported_until = Some(last);
                let insight = Insight {
                    id: 0,
                    kind: "stall_ended".into(),
                    table: table.to_string(),
                    dimension: BTreeMap::new(),
                    window: Span::new(since, last),
                    observed: (last - since) as f64 / 1000.0,
                    expected: 0.0,
                    score: 0.0,
                    sentence: format!(
                        "{table} is flowing again at {} after {} s of silence",
                        clock(last),
                        num(((last - since) as f64 / 1000.0).round())
                    ),
                    related: Vec::new(),
                    detected_at: String::new(),
                };
                self.publish_insight(insight);
            }
            return;
        }
        if pending {
            // Records of this topic are on their way: not silent.
            return;
        }
        let pane = self.cfg.window_ms.max(1000) as f64;
        let Some(expected) = tl.baselines.expected_count(self.cfg.warmup_windows) else {
            return;
        };
        if expected < 1.0 {
            return;
        }
        let gap = pane / expected;
        let threshold = (self.cfg.stall_min_ms as f64).max(15.0 * gap);
        let silence = (global - last) as f64;
        if silence >= threshold {
            tl.stalled_since = Some(last);
            let per_min = expected * 60_000.0 / pane;
            let insight = Insight {
                id: 0,
                kind: "stall".into(),
                table: table.to_string(),
                dimension: BTreeMap::new(),
                window: Span::new(last, global),
                observed: 0.0,
                expected: expected * silence / pane,
                score: silence / gap,
                sentence: format!(
                    "{table} has been silent since {} ({} s); it usually carries about {} changes a minute",
                    clock(last),
                    num((silence / 1000.0).round()),
                    num(per_min.round())
                ),
                related: Vec::new(),
                detected_at: String::new(),
            };
            self.publish_insight(insight);
        }
    }

    /// Late events, on the axis of the event time their partition had reached when they
    /// arrived (`arrivals`: pane start → count and largest lateness, every pane before `due`
    /// taken from the partitions): one summary per table and aligned block of 10 windows of
    /// that axis, published once `due` has passed the block. The summaries then depend on the
    /// data only, not on how fast each partition was read; an arrival for a block already
    /// published (a partition that was far behind) is counted in the next block.
    pub(super) fn judge_late(
        &self,
        table: &str,
        tl: &mut TableLive,
        arrivals: BTreeMap<i64, (u64, i64)>,
        due: i64,
        time_col: Option<&str>,
    ) {
        let every = 10 * self.cfg.window_ms.max(1000);
        for (p, (n, lag)) in arrivals {
            let mut block = p.div_euclid(every) * every;
            if let Some(r) = tl.late_reported
                && block <= r
            {
                block = r + every;
            }
            let b = tl.late_blocks.entry(block).or_default();
            b.0 += n;
            b.1 = b.1.max(lag);
        }
        while let Some((&block, _)) = tl.late_blocks.first_key_value()
            && block + every <= due
        {
            let (n, late_max_ms) = tl.late_blocks.remove(&block).unwrap_or_default();
            tl.late_reported = Some(block);
            let mut dimension = BTreeMap::new();
            if let Some(c) = time_col {
                dimension.insert("event_time".to_string(), c.to_string());
            }
            let insight = Insight {
                id: 0,
                kind: "late_events".into(),
                table: table.to_string(),
                dimension,
                window: Span::new(block, block + every),
                observed: n as f64,
                expected: 0.0,
                score: n as f64,
                sentence: format!(
                    "{n} late event{} on {table} (up to {} min behind, past the {} min allowed lateness): applied to the table, not to their closed windows",
                    if n == 1 { "" } else { "s" },
                    num(((late_max_ms as f64) / 60_000.0 * 10.0).round() / 10.0),
                    self.cfg.allowed_lateness_ms / 60_000
                ),
                related: Vec::new(),
                detected_at: String::new(),
            };
            self.publish_insight(insight);
        }
    }

    pub(super) fn judge_redelivery(&self, table: &str, tl: &mut TableLive, dups: u64, now_ms: i64) {
        if dups > tl.dup_seen + tl.dup_pending {
            // Still arriving: report once they stop.
            tl.dup_pending = dups - tl.dup_seen;
            tl.dup_grew = Some((Instant::now(), now_ms));
            return;
        }
        if tl.dup_pending == 0 {
            return;
        }
        // "Stopped" means quiet for a while, not for one step: a redelivered run arrives
        // paced like the rest of the stream, with gaps. One report per run.
        if let Some((at, ms)) = tl.dup_grew
            && at.elapsed() < DUP_QUIET_WALL
            && now_ms - ms < DUP_QUIET_STREAM_MS
        {
            return;
        }
        let n = tl.dup_pending;
        let parts: Vec<String> = tl
            .dup_partitions
            .iter()
            .map(|(p, (lo, hi))| format!("{p} (offsets {lo}–{hi})"))
            .collect();
        let mut dimension = BTreeMap::new();
        dimension.insert(
            "partition".to_string(),
            tl.dup_partitions
                .keys()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        let insight = Insight {
            id: 0,
            kind: "redelivery".into(),
            table: table.to_string(),
            dimension,
            window: Span::new(now_ms, now_ms),
            observed: n as f64,
            expected: 0.0,
            score: n as f64,
            sentence: format!(
                "{n} record{} of {table} delivered again (partition {}): already applied, skipped",
                if n == 1 { "" } else { "s" },
                parts.join(", ")
            ),
            related: Vec::new(),
            detected_at: String::new(),
        };
        self.publish_insight(insight);
        tl.dup_seen += n;
        tl.dup_pending = 0;
        tl.dup_partitions.clear();
    }
}
