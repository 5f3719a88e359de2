//! What the detectors tell subscribers: an [`Insight`], its numbers and a sentence built only
//! from them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::value::format_timestamp_us;

/// A window of event time.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Span {
    pub start: String,
    pub end: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Span {
    pub fn new(start_ms: i64, end_ms: i64) -> Span {
        Span {
            start: format_timestamp_us(start_ms * 1000),
            end: format_timestamp_us(end_ms * 1000),
            start_ms,
            end_ms,
        }
    }

    /// `08:35–08:40 UTC`.
    pub fn label(&self) -> String {
        format!("{}–{} UTC", clock(self.start_ms), clock(self.end_ms))
    }
}

/// `HH:MM` (or `HH:MM:SS` off the minute) of an epoch-ms instant, UTC.
pub fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Insight {
    pub id: u64,
    /// `share_shift`, `volume_spike`, `volume_drop`, `measure_spike`, `null_rate`,
    /// `new_column`, `vanished_column`, `stall`, `stall_ended`, `late_events`, `redelivery`.
    pub kind: String,
    pub table: String,
    /// The dimension values it is about (`{"region": "LATAM", "status": "declined"}`).
    pub dimension: BTreeMap<String, String>,
    pub window: Span,
    pub observed: f64,
    pub expected: f64,
    /// How unusual (robust z-score or its equivalent); operational findings carry the count.
    pub score: f64,
    pub sentence: String,
    /// Related findings in the same window and group, as sentences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    /// Wall-clock time it was found.
    pub detected_at: String,
}

/// `41 %` / `4.2 %` / `0.3 %`.
pub fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p >= 10.0 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// A number as people read it: 212, 2 781.44, 0.35.
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return group(format!("{x:.0}"));
    }
    let s = if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };

    match s.split_once('.') {
        Some((i, f)) => format!("{}.{f}", group(i.to_string())),
        None => group(s),
    }
}

fn group(int: String) -> String {
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d.to_string()),
        None => ("", int),
    };
    if digits.len() <= 4 {
        return format!("{sign}{digits}");
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_clocks_read_naturally() {
        assert_eq!(pct(0.41), "41 %");
        assert_eq!(pct(0.042), "4.2 %");
        assert_eq!(num(212.0), "212");
        assert_eq!(num(2781.44), "2781.44");
        assert_eq!(num(27814.4), "27 814.40");
        assert_eq!(clock(1_772_440_500_000), "08:35");
        assert_eq!(
            Span::new(1_772_440_500_000, 1_772_440_800_000).label(),
            "08:35–08:40 UTC"
        );
    }
}
