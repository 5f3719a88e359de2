//! Time expressions in questions: ranges ("last 2 hours", "today", "between 09:15 and 09:25
//! UTC", "since 9:00", "before 08:43") relative to `as_of`, and buckets ("per minute",
//! "hourly", "which minute").

use super::plan::TimeUnit;
use super::text::{TokKind, Token, mark_used};

/// What the time words of a question say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeSpec {
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub label: String,
    pub bucket: Option<TimeUnit>,
    /// Bucket width in units ("per 5 minutes", "in 15-minute intervals"); 1 by default.
    pub bucket_size: u32,
    /// The bucket is what the question asks for ("which minute had the most …").
    pub bucket_is_target: bool,
}

pub fn unit_of(w: &str) -> Option<TimeUnit> {
    Some(match w {
        "second" | "seconds" | "sec" | "secs" | "s" => TimeUnit::Second,
        "minute" | "minutes" | "min" | "mins" | "m" => TimeUnit::Minute,
        "hour" | "hours" | "hr" | "hrs" | "h" => TimeUnit::Hour,
        "day" | "days" => TimeUnit::Day,
        "week" | "weeks" => TimeUnit::Week,
        _ => return None,
    })
}

fn bucket_word(w: &str) -> Option<TimeUnit> {
    Some(match w {
        "hourly" => TimeUnit::Hour,
        "daily" => TimeUnit::Day,
        "weekly" => TimeUnit::Week,
        "minutely" => TimeUnit::Minute,
        _ => return None,
    })
}

/// Small numbers written as words.
pub fn number_word(w: &str) -> Option<f64> {
    let words = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    if let Some(i) = words.iter().position(|x| *x == w) {
        return Some(i as f64);
    }
    Some(match w {
        "thirty" => 30.0,
        "forty" => 40.0,
        "fifty" => 50.0,
        "sixty" => 60.0,
        "ninety" => 90.0,
        "a" | "an" => 1.0,
        "half" => 0.5,
        _ => return None,
    })
}

pub fn number_of(t: &Token) -> Option<f64> {
    match t.kind {
        TokKind::Number => t.lower.parse().ok(),
        TokKind::Word => number_word(&t.lower),
        _ => None,
    }
}

/// A time of day at token `i` ("09:15", "9:30am", "9am", "9 pm", a bare hour "9" when no
/// other word follows it): the instant on `as_of`'s day and the tokens it takes.
fn clock_at(toks: &[Token], i: usize, day_start: i64) -> Option<(i64, usize)> {
    let t = toks.get(i)?;
    let next = toks.get(i + 1).map(|t| t.lower.as_str()).unwrap_or("");
    match t.lower.as_str() {
        "midnight" => return Some((day_start, 1)),
        "noon" | "midday" => return Some((day_start + 12 * 3_600_000_000, 1)),
        _ => {}
    }
    let mut text = t.lower.clone();
    let mut width = 1;
    let mut meridiem = None;
    for suf in ["am", "pm"] {
        if let Some(b) = text.strip_suffix(suf)
            && !b.is_empty()
            && b.chars().all(|c| c.is_ascii_digit() || c == ':')
        {
            meridiem = Some(suf);
            text = b.to_string();
        }
    }
    if meridiem.is_none() && matches!(next, "am" | "pm") {
        meridiem = Some(if next == "am" { "am" } else { "pm" });
        width = 2;
    }
    if !text.chars().all(|c| c.is_ascii_digit() || c == ':') || text.is_empty() {
        return None;
    }
    let bare = !text.contains(':') && meridiem.is_none();
    if bare {
        // "between 2 and 5 items" is not a time: a bare hour must end the clause
        let after = toks.get(i + 1);
        if after.is_some_and(|a| {
            a.kind == TokKind::Word
                && !matches!(
                    a.lower.as_str(),
                    "utc" | "gmt" | "z" | "today" | "and" | "to" | "until" | "till" | "o"
                )
        }) {
            return None;
        }
    }
    let mut it = text.split(':');
    let mut h: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next().map(|x| x.parse().unwrap_or(0)).unwrap_or(0);
    let s: i64 = it.next().map(|x| x.parse().unwrap_or(0)).unwrap_or(0);
    match meridiem {
        Some("pm") if h < 12 => h += 12,
        Some("am") if h == 12 => h = 0,
        _ => {}
    }
    (h < 24 && m < 60).then(|| (day_start + ((h * 60 + m) * 60 + s) * 1_000_000, width))
}

fn fmt_clock(us: i64) -> String {
    crate::store::value::format_timestamp_us(us)
        .get(11..16)
        .unwrap_or("")
        .to_string()
}

/// Finds the time expressions, marking their tokens used.
pub fn parse(toks: &[Token], used: &mut [bool], as_of_us: i64) -> TimeSpec {
    let day = 86_400_000_000i64;
    let day_start = as_of_us.div_euclid(day) * day;
    let mut spec = TimeSpec::default();
    let w = |i: usize| toks.get(i).map(|t| t.lower.as_str()).unwrap_or("");
    let n = toks.len();
    let mut i = 0;
    while i < n {
        if used[i] {
            i += 1;
            continue;
        }
        let lw = w(i);
        // "the 09:00–10:00 hour", "10:05–10:06": two adjacent clock times are a range;
        // "the 11:00 hour": that clock hour
        if toks[i].kind == TokKind::Clock
            && let Some((a, wa)) = clock_at(toks, i, day_start)
        {
            let next = i + wa;
            let hour_word = |k: usize| matches!(w(k), "hour" | "window" | "slot" | "period");
            if toks.get(next).is_some_and(|t| t.kind == TokKind::Clock)
                && let Some((b, wb)) = clock_at(toks, next, day_start)
                && b > a
            {
                let mut end = next + wb;
                if hour_word(end) {
                    end += 1;
                }
                spec.start_us = Some(a);
                spec.end_us = Some(b);
                spec.label = format!("between {} and {} UTC", fmt_clock(a), fmt_clock(b));
                mark_used(used, i..end);
                mark_before(toks, used, i, &["the", "in", "during", "for", "of", "over"]);
                i = end;
                continue;
            }
            if hour_word(next) && w(next) == "hour" {
                let b = a + 3_600_000_000;
                spec.start_us = Some(a);
                spec.end_us = Some(b);
                spec.label = format!("between {} and {} UTC", fmt_clock(a), fmt_clock(b));
                mark_used(used, i..next + 1);
                mark_before(toks, used, i, &["the", "in", "during", "for", "of", "over"]);
                i = next + 1;
                continue;
            }
        }
        // "this morning", "this afternoon", "this evening", "tonight"
        if let Some((from_h, to_h)) = match (lw, w(i + 1)) {
            ("this", "morning") => Some((0, 12)),
            ("this", "afternoon") => Some((12, 18)),
            ("this", "evening") | ("tonight", _) => Some((18, 24)),
            _ => None,
        } {
            let width = if lw == "tonight" { 1 } else { 2 };
            spec.start_us = Some(day_start + from_h * 3_600_000_000);
            // a part of the day still under way ends at as_of, which every range does
            let end = day_start + to_h * 3_600_000_000;
            spec.end_us = (end <= as_of_us).then_some(end);
            spec.label = toks[i..i + width]
                .iter()
                .map(|t| t.lower.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            mark_used(used, i..i + width);
            i += width;
            continue;
        }
        // "in 2025": that calendar year
        if toks[i].kind == TokKind::Number
            && toks[i].lower.len() == 4
            && i > 0
            && matches!(w(i - 1), "in" | "during" | "for" | "of")
            && let Ok(y) = toks[i].lower.parse::<i32>()
            && (1970..=2200).contains(&y)
            && let (Some(a), Some(b)) = (year_start_us(y), year_start_us(y + 1))
        {
            spec.start_us = Some(a);
            spec.end_us = Some(b);
            spec.label = format!("in {y}");
            mark_used(used, i - 1..i + 1);
            i += 1;
            continue;
        }
        // last / past / previous [N] unit; "the past quarter hour", "the last half hour"
        if matches!(lw, "last" | "past" | "previous" | "trailing" | "prior")
            && let Some((mins, width)) = match (w(i + 1), w(i + 2)) {
                ("quarter", "hour") => Some((15, 3)),
                ("half", "hour") => Some((30, 3)),
                ("half", "an") if w(i + 3) == "hour" => Some((30, 4)),
                _ => None,
            }
        {
            spec.start_us = Some(as_of_us - mins * 60_000_000);
            spec.label = format!("in the last {mins} minutes");
            mark_used(used, i..i + width);
            mark_before(
                toks,
                used,
                i,
                &["the", "in", "over", "during", "for", "within"],
            );
            i += width;
            continue;
        }
        if matches!(lw, "last" | "past" | "previous" | "trailing" | "prior") {
            let (num, k) = match toks.get(i + 1).and_then(number_of) {
                Some(x) if w(i + 1) != "a" && w(i + 1) != "an" => (x, i + 2),
                _ => (1.0, i + 1),
            };
            if let Some(u) = unit_of(w(k)) {
                let micros = (num * u.micros() as f64) as i64;
                spec.start_us = Some(as_of_us - micros);
                spec.label = if num == 1.0 {
                    format!("in the last {}", u.name())
                } else {
                    format!("in the last {} {}s", num, u.name())
                };
                mark_used(used, i..k + 1);
                mark_before(
                    toks,
                    used,
                    i,
                    &["the", "in", "over", "during", "for", "within"],
                );
                i = k + 1;
                continue;
            }
        }
        // N unit ago → since then
        if let Some(num) = toks.get(i).and_then(number_of)
            && let Some(u) = unit_of(w(i + 1))
            && w(i + 2) == "ago"
        {
            spec.start_us = Some(as_of_us - (num * u.micros() as f64) as i64);
            spec.label = format!("since {} {}s ago", num, u.name());
            mark_used(used, i..i + 3);
            i += 3;
            continue;
        }
        match lw {
            "today" => {
                spec.start_us = Some(day_start);
                spec.label = "today".into();
                used[i] = true;
                mark_before(toks, used, i, &["so", "far", "for", "of"]);
            }
            "yesterday" => {
                spec.start_us = Some(day_start - day);
                spec.end_us = Some(day_start);
                spec.label = "yesterday".into();
                used[i] = true;
            }
            "this" if matches!(w(i + 1), "hour" | "minute" | "day" | "week") => {
                let u = unit_of(w(i + 1)).expect("unit");
                let size = u.micros();
                spec.start_us = Some(as_of_us.div_euclid(size) * size);
                spec.label = format!("this {}", u.name());
                used[i] = true;
                used[i + 1] = true;
            }
            "between" | "from" => {
                if let Some((a, wa)) = clock_at(toks, i + 1, day_start)
                    && matches!(w(i + 1 + wa), "and" | "to" | "until" | "till")
                    && let Some((b, wb)) = clock_at(toks, i + 2 + wa, day_start)
                {
                    spec.start_us = Some(a);
                    spec.end_us = Some(b);
                    spec.label = format!("between {} and {} UTC", fmt_clock(a), fmt_clock(b));
                    let end = i + 2 + wa + wb;
                    mark_used(used, i..end);
                    i = end;
                    continue;
                } else if lw == "from"
                    && let Some((a, wa)) = clock_at(toks, i + 1, day_start)
                {
                    spec.start_us = Some(a);
                    spec.label = format!("since {} UTC", fmt_clock(a));
                    mark_used(used, i..i + 1 + wa);
                }
            }
            "since" | "after" => {
                if let Some((a, wa)) = clock_at(toks, i + 1, day_start) {
                    spec.start_us = Some(a);
                    spec.label = format!("since {} UTC", fmt_clock(a));
                    mark_used(used, i..i + 1 + wa);
                }
            }
            "before" | "until" | "till" | "by" => {
                if let Some((b, wb)) = clock_at(toks, i + 1, day_start) {
                    spec.end_us = Some(b);
                    spec.label = if spec.label.is_empty() {
                        format!("before {} UTC", fmt_clock(b))
                    } else {
                        format!("{}, before {} UTC", spec.label, fmt_clock(b))
                    };
                    mark_used(used, i..i + 1 + wb);
                }
            }
            "utc" | "gmt" | "z" => used[i] = true,
            _ => {}
        }
        i += 1;
    }
    // Buckets: "per minute", "each hour", "by hour", "hourly", "which minute", "per-minute",
    // and wider ones: "per 5 minutes", "every 15 minutes", "in 10-minute intervals".
    spec.bucket_size = 1;
    for i in 0..n {
        if used[i] {
            continue;
        }
        if let Some(size) = toks.get(i).and_then(number_of)
            && size >= 1.0
            && size.fract() == 0.0
            && let Some(u) = unit_of(w(i + 1))
        {
            let prev = if i > 0 { w(i - 1) } else { "" };
            let after = w(i + 2);
            let per = matches!(prev, "per" | "every" | "each" | "by");
            let intervals = matches!(
                after,
                "intervals"
                    | "interval"
                    | "buckets"
                    | "bucket"
                    | "windows"
                    | "window"
                    | "slots"
                    | "periods"
                    | "blocks"
                    | "bins"
            );
            if per || intervals {
                spec.bucket = Some(u);
                spec.bucket_size = size as u32;
                let start = if per { i - 1 } else { i };
                let end = if intervals { i + 3 } else { i + 2 };
                mark_used(used, start..end);
                mark_before(toks, used, start, &["in", "for", "of", "into"]);
                continue;
            }
        }
        if let Some(u) = bucket_word(w(i)) {
            spec.bucket = Some(u);
            used[i] = true;
            continue;
        }
        if let Some(u) = unit_of(w(i))
            && w(i).len() > 1
        {
            let prev = if i > 0 { w(i - 1) } else { "" };
            if matches!(
                prev,
                "per"
                    | "each"
                    | "every"
                    | "by"
                    | "which"
                    | "what"
                    | "a"
                    | "peak"
                    | "busiest"
                    | "quietest"
            ) {
                spec.bucket = Some(u);
                spec.bucket_is_target =
                    matches!(prev, "which" | "what" | "peak" | "busiest" | "quietest");
                used[i] = true;
                used[i - 1] = true;
                mark_before(toks, used, i - 1, &["in", "for", "of"]);
            }
        }
    }
    spec
}

/// Microseconds at the start of 1 January of `year`, UTC.
fn year_start_us(year: i32) -> Option<i64> {
    chrono::NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

/// Marks the run of filler words just before `i` used ("so far today", "in the last hour").
fn mark_before(toks: &[Token], used: &mut [bool], i: usize, fillers: &[&str]) {
    let mut k = i;
    while k > 0 && !used[k - 1] && fillers.contains(&toks[k - 1].lower.as_str()) {
        used[k - 1] = true;
        k -= 1;
    }
}
