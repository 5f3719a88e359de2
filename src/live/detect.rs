//! Detectors over a table's window series. Each series keeps an exponentially weighted
//! baseline (mean and mean absolute deviation, or event/total sums for shares) and a window is
//! judged against it with a robust score:
//! - **volume**: events per window, overall and per dimension value (EWMA, residual scaled by
//!   the larger of the deviation and the Poisson spread);
//! - **share shift**: the share of a few-valued column's value within a dimension value
//!   (declined share per region) — a binomial score against the baseline share;
//! - **measure spike**: the mean log of a positive measure per dimension value (amount per
//!   merchant) — robust to the single large values log-normal amounts have;
//! - **data quality**: a column's null rate jumping, a new column, a column vanishing.
//!
//! A series is judged only after `warmup_windows` windows; one that fired absorbs the window
//! slowly, so an anomaly does not become the baseline at once.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::live::insight::{num, pct};
use crate::store::window::PaneView;

const ALPHA: f64 = 0.1;
/// Rate at which a window that fired is absorbed.
const ALPHA_FIRED: f64 = 0.02;

#[derive(Clone, Copy, Debug, Default)]
struct Ewma {
    mean: f64,
    dev: f64,
    n: u32,
}

impl Ewma {
    fn update(&mut self, x: f64, a: f64) {
        if self.n == 0 {
            self.mean = x;
            self.dev = 0.0;
        } else {
            let r = x - self.mean;
            self.dev = (1.0 - a) * self.dev + a * r.abs();
            self.mean += a * r;
        }
        self.n += 1;
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Ratio {
    k: f64,
    n: f64,
    windows: u32,
}

impl Ratio {
    fn p(&self) -> f64 {
        if self.n > 0.0 { self.k / self.n } else { 0.0 }
    }

    fn update(&mut self, k: f64, n: f64, a: f64) {
        if self.windows == 0 {
            self.k = k;
            self.n = n;
        } else {
            self.k = (1.0 - a) * self.k + a * k;
            self.n = (1.0 - a) * self.n + a * n;
        }
        self.windows += 1;
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct LogMean {
    /// Event-weighted means of ln x and of x.
    ln: f64,
    mean: f64,
    /// Events absorbed (weighted).
    w: f64,
    ln2: f64,
}

impl LogMean {
    fn update(&mut self, n: f64, sum_ln: f64, sum_ln2: f64, sum: f64, a: f64) {
        if n <= 0.0 {
            return;
        }
        let wn = if self.w == 0.0 { n } else { a * n * 10.0 };
        let tot = self.w + wn;
        self.ln = (self.ln * self.w + sum_ln / n * wn) / tot;
        self.ln2 = (self.ln2 * self.w + sum_ln2 / n * wn) / tot;
        self.mean = (self.mean * self.w + sum / n * wn) / tot;
        // Keep a bounded memory: the weight saturates.
        self.w = tot.min(2000.0);
    }

    fn sd(&self) -> f64 {
        (self.ln2 - self.ln * self.ln).max(0.0).sqrt()
    }
}

/// What a detector found in one window.
#[derive(Clone, Debug)]
pub struct Finding {
    pub kind: &'static str,
    /// Column index → value: the group this is about.
    pub group: Option<(usize, String)>,
    /// Further dimension values (the share's column and value).
    pub extra: Option<(usize, String)>,
    pub observed: f64,
    pub expected: f64,
    pub score: f64,
    /// Column names are filled in by the caller: `{g}` is the group column, `{x}` the extra.
    pub sentence: String,
}

/// Every series of one table.
#[derive(Default)]
pub struct Baselines {
    windows: u32,
    volume_total: Ewma,
    volume: FxHashMap<(usize, String), Ewma>,
    share: FxHashMap<(usize, String, usize, String), Ratio>,
    /// Per numeric column, over the whole table.
    logmean_table: BTreeMap<usize, LogMean>,
    /// Per dimension value, per numeric column.
    logmean: FxHashMap<(usize, String), Vec<(usize, LogMean)>>,
    nulls: BTreeMap<usize, Ratio>,
    seen_columns: BTreeMap<usize, u32>,
}

/// Thresholds.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    pub warmup: u32,
    pub min_score: f64,
}

impl Baselines {
    /// Windows judged so far.
    pub fn windows(&self) -> u32 {
        self.windows
    }

    /// The expected events per window (for stall detection), once warm.
    pub fn expected_count(&self, warmup: u32) -> Option<f64> {
        (self.volume_total.n >= warmup).then_some(self.volume_total.mean)
    }

    /// Judges a window, then folds it into the baselines. `label` names a column by index.
    pub fn judge(
        &mut self,
        pane: &PaneView,
        label: &dyn Fn(usize) -> String,
        t: Tuning,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        if pane.count == 0 {
            // An empty window is silence (a stall), judged elsewhere; it teaches nothing.
            return out;
        }
        let warm = |n: u32| n >= t.warmup;

        // Volume, overall and per value (values of the baseline absent from the window: 0).
        // Keys are borrowed from the window; a baseline entry is cloned only when new.
        let total = self.volume_total;
        let total_dropped = warm(total.n) && (pane.count as f64) < total.mean * 0.5;
        let absent: Vec<(usize, String)> = self
            .volume
            .keys()
            .filter(|k| !pane.cells.contains_key(*k))
            .cloned()
            .collect();
        let keys = std::iter::once(None)
            .chain(pane.cells.keys().map(Some))
            .chain(absent.iter().map(Some));
        for key in keys {
            let x = match key {
                None => pane.count as f64,
                Some(k) => pane.cells.get(k).map_or(0.0, |a| a.count as f64),
            };
            let e = match key {
                None => total,
                Some(k) => self.volume.get(k).copied().unwrap_or_default(),
            };
            let mut hit = false;
            if warm(e.n) {
                let scale = (1.2533 * e.dev).max(e.mean.max(1.0).sqrt());
                let z = (x - e.mean) / scale;
                let what = match key {
                    Some((c, v)) => format!("{} = {v}", label(*c)),
                    None => "all changes".into(),
                };
                if z >= t.min_score && x >= 2.0 * e.mean && x - e.mean >= 20.0 {
                    hit = true;
                    out.push(Finding {
                        kind: "volume_spike",
                        group: key.cloned(),
                        extra: None,
                        observed: x,
                        expected: e.mean,
                        score: z,
                        sentence: format!(
                            "{what}: {} changes, usually {}",
                            num(x),
                            num(e.mean.round())
                        ),
                    });
                } else if key.is_some()
                    && !total_dropped
                    && z <= -t.min_score
                    && x <= e.mean / 3.0
                    && e.mean >= 30.0
                {
                    hit = true;
                    out.push(Finding {
                        kind: "volume_drop",
                        group: key.cloned(),
                        extra: None,
                        observed: x,
                        expected: e.mean,
                        score: -z,
                        sentence: format!(
                            "{what}: {} changes, usually {}",
                            num(x),
                            num(e.mean.round())
                        ),
                    });
                }
            }
            let a = if hit { ALPHA_FIRED } else { ALPHA };
            match key {
                None => self.volume_total.update(x, a),
                Some(k) => match self.volume.get_mut(k) {
                    Some(e) => e.update(x, a),
                    None => self.volume.entry(k.clone()).or_default().update(x, a),
                },
            }
        }

        // Shares within a dimension value (pairs of the baseline absent from a window whose
        // group is present: 0 events).
        let counts: FxHashMap<(usize, &str), u64> = pane
            .cells
            .iter()
            .map(|((c, v), a)| ((*c, v.as_str()), a.count))
            .collect();
        let absent: Vec<(usize, String, usize, String)> = self
            .share
            .keys()
            .filter(|k| counts.contains_key(&(k.0, k.1.as_str())) && !pane.pairs.contains_key(*k))
            .cloned()
            .collect();
        for key in pane.pairs.keys().chain(absent.iter()) {
            let n = counts
                .get(&(key.0, key.1.as_str()))
                .map_or(0.0, |c| *c as f64);
            if n == 0.0 {
                continue;
            }
            let k = pane.pairs.get(key).copied().unwrap_or(0) as f64;
            let base = self.share.get(key).copied().unwrap_or_default();
            let mut hit = false;
            // Thousands of pair series are judged every window: a shift needs enough events
            // (at least 10 in the share, 30 in the group) not to be a handful of coincidences.
            if warm(base.windows) && n >= 30.0 && k >= 10.0 {
                let p0 = base.p();
                let p = k / n;
                let var = n * p0.max(0.02) * (1.0 - p0).max(0.02);
                let z = (k - 0.5 - n * p0) / var.sqrt();
                if z >= t.min_score && p >= p0 + 0.1 && p >= 2.0 * p0 {
                    hit = true;
                    out.push(Finding {
                        kind: "share_shift",
                        group: Some((key.0, key.1.clone())),
                        extra: Some((key.2, key.3.clone())),
                        observed: p,
                        expected: p0,
                        score: z,
                        sentence: format!(
                            "{} = {} in {} = {}: {} of {}, usually {}",
                            label(key.2),
                            key.3,
                            label(key.0),
                            key.1,
                            pct(p),
                            num(n),
                            pct(p0)
                        ),
                    });
                }
            }
            let a = if hit { ALPHA_FIRED } else { ALPHA };
            match self.share.get_mut(key) {
                Some(r) => r.update(k, n, a),
                None => self.share.entry(key.clone()).or_default().update(k, n, a),
            }
        }

        // Positive measures per value: the mean of logs against the series (or the table).
        let mut table_measures: Vec<(usize, crate::store::window::NumStats)> =
            pane.total.measures.clone();
        table_measures.sort_by_key(|(c, _)| *c);
        for (key, acc) in &pane.cells {
            for (m, s) in &acc.measures {
                if s.n == 0 || s.n_pos != s.n {
                    continue;
                }
                let table_base = self.logmean_table.get(m).copied().unwrap_or_default();
                let series = self
                    .logmean
                    .get(key)
                    .and_then(|v| v.iter().find(|(c, _)| c == m))
                    .map(|(_, l)| *l)
                    .unwrap_or_default();
                let mut hit = false;
                let sd = table_base.sd();
                if self.windows >= t.warmup && s.n >= 5 && sd > 0.0 {
                    let (base_ln, base_mean) = if series.w >= 30.0 {
                        (series.ln, series.mean)
                    } else {
                        (table_base.ln, table_base.mean)
                    };
                    let mean_ln = s.sum_ln / s.n as f64;
                    let z = (mean_ln - base_ln) * (s.n as f64).sqrt() / sd;
                    if z >= t.min_score && (mean_ln - base_ln).exp() >= 3.0 {
                        hit = true;
                        let (c, v) = key.clone();
                        out.push(Finding {
                            kind: "measure_spike",
                            group: Some((c, v.clone())),
                            extra: None,
                            observed: s.sum / s.n as f64,
                            expected: base_mean,
                            score: z,
                            sentence: format!(
                                "Average {} for {} = {v}: {} over {} changes, usually {}",
                                label(*m),
                                label(c),
                                num((s.sum / s.n as f64 * 100.0).round() / 100.0),
                                s.n,
                                num((base_mean * 100.0).round() / 100.0)
                            ),
                        });
                    }
                }
                let a = if hit { ALPHA_FIRED } else { ALPHA };
                let per = match self.logmean.get_mut(key) {
                    Some(v) => v,
                    None => self.logmean.entry(key.clone()).or_default(),
                };
                let i = match per.iter().position(|(c, _)| c == m) {
                    Some(i) => i,
                    None => {
                        per.push((*m, LogMean::default()));
                        per.len() - 1
                    }
                };
                per[i].1.update(s.n as f64, s.sum_ln, s.sum_ln2, s.sum, a);
            }
        }
        for (m, s) in table_measures {
            if s.n > 0 && s.n_pos == s.n {
                self.logmean_table
                    .entry(m)
                    .or_default()
                    .update(s.n as f64, s.sum_ln, s.sum_ln2, s.sum, ALPHA);
            }
        }

        // Data quality: null rates, new and vanished columns.
        let n = pane.count as f64;
        for (c, nn) in pane.non_null.iter().enumerate() {
            let nulls = n - *nn as f64;
            let base = self.nulls.get(&c).copied().unwrap_or_default();
            let mut hit = false;
            if *nn > 0 && !self.seen_columns.contains_key(&c) && self.windows >= t.warmup {
                hit = true;
                out.push(Finding {
                    kind: "new_column",
                    group: None,
                    extra: Some((c, String::new())),
                    observed: *nn as f64,
                    expected: 0.0,
                    score: t.min_score,
                    sentence: format!(
                        "New column {}: set in {} of {} changes, never seen before",
                        label(c),
                        nn,
                        num(n)
                    ),
                });
            }
            if warm(base.windows) && n >= 50.0 {
                let p0 = base.p();
                let p = nulls / n;
                if *nn == 0 && p0 <= 0.05 && self.seen_columns.contains_key(&c) {
                    hit = true;
                    out.push(Finding {
                        kind: "vanished_column",
                        group: None,
                        extra: Some((c, String::new())),
                        observed: 1.0,
                        expected: p0,
                        score: t.min_score,
                        sentence: format!(
                            "Column {} is missing from all {} changes, usually set in {}",
                            label(c),
                            num(n),
                            pct(1.0 - p0)
                        ),
                    });
                } else {
                    let var = n * p0.max(0.01) * (1.0 - p0).max(0.01);
                    let z = (nulls - n * p0) / var.sqrt();
                    if z >= t.min_score && p >= p0 + 0.2 {
                        hit = true;
                        out.push(Finding {
                            kind: "null_rate",
                            group: None,
                            extra: Some((c, String::new())),
                            observed: p,
                            expected: p0,
                            score: z,
                            sentence: format!(
                                "Column {} is null in {} of {} changes, usually {}",
                                label(c),
                                pct(p),
                                num(n),
                                pct(p0)
                            ),
                        });
                    }
                }
            }
            if *nn > 0 {
                *self.seen_columns.entry(c).or_default() += 1;
            }
            let a = if hit { ALPHA_FIRED } else { ALPHA };
            self.nulls.entry(c).or_default().update(nulls, n, a);
        }
        self.windows += 1;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::window::{Acc, NumStats};

    fn pane(total: u64, by_region: &[(&str, u64, u64)], amount_ln: f64) -> PaneView {
        // by_region: (region, events, declined)
        let mut p = PaneView {
            count: total,
            non_null: vec![total, total, total],
            ..Default::default()
        };
        for (r, n, d) in by_region {
            let mut s = NumStats::default();
            for i in 0..*n {
                let jitter = if i % 2 == 0 { 0.5 } else { -0.5 };
                s.add((amount_ln + jitter).exp());
            }
            p.cells.insert(
                (0, r.to_string()),
                Acc {
                    count: *n,
                    measures: vec![(2, s)],
                },
            );
            p.pairs.insert((0, r.to_string(), 1, "declined".into()), *d);
            p.pairs
                .insert((0, r.to_string(), 1, "approved".into()), n - d);
            p.total.measures = vec![(2, s)];
        }
        p
    }

    fn label(c: usize) -> String {
        ["region", "status", "amount", "note"][c].to_string()
    }

    #[test]
    fn a_share_shift_is_found_and_named_and_quiet_windows_are_not() {
        let mut b = Baselines::default();
        let t = Tuning {
            warmup: 10,
            min_score: 6.0,
        };
        for i in 0..30 {
            // Quiet: about 5 % declined, with some noise.
            let d = 3 + (i % 3) as u64;
            let f = b.judge(
                &pane(200, &[("EU", 100, d), ("US", 100, 5)], 3.7),
                &label,
                t,
            );
            assert!(f.is_empty(), "window {i}: {f:?}");
        }
        let f = b.judge(
            &pane(230, &[("EU", 130, 55), ("US", 100, 5)], 3.7),
            &label,
            t,
        );
        let share: Vec<&Finding> = f.iter().filter(|f| f.kind == "share_shift").collect();
        assert_eq!(share.len(), 1, "{f:?}");
        assert_eq!(share[0].group, Some((0, "EU".into())));
        assert_eq!(share[0].extra, Some((1, "declined".into())));
        assert!(
            share[0]
                .sentence
                .starts_with("status = declined in region = EU: 42 % of 130")
        );
    }

    #[test]
    fn null_rates_and_new_columns_are_data_quality_findings() {
        let mut b = Baselines::default();
        let t = Tuning {
            warmup: 10,
            min_score: 6.0,
        };
        for _ in 0..20 {
            let f = b.judge(
                &pane(200, &[("EU", 100, 5), ("US", 100, 5)], 3.7),
                &label,
                t,
            );
            assert!(f.is_empty(), "{f:?}");
        }
        // Column 1 suddenly null in most changes, and a column 3 never seen before.
        let mut p = pane(200, &[("EU", 100, 5), ("US", 100, 5)], 3.7);
        p.non_null = vec![200, 40, 200, 200];
        let f = b.judge(&p, &label, t);
        let kinds: Vec<&str> = f.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&"null_rate"), "{f:?}");
        assert!(kinds.contains(&"new_column"), "{f:?}");
        // And a column that was always set vanishing.
        let mut p = pane(200, &[("EU", 100, 5), ("US", 100, 5)], 3.7);
        p.non_null = vec![200, 200, 0, 200];
        let f = b.judge(&p, &label, t);
        assert!(f.iter().any(|f| f.kind == "vanished_column"), "{f:?}");
    }

    #[test]
    fn a_measure_spike_needs_several_events_not_one_large_value() {
        let mut b = Baselines::default();
        let t = Tuning {
            warmup: 10,
            min_score: 6.0,
        };
        for _ in 0..30 {
            b.judge(&pane(100, &[("EU", 50, 2), ("US", 50, 2)], 3.7), &label, t);
        }
        // One very large value among fifty ordinary ones is not a spike.
        let mut p = pane(100, &[("EU", 50, 2), ("US", 50, 2)], 3.7);
        let eu = p.cells.get_mut(&(0, "EU".to_string())).unwrap();
        eu.measures[0].1.add(20_000.0);
        let f = b.judge(&p, &label, t);
        assert!(!f.iter().any(|f| f.kind == "measure_spike"), "{f:?}");
        let f = b.judge(&pane(100, &[("EU", 50, 2), ("US", 50, 2)], 7.9), &label, t);
        assert!(f.iter().any(|f| f.kind == "measure_spike"), "{f:?}");
    }
}
