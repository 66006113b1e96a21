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

/// One forecast day: the expected spend and its 80 % and 95 % bounds. Floats, as the model
/// makes them: a forecast is not a bill.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastDay {
    /// The day.
    pub day: NaiveDate,
    /// The expected spend.
    pub yhat: f64,
    /// The 80 % interval.
    pub lo80: f64,
    /// The 80 % interval's top.
    pub hi80: f64,
    /// The 95 % interval.
    pub lo95: f64,
    /// The 95 % interval's top.
    pub hi95: f64,
}

/// A forecast's figure for a data attribute or a label: two decimals.
fn cents(v: f64) -> String {
    format!("{:.2}", if v == 0.0 { 0.0 } else { v })
}

/// The chart of `bars` (consecutive days) in `currency`, and after the last final day the
/// `forecast` (consecutive days) as a dashed line in its 80 % and 95 % bands; `total` labels it
/// for tests and screen readers.
pub fn daily(bars: &[Bar], forecast: &[ForecastDay], currency: &str) -> Markup {
    let total: Decimal = bars.iter().map(|b| b.amount).sum();
    let (Some(first), Some(last_bar)) = (bars.first(), bars.last()) else {
        return html! { p.empty { "No spend in this range." } };
    };
    let last = forecast.last().map_or(last_bar.day, |f| f.day.max(last_bar.day));
    let columns = (last - first.day).num_days() as usize + 1;
    let column = |day: NaiveDate| (day - first.day).num_days() as f64;
    let max_bar = bars.iter().map(|b| b.amount.to_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    // The 80 % band sets the scale; the 95 % band may run off the top.
    let top = axis_top(forecast.iter().map(|f| f.hi80).fold(max_bar, f64::max));
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / columns as f64;
    let bar_w = (step * 0.8).max(1.0);
    let y = |v: f64| TOP + plot_h - (v / top * plot_h).clamp(0.0, plot_h);
    let x_mid = |day: NaiveDate| LEFT + step * column(day) + step / 2.0;
    let first_prelim = bars.iter().position(|b| b.preliminary);
    // The first day is labelled unless the next month's label would overlap it (about 44 px).
    let next_month = first.day.with_day(1).and_then(|d| d.checked_add_months(chrono::Months::new(1)));
    let first_label = next_month.is_none_or(|n| (n - first.day).num_days() as f64 * step >= 44.0);
    let ahead = match (forecast.first(), forecast.last()) {
        (Some(a), Some(b)) => format!(", and a forecast from {} to {}", a.day, b.day),
        _ => String::new(),
    };
    let label = format!(
        "Daily spend in {currency}, {} to {}: {} in total{ahead}",
        first.day,
        last_bar.day,
        money(total, currency)
    );
    // A band's outline: along the tops, back along the bottoms.
    let band = |lo: fn(&ForecastDay) -> f64, hi: fn(&ForecastDay) -> f64| -> String {
        let tops = forecast.iter().map(|f| format!("{:.1},{:.1}", x_mid(f.day), y(hi(f))));
        let bottoms = forecast.iter().rev().map(|f| format!("{:.1},{:.1}", x_mid(f.day), y(lo(f))));
        tops.chain(bottoms).collect::<Vec<_>>().join(" ")
    };
    let line = forecast.iter().map(|f| format!("{:.1},{:.1}", x_mid(f.day), y(f.yhat))).collect::<Vec<_>>().join(" ");
    let forecast_total: f64 = forecast.iter().map(|f| f.yhat).sum();
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label)
            data-total=(total.normalize().to_string()) data-currency=(currency) data-days=(bars.len()) {
            title { (label) }
            @if let Some(i) = first_prelim {
                rect.preliminary-band x=(format!("{:.1}", LEFT + step * i as f64)) y=(TOP)
                    width=(format!("{:.1}", step * (bars.len() - i) as f64)) height=(plot_h) {}
                // Right-aligned to the band's end, so a narrow band's label stays in the chart.
                text.band-label x=(format!("{:.1}", LEFT + step * bars.len() as f64 - 2.0)) y=(TOP + 12.0) text-anchor="end" { "preliminary →" }
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
            }
            @for day in first.day.iter_days().take(columns) {
                @if day.day() == 1 || (day == first.day && first_label) {
                    text.axis x=(format!("{:.1}", LEFT + step * column(day))) y=(HEIGHT - 6.0) {
                        (day.format("%b %-d"))
                    }
                }
            }
            @if let (Some(f0), Some(fl)) = (forecast.first(), forecast.last()) {
                g.forecast data-from=(f0.day.to_string()) data-to=(fl.day.to_string()) data-days=(forecast.len())
                    data-total=(cents(forecast_total)) {
                    line.forecast-start x1=(format!("{:.1}", x_mid(f0.day) - step / 2.0)) x2=(format!("{:.1}", x_mid(f0.day) - step / 2.0))
                        y1=(TOP) y2=(TOP + plot_h) {}
                    text.band-label x=(format!("{:.1}", x_mid(f0.day) - step / 2.0 + 3.0)) y=(TOP + 26.0) { "forecast →" }
                    polygon.band95 points=(band(|f| f.lo95, |f| f.hi95)) {}
                    polygon.band80 points=(band(|f| f.lo80, |f| f.hi80)) {}
                    polyline.expected points=(line) {}
                    @for f in forecast {
                        circle.point cx=(format!("{:.1}", x_mid(f.day))) cy=(format!("{:.1}", y(f.yhat))) r="2"
                            data-day=(f.day.to_string()) data-yhat=(cents(f.yhat)) data-lo80=(cents(f.lo80))
                            data-hi80=(cents(f.hi80)) data-lo95=(cents(f.lo95)) data-hi95=(cents(f.hi95)) {
                            title {
                                (f.day) ": forecast " (cents(f.yhat)) " " (currency)
                                " (80 %: " (cents(f.lo80)) " to " (cents(f.hi80))
                                "; 95 %: " (cents(f.lo95)) " to " (cents(f.hi95)) ")"
                            }
                        }
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
        let svg = daily(&bars, &[], "USD").into_string();
        assert!(svg.contains("data-total=\"30.03\""), "{svg}");
        assert!(svg.contains("preliminary-band"));
        assert_eq!(svg.matches("class=\"bar preliminary\"").count(), 1);
        assert!(!svg.contains("forecast"), "{svg}");
    }

    #[test]
    fn a_forecast_extends_the_chart_past_the_last_bar_in_its_bands() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 10, n).unwrap_or_default();
        let bars: Vec<Bar> =
            (1..=10).map(|n| Bar { day: d(n), amount: Decimal::new(100, 0), preliminary: n > 8 }).collect();
        let forecast: Vec<ForecastDay> = (9..=20)
            .map(|n| ForecastDay { day: d(n), yhat: 100.0, lo80: 90.0, hi80: 110.0, lo95: 80.0, hi95: 125.0 })
            .collect();
        let svg = daily(&bars, &forecast, "USD").into_string();
        assert!(svg.contains("data-from=\"2026-10-09\" data-to=\"2026-10-20\" data-days=\"12\""), "{svg}");
        assert!(svg.contains("data-total=\"1200.00\""), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 12);
        assert_eq!(svg.matches("class=\"bar").count(), 10);
        // Twenty columns: the last forecast day's point sits in the last column.
        let step = (WIDTH - LEFT - 8.0) / 20.0;
        assert!(svg.contains(&format!("cx=\"{:.1}\"", LEFT + step * 19.5)), "{svg}");
        // The 80 % band's top (110) sets the axis: 200.
        assert!(svg.contains(">200</text>"), "{svg}");
    }
}
