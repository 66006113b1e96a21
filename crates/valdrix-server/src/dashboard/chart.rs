//! Daily spend drawn as SVG bars, server-side: no script, no front-end build.
//!
//! Amounts stay exact decimals everywhere else; here they become pixel heights, the one place a
//! float is right (a bar's height is not money). Preliminary days (not final yet: the provider
//! may still restate them) sit on a shaded band and are drawn lighter.

use chrono::{Datelike, NaiveDate};
use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::money;

/// One day's bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// The day.
    pub day: NaiveDate,
    /// Its total.
    pub amount: Decimal,
    /// Not final yet.
    pub preliminary: bool,
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 12.0;

/// A round number at or above `max` for the top of the axis (1, 2, 2.5 or 5 × 10ⁿ).
fn axis_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|v| *v >= max).unwrap_or(10.0 * magnitude)
}

/// The chart of `bars` (consecutive days) in `currency`; `total` labels it for tests and
/// screen readers.
pub fn daily(bars: &[Bar], currency: &str) -> Markup {
    let total: Decimal = bars.iter().map(|b| b.amount).sum();
    if bars.is_empty() {
        return html! { p.empty { "No spend in this range." } };
    }
    let max = bars.iter().map(|b| b.amount.to_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    let top = axis_top(max);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / bars.len() as f64;
    let bar_w = (step * 0.8).max(1.0);
    let y = |v: f64| TOP + plot_h - (v / top * plot_h).clamp(0.0, plot_h);
    let first_prelim = bars.iter().position(|b| b.preliminary);
    let label = format!(
        "Daily spend in {currency}, {} to {}: {} in total",
        bars[0].day,
        bars[bars.len() - 1].day,
        money(total, currency)
    );
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label)
            data-total=(total.normalize().to_string()) data-currency=(currency) data-days=(bars.len()) {
            title { (label) }
            @if let Some(i) = first_prelim {
                rect.preliminary-band x=(format!("{:.1}", LEFT + step * i as f64)) y=(TOP)
                    width=(format!("{:.1}", step * (bars.len() - i) as f64)) height=(plot_h) {}
                // Right-aligned to the band's end, so a narrow band's label stays in the chart.
                text.band-label x=(format!("{:.1}", WIDTH - 10.0)) y=(TOP + 12.0) text-anchor="end" { "preliminary →" }
            }
            @for frac in [0.0, 0.5, 1.0] {
                line.grid x1=(LEFT) x2=(WIDTH - 8.0) y1=(format!("{:.1}", y(top * frac))) y2=(format!("{:.1}", y(top * frac))) {}
                text.axis x=(LEFT - 6.0) y=(format!("{:.1}", y(top * frac) + 4.0)) text-anchor="end" {
                    (compact(top * frac))
                }
            }
            @for (i, b) in bars.iter().enumerate() {
                @let v = b.amount.to_f64().unwrap_or(0.0).max(0.0);
                rect class=(if b.preliminary { "bar preliminary" } else { "bar" })
                    x=(format!("{:.1}", LEFT + step * i as f64 + (step - bar_w) / 2.0))
                    y=(format!("{:.1}", y(v))) width=(format!("{bar_w:.1}"))
                    height=(format!("{:.1}", TOP + plot_h - y(v)))
                    data-day=(b.day.to_string()) data-amount=(b.amount.normalize().to_string()) {
                    title { (b.day) ": " (money(b.amount, currency)) @if b.preliminary { " (preliminary)" } }
                }
                @if b.day.day() == 1 || i == 0 {
                    text.axis x=(format!("{:.1}", LEFT + step * i as f64)) y=(HEIGHT - 6.0) {
                        (b.day.format("%b %-d"))
                    }
                }
            }
        }
    }
}

/// How many colours a stacked chart has besides grey.
pub const SERIES_COLOURS: usize = 8;

/// One series of a stacked chart: its name and an amount per column.
#[derive(Debug, Clone)]
pub struct Series {
    /// The name (a team).
    pub name: String,
    /// One amount per column (negative amounts are drawn as zero).
    pub amounts: Vec<Decimal>,
    /// Its colour: 0 to [`SERIES_COLOURS`] − 1, or [`SERIES_COLOURS`] for grey.
    pub colour: usize,
}

/// One series' part of a column.
struct Segment<'a> {
    colour: usize,
    name: &'a str,
    amount: Decimal,
    bottom: f64,
    top: f64,
}

/// Columns (`labels`, months) of stacked bars, one colour per series, with a legend; amounts in
/// `currency`.
pub fn stacked(labels: &[String], series: &[Series], currency: &str) -> Markup {
    if labels.is_empty() || series.is_empty() {
        return html! { p.empty { "Nothing allocated in this range." } };
    }
    let column = |i: usize| -> f64 {
        series.iter().map(|s| s.amounts.get(i).and_then(|a| a.to_f64()).unwrap_or(0.0).max(0.0)).sum()
    };
    let max = (0..labels.len()).map(column).fold(0.0, f64::max);
    let top = axis_top(max);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / labels.len() as f64;
    let bar_w = (step * 0.6).max(2.0);
    let h = |v: f64| (v / top * plot_h).clamp(0.0, plot_h);
    let label = format!("Allocated spend in {currency} by target, {} to {}", labels[0], labels[labels.len() - 1]);
    // Each column's segments, bottom up, as heights in pixels.
    let segments = |i: usize| {
        let mut base = 0.0;
        let mut out = vec![];
        for s in series {
            let amount = s.amounts.get(i).copied().unwrap_or_default();
            let v = amount.to_f64().unwrap_or(0.0).max(0.0);
            if v > 0.0 {
                out.push(Segment {
                    colour: s.colour.min(SERIES_COLOURS),
                    name: &s.name,
                    amount,
                    bottom: h(base),
                    top: h(base + v),
                });
                base += v;
            }
        }
        out
    };
    html! {
        svg.chart.stacked viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label) data-currency=(currency) {
            title { (label) }
            @for frac in [0.0, 0.5, 1.0] {
                @let y = TOP + plot_h - h(top * frac);
                line.grid x1=(LEFT) x2=(WIDTH - 8.0) y1=(format!("{y:.1}")) y2=(format!("{y:.1}")) {}
                text.axis x=(LEFT - 6.0) y=(format!("{:.1}", y + 4.0)) text-anchor="end" { (compact(top * frac)) }
            }
            @for (i, month) in labels.iter().enumerate() {
                g data-month=(month) {
                    @for seg in segments(i) {
                        rect class=(format!("seg s{}", seg.colour)) x=(format!("{:.1}", LEFT + step * i as f64 + (step - bar_w) / 2.0))
                            y=(format!("{:.1}", TOP + plot_h - seg.top)) width=(format!("{bar_w:.1}"))
                            height=(format!("{:.1}", seg.top - seg.bottom))
                            data-target=(seg.name) data-amount=(seg.amount.normalize().to_string()) {
                            title { (month) " · " (seg.name) ": " (money(seg.amount, currency)) }
                        }
                    }
                }
                text.axis x=(format!("{:.1}", LEFT + step * i as f64 + step / 2.0)) y=(HEIGHT - 6.0) text-anchor="middle" { (month) }
            }
        }
        ul.legend {
            @for s in series {
                li { span class=(format!("swatch s{}", s.colour.min(SERIES_COLOURS))) {} (s.name) }
            }
        }
    }
}

/// 12.3k, 4.5M: axis labels.
fn compact(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1}B", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_tops_at_a_round_number_above_the_largest_bar() {
        assert_eq!(axis_top(0.0), 1.0);
        assert_eq!(axis_top(730.0), 1000.0);
        assert_eq!(axis_top(1800.0), 2000.0);
        assert_eq!(axis_top(2400.0), 2500.0);
        assert_eq!(axis_top(5000.0), 5000.0);
    }

    #[test]
    fn preliminary_days_are_shaded_and_the_total_is_exact() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 10, n).unwrap_or_default();
        let bars = vec![
            Bar { day: d(1), amount: Decimal::new(1001, 2), preliminary: false },
            Bar { day: d(2), amount: Decimal::new(2002, 2), preliminary: true },
        ];
        let svg = daily(&bars, "USD").into_string();
        assert!(svg.contains("data-total=\"30.03\""), "{svg}");
        assert!(svg.contains("preliminary-band"));
        assert_eq!(svg.matches("class=\"bar preliminary\"").count(), 1);
    }
}
