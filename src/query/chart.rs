//! Charts of query results, drawn server-side: a line chart for a series (time or numbers on
//! x), a bar chart for a breakdown (categories on x). SVG from `plotters`; PNG rasterised from
//! that SVG by `resvg` with the system's fonts. No browser, no network.

use std::sync::{Arc, OnceLock};

use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// At most this many bars (the largest kept) and series.
pub const MAX_BARS: usize = 40;
pub const MAX_SERIES: usize = 6;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Line for a series, bar for a breakdown.
    #[default]
    Auto,
    Line,
    Bar,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Png,
    Svg,
}

/// What to draw; every field may be left out.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ChartOptions {
    #[serde(default)]
    pub kind: Kind,
    /// The x column (default: the first time or text column, else the first column).
    pub x: Option<String>,
    /// The y columns (default: every numeric column but x).
    pub y: Option<Vec<String>>,
    pub title: Option<String>,
    #[serde(default)]
    pub format: Format,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    Time,
    Number,
    Category,
}

/// What was drawn: enough to redraw it elsewhere.
#[derive(Clone, Debug, Serialize)]
pub struct ChartSpec {
    pub kind: Kind,
    pub title: String,
    pub x: String,
    pub x_axis: Axis,
    pub y: Vec<String>,
    /// Points (or bars) drawn per series.
    pub points: usize,
    /// Rows left out (bars beyond [`MAX_BARS`], rows without a usable x).
    pub dropped: usize,
    pub width: u32,
    pub height: u32,
    pub mime_type: String,
}

/// A rendered chart.
pub struct Chart {
    pub spec: ChartSpec,
    pub bytes: Vec<u8>,
}

fn number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

fn time_ms(v: &Json) -> Option<f64> {
    match v {
        Json::String(s) => crate::store::value::parse_timestamp(s)
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .map(|d| {
                        d.and_hms_opt(0, 0, 0)
                            .expect("midnight exists")
                            .and_utc()
                            .timestamp_micros()
                    })
            })
            .map(|us| us as f64 / 1000.0),
        _ => None,
    }
}

fn axis_of(ty: Option<&str>, values: &[&Json]) -> Axis {
    let ty = ty.unwrap_or("").to_ascii_uppercase();
    if ty.starts_with("TIMESTAMP") || ty == "DATE" {
        return Axis::Time;
    }
    let present: Vec<&&Json> = values.iter().filter(|v| !v.is_null()).collect();
    if present.is_empty() {
        return Axis::Category;
    }
    if present.iter().all(|v| v.is_number()) {
        return Axis::Number;
    }
    if present.iter().all(|v| time_ms(v).is_some()) {
        return Axis::Time;
    }
    Axis::Category
}

/// Why a result cannot be drawn.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChartError {
    #[error("the result has no rows to chart")]
    NoRows,
    #[error("no column {name:?} in the result (columns: {columns})")]
    NoColumn { name: String, columns: String },
    #[error("nothing numeric to plot: give \"y\" (columns: {0})")]
    NothingNumeric(String),
    #[error("at most {MAX_SERIES} y columns can be drawn")]
    TooManySeries,
    #[error("column {0:?} is not numeric")]
    NotNumeric(String),
    #[error("no row has a usable x value for a line chart")]
    NoX,
    #[error("no numeric y values to plot")]
    NoY,
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("bad SVG: {0}")]
    Svg(String),
    #[error("empty image")]
    Empty,
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// Draws `rows` (with `columns` and, when known, their SQL types).
pub fn render(
    columns: &[String],
    types: &[Option<String>],
    rows: &[Vec<Json>],
    opts: &ChartOptions,
) -> Result<Chart, ChartError> {
    if columns.is_empty() || rows.is_empty() {
        return Err(ChartError::NoRows);
    }
    let col = |name: &str| -> Result<usize, ChartError> {
        columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| ChartError::NoColumn {
                name: name.to_string(),
                columns: columns.join(", "),
            })
    };
    let column_values = |i: usize| -> Vec<&Json> { rows.iter().filter_map(|r| r.get(i)).collect() };
    let axes: Vec<Axis> = (0..columns.len())
        .map(|i| axis_of(types.get(i).and_then(|t| t.as_deref()), &column_values(i)))
        .collect();
    let x = match &opts.x {
        Some(name) => col(name)?,
        None => (0..columns.len())
            .find(|&i| axes[i] != Axis::Number)
            .unwrap_or(0),
    };
    let y: Vec<usize> = match &opts.y {
        Some(names) if !names.is_empty() => {
            names.iter().map(|n| col(n)).collect::<Result<_, _>>()?
        }
        _ => (0..columns.len())
            .filter(|&i| i != x && axes[i] == Axis::Number)
            .collect(),
    };
    if y.is_empty() {
        return Err(ChartError::NothingNumeric(columns.join(", ")));
    }
    if y.len() > MAX_SERIES {
        return Err(ChartError::TooManySeries);
    }
    for &i in &y {
        if axes[i] != Axis::Number {
            return Err(ChartError::NotNumeric(columns[i].clone()));
        }
    }
    let x_axis = axes[x];
    let kind = match opts.kind {
        Kind::Auto if x_axis == Axis::Category => Kind::Bar,
        Kind::Auto => Kind::Line,
        k => k,
    };
    let width = opts.width.unwrap_or(800).clamp(200, 2000);
    let bars = rows.len().min(MAX_BARS);
    let default_height = if kind == Kind::Bar && bars > 8 {
        // Horizontal bars: room for every label.
        (90 + bars as u32 * 18).max(450)
    } else {
        450
    };
    let height = opts.height.unwrap_or(default_height).clamp(150, 1500);
    let title = opts.title.clone().unwrap_or_else(|| {
        format!(
            "{} by {}",
            y.iter()
                .map(|&i| columns[i].as_str())
                .collect::<Vec<_>>()
                .join(", "),
            columns[x]
        )
    });
    let names: Vec<String> = y.iter().map(|&i| columns[i].clone()).collect();
    let (svg, points, dropped) = match kind {
        Kind::Bar | Kind::Auto => bar_svg(rows, x, &y, &names, &title, width, height)?,
        Kind::Line => line_svg(rows, x, x_axis, &y, &names, &title, width, height)?,
    };
    let (bytes, mime) = match opts.format {
        Format::Svg => (svg.into_bytes(), "image/svg+xml"),
        Format::Png => (png_of(&svg)?, "image/png"),
    };
    Ok(Chart {
        spec: ChartSpec {
            kind,
            title,
            x: columns[x].clone(),
            x_axis,
            y: names,
            points,
            dropped,
            width,
            height,
            mime_type: mime.into(),
        },
        bytes,
    })
}

const PALETTE: [RGBColor; MAX_SERIES] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn padded(lo: f64, hi: f64, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = if from_zero {
        (lo.min(0.0), hi.max(0.0))
    } else {
        (lo, hi)
    };
    if (hi - lo).abs() < f64::EPSILON {
        lo -= 1.0;
        hi += 1.0;
    }
    let pad = (hi - lo) * 0.05;
    (
        if from_zero && lo == 0.0 {
            0.0
        } else {
            lo - pad
        },
        hi + pad,
    )
}

/// The series legend, boxed, in the upper right.
fn legend<'a, 'b: 'a>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
) -> Result<(), ChartError> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(err)
}

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(e.to_string())
}

#[allow(clippy::too_many_arguments)]
fn line_svg(
    rows: &[Vec<Json>],
    x: usize,
    x_axis: Axis,
    y: &[usize],
    names: &[String],
    title: &str,
    width: u32,
    height: u32,
) -> Result<(String, usize, usize), ChartError> {
    let xv = |r: &Vec<Json>| -> Option<f64> {
        let v = r.get(x)?;
        match x_axis {
            Axis::Time => time_ms(v),
            Axis::Number => number(v),
            Axis::Category => None,
        }
    };
    let mut pts: Vec<(f64, &Vec<Json>)> = rows.iter().filter_map(|r| Some((xv(r)?, r))).collect();
    let dropped = rows.len() - pts.len();
    if pts.is_empty() {
        return Err(ChartError::NoX);
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let series: Vec<Vec<(f64, f64)>> = y
        .iter()
        .map(|&c| {
            pts.iter()
                .filter_map(|(xv, r)| Some((*xv, number(r.get(c)?)?)))
                .collect()
        })
        .collect();
    let (x0, x1) = (pts[0].0, pts[pts.len() - 1].0);
    let ys = series.iter().flatten().map(|p| p.1);
    let (ylo, yhi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !ylo.is_finite() {
        return Err(ChartError::NoY);
    }
    let (ylo, yhi) = padded(ylo, yhi, ylo >= 0.0);
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x1 + 1.0)
    };
    let span_ms = x1 - x0;
    let fmt_x = move |v: &f64| -> String {
        match x_axis {
            Axis::Time => {
                let t = chrono::DateTime::from_timestamp_millis(*v as i64).unwrap_or_default();
                if span_ms > 2.0 * 86_400_000.0 {
                    t.format("%m-%d").to_string()
                } else if span_ms > 3_600_000.0 * 20.0 {
                    t.format("%m-%d %H:%M").to_string()
                } else if span_ms > 600_000.0 {
                    t.format("%H:%M").to_string()
                } else {
                    t.format("%H:%M:%S").to_string()
                }
            }
            _ => short(*v),
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, ylo..yhi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&|v| short(*v))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let drawn = chart
                .draw_series(LineSeries::new(s.iter().copied(), color.stroke_width(2)))
                .map_err(err)?;
            if series.len() > 1 {
                drawn.label(names[i].clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            }
            if s.len() <= 60 {
                chart
                    .draw_series(s.iter().map(|&p| Circle::new(p, 2, color.filled())))
                    .map_err(err)?;
            }
        }
        if series.len() > 1 {
            legend(&mut chart)?;
        }
        root.present().map_err(err)?;
    }
    Ok((svg, pts.len(), dropped))
}

fn bar_svg(
    rows: &[Vec<Json>],
    x: usize,
    y: &[usize],
    names: &[String],
    title: &str,
    width: u32,
    height: u32,
) -> Result<(String, usize, usize), ChartError> {
    let label = |r: &Vec<Json>| -> String {
        match r.get(x) {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Null) | None => "(null)".into(),
            Some(v) => v.to_string(),
        }
    };
    let mut bars: Vec<(String, Vec<f64>)> = rows
        .iter()
        .map(|r| {
            (
                label(r),
                y.iter()
                    .map(|&c| r.get(c).and_then(number).unwrap_or(0.0))
                    .collect(),
            )
        })
        .collect();
    let dropped = bars.len().saturating_sub(MAX_BARS);
    if dropped > 0 {
        // Keep the largest bars (by the first series), in their original order.
        let mut idx: Vec<usize> = (0..bars.len()).collect();
        idx.sort_by(|&a, &b| bars[b].1[0].abs().total_cmp(&bars[a].1[0].abs()));
        let keep: std::collections::BTreeSet<usize> = idx.into_iter().take(MAX_BARS).collect();
        bars = bars
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, b)| b)
            .collect();
    }
    let n = bars.len();
    let vals = bars.iter().flat_map(|b| b.1.iter().copied());
    let (lo, hi) = vals.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = padded(lo, hi, true);
    let labels: Vec<String> = bars
        .iter()
        .map(|b| {
            let l = &b.0;
            if l.chars().count() > 20 {
                format!("{}…", l.chars().take(19).collect::<String>())
            } else {
                l.clone()
            }
        })
        .collect();
    let groups = y.len() as f64;
    // Many categories read better as horizontal bars (labels on the left, first row on top).
    let horizontal = n > 8;
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let label_for = |v: &f64| -> String {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                let i = i as usize;
                labels[if horizontal { labels.len() - 1 - i } else { i }].clone()
            } else {
                String::new()
            }
        };
        let w = 0.8 / groups;
        // (category position, value) → rectangle corners in chart coordinates.
        let bar = |i: usize, g: usize, v: f64| -> [(f64, f64); 2] {
            let pos = if horizontal {
                (n - 1 - i) as f64
            } else {
                i as f64
            };
            let a = pos - 0.4 + w * g as f64;
            let b = a + w * 0.92;
            if horizontal {
                [(0.0, a), (v, b)]
            } else {
                [(a, 0.0), (b, v)]
            }
        };
        let cats = -0.5f64..(n as f64 - 0.5);
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(if horizontal {
                (longest * 7 + 16).min(180)
            } else {
                64
            });
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                for (g, name) in names.iter().enumerate() {
                    let color = PALETTE[g % PALETTE.len()];
                    let drawn = chart
                        .draw_series(
                            bars.iter()
                                .enumerate()
                                .map(|(i, b)| Rectangle::new(bar(i, g, b.1[g]), color.filled())),
                        )
                        .map_err(err)?;
                    if names.len() > 1 {
                        drawn.label(name.clone()).legend(move |(x, y)| {
                            Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                        });
                    }
                }
                if names.len() > 1 {
                    legend(&mut chart)?;
                }
            }};
        }
        if horizontal {
            let mut chart = builder.build_cartesian_2d(lo..hi, cats).map_err(err)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .y_labels(n)
                .y_label_formatter(&label_for)
                .x_labels(8)
                .x_label_formatter(&|v| short(*v))
                .draw()
                .map_err(err)?;
            draw!(chart);
        } else {
            let mut chart = builder.build_cartesian_2d(cats, lo..hi).map_err(err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .x_labels(n.max(1))
                .x_label_formatter(&label_for)
                .y_labels(8)
                .y_label_formatter(&|v| short(*v))
                .draw()
                .map_err(err)?;
            draw!(chart);
        }
        root.present().map_err(err)?;
    }
    Ok((svg, n, dropped))
}

/// `1.2k`, `3.5M`, `0.25`.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The system's fonts, loaded once (a sans-serif face is needed for the labels).
fn fonts() -> Arc<resvg::usvg::fontdb::Database> {
    static DB: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_system_fonts();
        for family in ["DejaVu Sans", "Liberation Sans", "Noto Sans"] {
            if db
                .faces()
                .any(|f| f.families.iter().any(|(n, _)| n == family))
            {
                db.set_sans_serif_family(family);
                break;
            }
        }
        if db.is_empty() {
            tracing::warn!(
                "no system fonts found: chart labels will be missing (install fonts-dejavu-core)"
            );
        }
        Arc::new(db)
    })
    .clone()
}

fn png_of(svg: &str) -> Result<Vec<u8>, ChartError> {
    use resvg::{tiny_skia, usvg};
    let opts = usvg::Options {
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opts).map_err(|e| ChartError::Svg(e.to_string()))?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width(), size.height()).ok_or(ChartError::Empty)?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| ChartError::Png(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_series_is_a_line_and_a_breakdown_is_bars() {
        let cols = vec!["minute".to_string(), "n".to_string()];
        let rows = vec![
            vec![json!("2026-03-02T09:00:00Z"), json!(3)],
            vec![json!("2026-03-02T09:01:00Z"), json!(5)],
            vec![json!("2026-03-02T09:02:00Z"), json!(4)],
        ];
        let c = render(&cols, &[], &rows, &ChartOptions::default()).unwrap();
        assert_eq!(c.spec.kind, Kind::Line);
        assert_eq!(c.spec.x_axis, Axis::Time);
        assert_eq!(c.spec.points, 3);
        assert_eq!(&c.bytes[..8], b"\x89PNG\r\n\x1a\n");

        let cols = vec!["region".to_string(), "total".to_string()];
        let rows = vec![
            vec![json!("EMEA"), json!(10.5)],
            vec![json!("LATAM"), json!(7)],
        ];
        let opts = ChartOptions {
            format: Format::Svg,
            ..ChartOptions::default()
        };
        let c = render(&cols, &[], &rows, &opts).unwrap();
        assert_eq!(c.spec.kind, Kind::Bar);
        let svg = String::from_utf8(c.bytes).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("LATAM"));
    }

    #[test]
    fn nothing_numeric_is_a_clear_error() {
        let cols = vec!["region".to_string()];
        let rows = vec![vec![json!("EMEA")]];
        let e = render(&cols, &[], &rows, &ChartOptions::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("nothing numeric"), "{e}");
    }
}
