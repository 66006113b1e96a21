//! The dashboard's pages: overview, cost explorer (with its CSV), ingestion runs and a run's
//! audit.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Days, Months, NaiveDate};
use maud::{html, Markup};
use rust_decimal::Decimal;

use valdrix_analytics::forecast::{Forecast, Options};
use valdrix_analytics::spend::{self, CurrencyForecast, CurrencySpend, Horizon, SpendError, SpendQuery};
use valdrix_store::{CostQuery, CostRow, Dimension, Freshness, Metric, RestatementAlert, RunSummary, StoreError};

use super::chart::{self, Bar};
use super::{layout, money, page, Session};
use crate::api::params;
use crate::{ApiError, AppState};

/// An error in the page frame, the navigation showing `active`.
pub(super) fn error_page(session: &Session, active: &str, e: ApiError) -> Response {
    page(
        e.status,
        layout(
            "Error",
            Some(session),
            active,
            html! { section { h1 { "Something is wrong" } p.error role="alert" { (e.detail) } } },
        ),
    )
}

/// The currency with the largest total: what the charts are drawn in.
fn main_currency(rows: &[CostRow]) -> Option<String> {
    let mut by: BTreeMap<&str, Decimal> = BTreeMap::new();
    for r in rows {
        *by.entry(r.currency.as_str()).or_default() += r.amount.abs();
    }
    by.into_iter().max_by(|a, b| a.1.cmp(&b.1)).map(|(c, _)| c.to_string())
}

fn day_of(r: &CostRow) -> Option<NaiveDate> {
    r.keys.first()?.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

/// Consecutive daily bars from `from` to `to` (inclusive) of `currency`, zero where no spend.
fn bars(rows: &[CostRow], currency: &str, from: NaiveDate, to: NaiveDate, fresh: &Freshness) -> Vec<Bar> {
    let by_day: BTreeMap<NaiveDate, Decimal> =
        rows.iter().filter(|r| r.currency == currency).filter_map(|r| Some((day_of(r)?, r.amount))).collect();
    from.iter_days()
        .take_while(|d| *d <= to)
        .map(|day| Bar {
            day,
            amount: by_day.get(&day).copied().unwrap_or_default(),
            preliminary: fresh.final_through.is_none_or(|f| day > f),
        })
        .collect()
}

fn sum_days(rows: &[CostRow], currency: &str, from: NaiveDate, to: NaiveDate) -> Decimal {
    rows.iter()
        .filter(|r| r.currency == currency)
        .filter(|r| day_of(r).is_some_and(|d| d >= from && d <= to))
        .map(|r| r.amount)
        .sum()
}

fn top_table(title: &str, id: &str, rows: &[CostRow], currency: &str) -> Markup {
    let mut rows: Vec<&CostRow> = rows.iter().filter(|r| r.currency == currency).collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.amount));
    let total: Decimal = rows.iter().map(|r| r.amount).sum();
    html! {
        section.card {
            h2 { (title) }
            table id=(id) {
                tbody {
                    @for r in rows.iter().take(8) {
                        @let name = r.keys.first().cloned().flatten().unwrap_or_else(|| "(none)".into());
                        tr {
                            td.name title=(name) { (name) }
                            td.num data-amount=(r.amount.normalize().to_string()) { (money(r.amount, currency)) }
                            td.share {
                                @if !total.is_zero() {
                                    ((r.amount * Decimal::ONE_HUNDRED / total).round_dp(1)) "%"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn alerts_table(alerts: &[RestatementAlert]) -> Markup {
    html! {
        section.card.wide {
            h2 { "Restatement alerts" }
            @if alerts.is_empty() {
                p.empty { "No restatement has moved a day × account × service total past the alert thresholds." }
            } @else {
                table #alerts {
                    thead { tr { th { "Day" } th { "Account" } th { "Service" } th { "Metric" } th.num { "Before" } th.num { "After" } th { "Run" } } }
                    tbody {
                        @for a in alerts {
                            tr {
                                td { (a.charge_date) }
                                td { (a.account) }
                                td { (a.service) }
                                td { (a.metric) }
                                td.num { (money(a.old_amount, &a.currency)) }
                                td.num { (money(a.new_amount, &a.currency)) }
                                td { a href=(format!("/runs/{}", a.run_id)) { "#" (a.run_id) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Days of forecast on the overview: enough to reach the end of any month from its first day.
const FORECAST_DAYS: usize = 31;

/// What the overview reads, in one store call.
struct OverviewData {
    days: Vec<CostRow>,
    fresh: Freshness,
    services: Vec<CostRow>,
    accounts: Vec<CostRow>,
    alerts: Vec<RestatementAlert>,
    /// The final daily spend the forecast is made from, or why there is none.
    spend: Result<Vec<CurrencySpend>, String>,
}

/// The final daily spend, or why there is none (too little final history is a reason to show,
/// not a failure).
fn final_spend(
    s: &dyn valdrix_store::Store,
    tenant: &valdrix_core::TenantId,
    policy: &valdrix_store::TrustPolicy,
) -> Result<Result<Vec<CurrencySpend>, String>, StoreError> {
    match spend::daily_spend(s, tenant, &SpendQuery::default(), chrono::Utc::now(), policy) {
        Ok(f) => Ok(Ok(f)),
        Err(SpendError::Store(e)) => Err(e),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// The total's forecast from the day after the last final day, or why there is none.
fn total_forecast(spend: &Result<Vec<CurrencySpend>, String>) -> Result<Vec<CurrencyForecast>, String> {
    let spend = spend.as_ref().map_err(Clone::clone)?;
    spend::forecast_daily(spend, Horizon::Days(FORECAST_DAYS), &Options::new(FORECAST_DAYS)).map_err(|e| e.to_string())
}

/// The overview: daily spend, month to date against last month, top services and accounts,
/// recent restatement alerts, the forecast.
pub async fn overview(session: Session, State(state): State<AppState>) -> Response {
    let tenant = session.tenant.clone();
    let policy = state.policy.clone();
    let read = state
        .stores
        .run(move |s| {
            let days = s.costs(&tenant, &CostQuery { group_by: vec![Dimension::Day], ..Default::default() })?;
            let fresh = s.freshness(&tenant, chrono::Utc::now(), &policy)?;
            // The month of the last day with spend (a bill's data lags the calendar).
            let last = days.iter().filter_map(day_of).max();
            let (mut services, mut accounts) = (Vec::new(), Vec::new());
            if let Some(last) = last {
                let month = last.with_day(1).unwrap_or(last);
                let q = |d| CostQuery {
                    group_by: vec![d],
                    from: Some(month),
                    to: last.checked_add_days(Days::new(1)),
                    ..Default::default()
                };
                services = s.costs(&tenant, &q(Dimension::Service))?;
                accounts = s.costs(&tenant, &q(Dimension::Account))?;
            }
            let alerts = s.alerts(&tenant, None, None, 10)?;
            let spend = final_spend(s, &tenant, &policy)?;
            Ok(OverviewData { days, fresh, services, accounts, alerts, spend })
        })
        .await;
    // The forecast (a backtest: tens of milliseconds of CPU) runs after the store connection is
    // given back, off the async workers.
    let read = match read {
        Ok(data) => tokio::task::spawn_blocking(move || {
            let forecast = total_forecast(&data.spend);
            (data, forecast)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("the forecast task panicked: {e}"))),
        Err(e) => Err(e),
    };
    let (data, forecast) = match read {
        Ok(r) => r,
        Err(e) => return error_page(&session, "Overview", e.into()),
    };
    let content = match (main_currency(&data.days), data.days.iter().filter_map(day_of).max()) {
        (Some(currency), Some(last)) => overview_content(&data, &forecast, &currency, last),
        _ => html! {
            section.card { h1 { "No costs yet" }
                p { "Ingest a billing export (" code { "valdrix ingest FILE" } " or " code { "POST /api/v1/ingest/upload" } ") and it appears here." } }
        },
    };
    page(StatusCode::OK, layout("Overview", Some(&session), "Overview", content))
}

fn overview_content(
    data: &OverviewData,
    all_forecasts: &Result<Vec<CurrencyForecast>, String>,
    currency: &str,
    last: NaiveDate,
) -> Markup {
    let month = last.with_day(1).unwrap_or(last);
    let prev = month.checked_sub_months(Months::new(1)).unwrap_or(month);
    let prev_end = month.pred_opt().unwrap_or(month);
    // The same days of last month (1st to the day of `last`), for a like-for-like comparison.
    let prev_same = prev.checked_add_days(Days::new(u64::from(last.day() - 1))).unwrap_or(prev).min(prev_end);
    let mtd = sum_days(&data.days, currency, month, last);
    let prev_mtd = sum_days(&data.days, currency, prev, prev_same);
    let prev_full = sum_days(&data.days, currency, prev, prev_end);
    let change = (!prev_mtd.is_zero()).then(|| ((mtd - prev_mtd) * Decimal::ONE_HUNDRED / prev_mtd).round_dp(1));
    let from = last.checked_sub_days(Days::new(89)).unwrap_or(last);
    let bars = bars(&data.days, currency, from, last, &data.fresh);
    let forecast = all_forecasts.as_ref().ok().and_then(|f| f.iter().find(|c| c.currency == currency));
    let ahead: Vec<chart::ForecastDay> = forecast.map(|c| forecast_days(&c.total)).unwrap_or_default();
    let month_end = month.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(last);
    let outlook = forecast.and_then(|c| month_outlook(&data.days, currency, month, month_end, &c.total));
    let others: Vec<String> = data
        .days
        .iter()
        .map(|r| r.currency.clone())
        .filter(|c| c != currency)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    html! {
        h1 { "Overview" }
        p.sub {
            "Costs complete through " strong { (data.fresh.complete_through.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
            "; final through " strong { (data.fresh.final_through.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
            ". Amounts in " (currency) "."
            @if !others.is_empty() { " Also billed in " (others.join(", ")) ": see the cost explorer." }
        }
        div.kpis {
            div.kpi #mtd data-amount=(mtd.normalize().to_string()) {
                span.label { "Month to date (" (month.format("%B %Y")) ")" }
                span.value { (money(mtd, currency)) }
                @if let Some(c) = change {
                    span class=(if c > Decimal::ZERO { "delta up" } else { "delta down" }) {
                        (if c > Decimal::ZERO { "▲ " } else { "▼ " }) (c.abs()) "% vs the same days of last month"
                    }
                }
            }
            div.kpi #last-month-same data-amount=(prev_mtd.normalize().to_string()) {
                span.label { "Same days of " (prev.format("%B")) }
                span.value { (money(prev_mtd, currency)) }
            }
            div.kpi #last-month data-amount=(prev_full.normalize().to_string()) {
                span.label { (prev.format("%B")) " in full" }
                span.value { (money(prev_full, currency)) }
            }
            @if let Some(o) = &outlook {
                div.kpi #month-forecast data-amount=(o.expected.normalize().to_string())
                    data-lo=(o.lo.normalize().to_string()) data-hi=(o.hi.normalize().to_string()) {
                    span.label { (month.format("%B")) " forecast" }
                    span.value { (money(o.expected, currency)) }
                    span.delta { "80 %: " (money(o.lo, currency)) " to " (money(o.hi, currency)) }
                }
            }
        }
        section.card.wide {
            h2 { "Daily spend, last 90 days" @if !ahead.is_empty() { ", and the forecast" } }
            (chart::daily(&bars, &ahead, currency))
            p.legend {
                span.swatch.final {} "final" span.swatch.prelim {} "preliminary: the provider may still restate these days"
                @if !ahead.is_empty() { span.swatch.forecast {} "forecast, in its 80 % and 95 % intervals" }
            }
            (forecast_note(all_forecasts, forecast))
        }
        div.grid {
            (top_table(&format!("Top services, {}", month.format("%B")), "top-services", &data.services, currency))
            (top_table(&format!("Top accounts, {}", month.format("%B")), "top-accounts", &data.accounts, currency))
        }
        (alerts_table(&data.alerts))
    }
}

/// A forecast's days for the chart (the first two interval levels: 80 % and 95 %).
fn forecast_days(f: &Forecast) -> Vec<chart::ForecastDay> {
    f.points
        .iter()
        .map(|p| {
            let band = |k: usize| p.intervals.get(k).map_or((p.yhat, p.yhat), |i| (i.lo, i.hi));
            let ((lo80, hi80), (lo95, hi95)) = (band(0), band(1));
            chart::ForecastDay { day: p.date, yhat: p.yhat, lo80, hi80, lo95, hi95 }
        })
        .collect()
}

/// The month's expected total: its final days as billed, the rest forecast.
struct Outlook {
    expected: Decimal,
    lo: Decimal,
    hi: Decimal,
}

/// The outlook for `month` (to `month_end`), when the forecast reaches into it and covers its
/// end; none when the month is final already.
fn month_outlook(
    days: &[CostRow],
    currency: &str,
    month: NaiveDate,
    month_end: NaiveDate,
    f: &Forecast,
) -> Option<Outlook> {
    let start = f.points.first()?.date;
    let last = f.points.last()?.date;
    if start > month_end || last < month_end {
        return None;
    }
    let billed = if start > month { sum_days(days, currency, month, start.pred_opt()?) } else { Decimal::ZERO };
    let ahead: Vec<&valdrix_analytics::forecast::Point> =
        f.points.iter().filter(|p| p.date >= month && p.date <= month_end).collect();
    let add = |pick: &dyn Fn(&valdrix_analytics::forecast::Point) -> f64| {
        let v: f64 = ahead.iter().map(|p| pick(p)).sum();
        billed + Decimal::from_f64_retain(v).unwrap_or_default().round_dp(2)
    };
    Some(Outlook {
        expected: add(&|p| p.yhat),
        lo: add(&|p| p.intervals.first().map_or(p.yhat, |i| i.lo)),
        hi: add(&|p| p.intervals.first().map_or(p.yhat, |i| i.hi)),
    })
}

/// What the chart's forecast is, how good its backtest was, or why there is none.
fn forecast_note(all: &Result<Vec<CurrencyForecast>, String>, shown: Option<&CurrencyForecast>) -> Markup {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |m| format!("{:.1} %", m * 100.0));
    html! {
        @match (all, shown) {
            (Err(why), _) => p.sub #forecast-note { "No forecast: " (why) },
            (Ok(_), None) => p.sub #forecast-note { "No forecast in this currency." },
            (Ok(_), Some(c)) => {
                @let f = &c.total;
                @let a = f.accuracy.as_ref();
                p.sub #forecast-note data-model=(f.model) data-confidence=(format!("{:.2}", f.confidence)) {
                    "Forecast of final spend from " (f.trained_through.succ_opt().unwrap_or(f.trained_through))
                    " (trained " (f.trained_from) " to " (f.trained_through) "; model " (f.model) "). Backtest: MAPE "
                    (pct(a.and_then(|a| a.mape)))
                    @if let Some(cov) = a.and_then(|a| a.coverage.first()) {
                        ", the 80 % interval held on " (format!("{:.0}", cov.share * 100.0)) " % of days"
                    }
                    "."
                    @if f.low_confidence { strong.low { " Low confidence: the backtest's error is over 20 %." } }
                    " " a href="/anomalies" { "Anomalies" } " · " a href="/api/v1/forecast" { "the forecast as JSON" }
                }
            }
        }
    }
}

/// The explorer's dimensions, as the select offers them.
const GROUPS: [(&str, &str); 9] = [
    ("service", "Service"),
    ("account", "Billing account"),
    ("sub-account", "Sub-account"),
    ("provider", "Provider"),
    ("region", "Region"),
    ("charge-category", "Charge category"),
    ("service-category", "Service category"),
    ("usage-type", "Usage type"),
    ("month", "Month"),
];

/// The explorer's state, from its query string.
struct Explore {
    group: String,
    metric: Metric,
    from: NaiveDate,
    to: NaiveDate,
    filters: Vec<String>,
    query: CostQuery,
}

/// The explorer's fields, as its form sends them (a blank field is the same as none).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ExploreParams {
    /// One dimension to group by (default service).
    group_by: Option<String>,
    /// billed (default), effective, list or contracted.
    metric: Option<String>,
    /// First day (default: two months before the last day's month).
    from: Option<String>,
    /// Last day, inclusive (default: the last day with spend).
    to: Option<String>,
    /// `DIMENSION=V1,V2`, repeatable.
    #[serde(default)]
    filter: Vec<String>,
}

fn explore_params(raw: &Option<String>, last: NaiveDate) -> Result<Explore, ApiError> {
    let p: ExploreParams = params::parse_form(raw.as_deref().unwrap_or(""))?;
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let group = given(&p.group_by).unwrap_or_else(|| "service".to_string());
    let metric = given(&p.metric).map(|m| params::named::<Metric>("metric", &m)).transpose()?.unwrap_or_default();
    let from = match given(&p.from) {
        Some(v) => params::named("from", &v)?,
        None => last.with_day(1).and_then(|d| d.checked_sub_months(Months::new(2))).unwrap_or(last),
    };
    let to = match given(&p.to) {
        Some(v) => params::named("to", &v)?,
        None => last,
    };
    let filters: Vec<String> = p.filter.iter().map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
    let dimension =
        Dimension::parse(&group).ok_or_else(|| ApiError::bad_request(format!("unknown dimension {group:?}")))?;
    let mut query = CostQuery {
        group_by: vec![dimension],
        metric,
        from: Some(from),
        to: to.checked_add_days(Days::new(1)),
        ..Default::default()
    };
    for f in &filters {
        query.filters.push(params::named("filter", f)?);
    }
    Ok(Explore { group, metric, from, to, filters, query })
}

fn last_day(s: &mut dyn valdrix_store::Store, tenant: &valdrix_core::TenantId) -> valdrix_store::Result<NaiveDate> {
    let months = s.costs(tenant, &CostQuery { group_by: vec![Dimension::Month], ..Default::default() })?;
    let Some(month) = months.iter().filter_map(|r| r.keys.first().cloned().flatten()).max() else {
        return Ok(chrono::Utc::now().date_naive());
    };
    let start = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").unwrap_or_default();
    let q = CostQuery { group_by: vec![Dimension::Day], from: Some(start), ..Default::default() };
    Ok(s.costs(tenant, &q)?.iter().filter_map(day_of).max().unwrap_or(start))
}

struct Explored {
    params: Explore,
    groups: Vec<CostRow>,
    days: Vec<CostRow>,
    fresh: Freshness,
}

async fn explore(session: &Session, state: &AppState, raw: Option<String>) -> Result<Explored, ApiError> {
    let tenant = session.tenant.clone();
    let policy = state.policy.clone();
    let result = state
        .stores
        .run(move |s| {
            let last = last_day(s, &tenant)?;
            let params = match explore_params(&raw, last) {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            let groups = s.costs(&tenant, &params.query)?;
            let mut daily = params.query.clone();
            daily.group_by = vec![Dimension::Day];
            let days = s.costs(&tenant, &daily)?;
            let fresh = s.freshness(&tenant, chrono::Utc::now(), &policy)?;
            Ok(Ok(Explored { params, groups, days, fresh }))
        })
        .await?;
    result
}

/// The cost explorer: group by, filters, date range and metric; a chart of the filtered daily
/// spend and the table of groups.
pub async fn explorer(session: Session, State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let csv_link = format!("/explorer.csv?{}", raw.clone().unwrap_or_default());
    let e = match explore(&session, &state, raw).await {
        Ok(e) => e,
        Err(err) => return error_page(&session, "Cost explorer", err),
    };
    let p = &e.params;
    let currency = main_currency(&e.days).unwrap_or_else(|| "USD".into());
    let bars = bars(&e.days, &currency, p.from, p.to, &e.fresh);
    let mut groups: Vec<&CostRow> = e.groups.iter().collect();
    groups.sort_by(|a, b| a.currency.cmp(&b.currency).then(b.amount.cmp(&a.amount)));
    let shown = groups.len().min(500);
    let filter_inputs: Vec<String> =
        p.filters.iter().cloned().chain(std::iter::repeat(String::new())).take(p.filters.len().max(2) + 1).collect();
    let content = html! {
        h1 { "Cost explorer" }
        form.explore method="get" action="/explorer" {
            label { "Group by"
                select name="group_by" {
                    @for (value, name) in GROUPS {
                        option value=(value) selected[value == p.group] { (name) }
                    }
                    @if !GROUPS.iter().any(|(v, _)| *v == p.group) { option value=(p.group) selected { (p.group) } }
                }
            }
            label { "Metric"
                select name="metric" {
                    @for (value, name) in [("billed", "Billed (invoice)"), ("effective", "Effective (amortised)"), ("list", "List"), ("contracted", "Contracted")] {
                        option value=(value) selected[Metric::parse(value) == Some(p.metric)] { (name) }
                    }
                }
            }
            label { "From" input type="date" name="from" value=(p.from); }
            label { "To (inclusive)" input type="date" name="to" value=(p.to); }
            @for (i, f) in filter_inputs.iter().enumerate() {
                label { "Filter " (i + 1)
                    input type="text" name="filter" value=(f) placeholder="provider=AWS" pattern=r"[\w.:\-]+=.*";
                }
            }
            button type="submit" { "Apply" }
            a.button.secondary href=(csv_link) download { "Download CSV" }
        }
        section.card.wide {
            h2 { "Daily " (p.metric.column()) ", " (p.from) " to " (p.to) }
            (chart::daily(&bars, &[], &currency))
        }
        section.card.wide {
            h2 { (groups.len()) " groups" @if shown < groups.len() { " (the largest " (shown) " shown; the CSV has all)" } }
            table #groups {
                thead { tr { th { (p.group) } th { "Currency" } th.num { "Amount" } th.num { "Records" } } }
                tbody {
                    @for r in groups.iter().take(shown) {
                        @let name = r.keys.first().cloned().flatten().unwrap_or_else(|| "(none)".into());
                        tr {
                            td.name title=(name) { (name) }
                            td { (r.currency) }
                            td.num data-amount=(r.amount.normalize().to_string()) { (money(r.amount, &r.currency)) }
                            td.num { (r.records) }
                        }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("Cost explorer", Some(&session), "Cost explorer", content))
}

fn csv_field(s: &str) -> String {
    // Quoted when needed; formula-like text neutralised by the rule every CSV of Valdrix follows.
    let s = valdrix_core::spreadsheet_safe(s).into_owned();
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The explorer's groups as CSV (every group, exact amounts).
pub async fn explorer_csv(session: Session, State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let e = match explore(&session, &state, raw).await {
        Ok(e) => e,
        Err(err) => return err.into_response(),
    };
    let mut out = format!("{},currency,{},records\n", csv_field(&e.params.group), e.params.metric.column());
    let mut groups = e.groups;
    groups.sort_by(|a, b| a.currency.cmp(&b.currency).then(b.amount.cmp(&a.amount)));
    for r in &groups {
        let name = r.keys.first().cloned().flatten().unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{}\n",
            csv_field(&name),
            csv_field(&r.currency),
            r.amount.normalize(),
            r.records
        ));
    }
    let disposition = format!(
        "attachment; filename=\"valdrix-{}-{}-{}.csv\"",
        e.params.group.replace(':', "_"),
        e.params.from,
        e.params.to
    );
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], out)
        .into_response()
}

fn run_row(r: &RunSummary) -> Markup {
    html! {
        tr {
            td { a href=(format!("/runs/{}", r.run_id)) { "#" (r.run_id) } }
            td { (r.started_at.get(..19).unwrap_or(&r.started_at).replace('T', " ")) }
            td.name title=(r.source_uri) { (r.source_uri) }
            td { (r.format) }
            td.num { (r.rows_read) }
            td.num { (r.records) }
            td.num { (r.changes.restated) }
            td.num { (r.changes.added_late) }
            td.num { (r.changes.removed) }
            td.num { (r.changes.alerts) }
            td.num { @for (c, t) in &r.totals { div { (money(t.billed, c)) } } }
        }
    }
}

/// Ingestion runs, newest first, 50 a page.
pub async fn runs(session: Session, State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let mut before = None;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    for (k, v) in pairs {
        if k == "before" {
            before = v.parse::<i64>().ok();
        }
    }
    let tenant = session.tenant.clone();
    let runs = match state.stores.run(move |s| s.runs_before(&tenant, before, 51)).await {
        Ok(r) => r,
        Err(e) => return error_page(&session, "Ingestion runs", e.into()),
    };
    let more = runs.len() > 50;
    let runs = &runs[..runs.len().min(50)];
    let content = html! {
        h1 { "Ingestion runs" }
        section.card.wide {
            @if runs.is_empty() { p.empty { "No ingestion runs yet." } } @else {
                table #runs {
                    thead { tr { th { "Run" } th { "Started (UTC)" } th { "Source" } th { "Format" } th.num { "Rows" } th.num { "Records" }
                        th.num { "Restated" } th.num { "Added late" } th.num { "Removed" } th.num { "Alerts" } th.num { "Billed" } } }
                    tbody { @for r in runs { (run_row(r)) } }
                }
            }
            @if more { @if let Some(r) = runs.last() { p { a.button.secondary href=(format!("/runs?before={}", r.run_id)) { "Older runs" } } } }
        }
    };
    page(StatusCode::OK, layout("Ingestion runs", Some(&session), "Ingestion runs", content))
}

/// One run and its audit: what it added, restated and removed, the net change, the largest
/// changes.
pub async fn run(session: Session, State(state): State<AppState>, Path(run_id): Path<String>) -> Response {
    let Some(id) = run_id.parse::<i64>().ok().filter(|n| *n > 0) else {
        return error_page(&session, "Ingestion runs", ApiError::bad_request(format!("run {run_id:?}: a run number")));
    };
    let tenant = session.tenant.clone();
    let audit = match state.stores.run(move |s| s.run_audit(&tenant, id, 50)).await {
        Ok(a) => a,
        Err(e) => return error_page(&session, "Ingestion runs", e.into()),
    };
    let r = &audit.run;
    let content = html! {
        h1 { "Run #" (r.run_id) }
        p.sub { (r.source_uri) " · " (r.format) " · checksum " code { (r.checksum.get(..16).unwrap_or(&r.checksum)) } " · stream " code { (r.stream) } }
        div.kpis {
            @for (label, n) in [("Added", r.changes.added), ("Added late", r.changes.added_late), ("Restated", r.changes.restated),
                                ("Removed", r.changes.removed), ("Post-final", r.changes.post_final), ("Alerts", r.changes.alerts)] {
                div.kpi { span.label { (label) } span.value { (n) } }
            }
        }
        section.card.wide {
            h2 { "Net change" }
            @if audit.currencies.is_empty() { p.empty { "This delivery changed no stored value." } } @else {
                table #net {
                    thead { tr { th { "Currency" } th.num { "Δ billed" } th.num { "Δ effective" } th.num { "Changes" } th.num { "Mean |Δ|%" } th.num { "Max |Δ|%" } } }
                    tbody { @for (c, ch) in &audit.currencies { tr {
                        td { (c) } td.num { (money(ch.billed_delta, c)) } td.num { (money(ch.effective_delta, c)) } td.num { (ch.entries) }
                        td.num { (ch.mean_abs_percent.map(|p| p.to_string()).unwrap_or_default()) }
                        td.num { (ch.max_abs_percent.map(|p| p.to_string()).unwrap_or_default()) }
                    } } }
                }
            }
        }
        section.card.wide {
            h2 { "Largest changes" }
            table #largest {
                thead { tr { th { "Record" } th { "Day" } th { "Reason" } th { "Account" } th { "Service" } th { "Metric" } th.num { "Before" } th.num { "After" } } }
                tbody { @for e in &audit.largest { tr {
                    td { code { (e.record_id.get(..12).unwrap_or(&e.record_id)) "…" } }
                    td { (e.charge_date) } td { (e.reason.as_str()) } td { (e.account) } td.name { (e.service) }
                    td.num { (money(e.old_billed, &e.currency)) } td.num { (money(e.new_billed, &e.currency)) }
                } } }
            }
        }
    };
    page(StatusCode::OK, layout(&format!("Run #{}", r.run_id), Some(&session), "Ingestion runs", content))
}
