//! How far an answer's confidence can be trusted: answers scored against a question's gold
//! result (the shared evaluator's rules: column names ignored, each expected column must
//! equal some returned column, order only for `ORDER BY … LIMIT`, numbers within 1e-6
//! relative, a one-cell answer anywhere in a one-row result), counted per confidence band.

use serde_json::Value as Json;

/// One cell as a comparable value.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum Cell {
    Null,
    Num(f64),
    Text(String),
}

fn cell(v: &Json) -> Cell {
    match v {
        Json::Null => Cell::Null,
        Json::Bool(b) => Cell::Num(if *b { 1.0 } else { 0.0 }),
        Json::Number(n) => Cell::Num(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => match crate::store::value::parse_timestamp(s) {
            Some(us) if s.len() >= 10 && s.as_bytes().get(4) == Some(&b'-') => Cell::Num(us as f64),
            _ => match s.parse::<f64>() {
                Ok(f) => Cell::Num(f),
                Err(_) => Cell::Text(s.clone()),
            },
        },
        other => Cell::Text(other.to_string()),
    }
}

fn same(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Num(x), Cell::Num(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1e-9),
        _ => a == b,
    }
}

fn column(rows: &[Vec<Json>], i: usize) -> Vec<Cell> {
    rows.iter()
        .map(|r| r.get(i).map(cell).unwrap_or(Cell::Null))
        .collect()
}

fn sorted(mut v: Vec<Cell>) -> Vec<Cell> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
}

/// Whether `got` answers what `expected` holds (`ordered`: the gold SQL orders and limits).
pub fn matches(expected: &[Vec<Json>], got: &[Vec<Json>], ordered: bool) -> bool {
    let m = expected.first().map(Vec::len).unwrap_or(0);
    if m == 1 && expected.len() == 1 && got.len() == 1 {
        let e = cell(&expected[0][0]);
        if got[0].iter().any(|g| same(&e, &cell(g))) {
            return true;
        }
    }
    if expected.len() != got.len() {
        return false;
    }
    if expected.is_empty() {
        return true;
    }
    let n = got.iter().map(Vec::len).max().unwrap_or(0);
    let mut taken = vec![false; n];
    for i in 0..m {
        let e = column(expected, i);
        let e = if ordered { e } else { sorted(e) };
        let hit = (0..n).find(|j| {
            if taken[*j] {
                return false;
            }
            let g = column(got, *j);
            let g = if ordered { g } else { sorted(g) };
            e.iter().zip(&g).all(|(a, b)| same(a, b))
        });
        match hit {
            Some(j) => taken[j] = true,
            None => return false,
        }
    }
    true
}

/// Whether a gold SQL orders and limits (then row order counts).
pub fn is_ordered(sql: &str) -> bool {
    let s = sql.to_lowercase();
    s.contains("order by") && s.contains(" limit ")
}

/// Counts of answers per confidence band, and clarifications.
#[derive(Clone, Debug, Default)]
pub struct Reliability {
    /// (lower bound, right, wrong), bands of 0.1 from 0.0 to 0.9 and ≥ 0.9.
    pub bands: Vec<(f32, usize, usize)>,
    pub clarified: usize,
}

impl Reliability {
    pub fn new() -> Self {
        Self {
            bands: (0..10).map(|i| (i as f32 / 10.0, 0, 0)).collect(),
            clarified: 0,
        }
    }

    pub fn add(&mut self, confidence: f32, right: bool) {
        let i = ((confidence * 10.0).floor() as usize).min(9);
        if right {
            self.bands[i].1 += 1;
        } else {
            self.bands[i].2 += 1;
        }
    }

    /// Right answers among those with at least this confidence.
    pub fn precision_at(&self, min: f32) -> (usize, usize) {
        self.bands
            .iter()
            .filter(|b| b.0 + 1e-6 >= min)
            .fold((0, 0), |(r, n), b| (r + b.1, n + b.1 + b.2))
    }

    /// The table as printed by `streamq bench ask`.
    pub fn table(&self) -> String {
        let mut out = String::from("confidence   answers  right  wrong  precision\n");
        for (lo, r, w) in &self.bands {
            if r + w == 0 {
                continue;
            }
            out.push_str(&format!(
                "[{lo:.1}, {:.1})  {:>8} {:>6} {:>6}  {:>8.3}\n",
                lo + 0.1,
                r + w,
                r,
                w,
                *r as f64 / (r + w) as f64
            ));
        }
        let (r, n) = self.precision_at(0.8);
        out.push_str(&format!(
            "confidence >= 0.8: {r}/{n} right ({:.1} %); clarified: {}\n",
            if n > 0 {
                100.0 * r as f64 / n as f64
            } else {
                100.0
            },
            self.clarified
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_match_by_content_not_name_or_position() {
        let e = vec![vec![json!("a"), json!(1)], vec![json!("b"), json!(2)]];
        let g = vec![vec![json!(2), json!("b")], vec![json!(1), json!("a")]];
        assert!(matches(&e, &g, false));
        assert!(!matches(&e, &g[..1], false));
        let wrong = vec![vec![json!(3), json!("b")], vec![json!(1), json!("a")]];
        assert!(!matches(&e, &wrong, false));
    }

    #[test]
    fn one_cell_may_sit_anywhere_in_a_one_row_answer() {
        assert!(matches(
            &[vec![json!(12.5)]],
            &[vec![json!("x"), json!(12.500000001)]],
            false
        ));
        assert!(!matches(&[vec![json!(12.5)]], &[vec![json!(13)]], false));
    }

    #[test]
    fn order_counts_only_when_ordered() {
        let e = vec![vec![json!("a")], vec![json!("b")]];
        let g = vec![vec![json!("b")], vec![json!("a")]];
        assert!(matches(&e, &g, false));
        assert!(!matches(&e, &g, true));
    }

    #[test]
    fn bands_and_precision() {
        let mut r = Reliability::new();
        r.add(0.95, true);
        r.add(0.85, false);
        r.add(0.4, true);
        assert_eq!(r.precision_at(0.8), (1, 2));
        assert!(r.table().contains("confidence >= 0.8: 1/2"));
    }
}
