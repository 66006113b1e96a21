//! The allocation page: a month's spend by team under the tenant's stored rules (direct, shared
//! and redistributed), six months of it stacked by team, the unallocated bucket with the services
//! and resources that hold it, and for any team the contributions behind its figure.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Months, NaiveDate};
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::IntoParams;

use valdrix_analytics::allocation::{unallocated_by, Allocation, Dim, UnallocatedGroup, UNALLOCATED};

use super::chart::{self, Series, SERIES_COLOURS};
use super::{layout, money, page, Session};
use crate::api::allocation::{self as api, Range, Run};
use crate::api::params::{self, Month};
use crate::{ApiError, AppState};

const TITLE: &str = "Allocation";
/// Months in the chart, ending with the page's month.
const MONTHS: u32 = 6;

fn error_page(session: &Session, e: ApiError) -> Response {
    super::pages::error_page(session, TITLE, e)
}

/// The page's month and whether the bucket is redistributed; `target` for the explanation.
struct View {
    month: NaiveDate,
    redistribute: bool,
    target: Option<String>,
}

/// The allocation pages' fields (a blank field is the same as none).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ViewParams {
    /// The month (YYYY-MM); default: last month.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>)]
    month: Option<Month>,
    /// Spread the bucket.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<bool>)]
    redistribute: Option<bool>,
    /// The target explained.
    target: Option<String>,
}

fn view(raw: &Option<String>, with_target: bool) -> Result<View, ApiError> {
    let p: ViewParams = params::parse_form(raw.as_deref().unwrap_or(""))?;
    if p.target.as_ref().is_some_and(|t| !with_target || t.contains('\0')) {
        return Err(ApiError::bad_request("target: a name"));
    }
    Ok(View {
        month: p.month.map_or_else(api::last_month, |m| m.0),
        redistribute: p.redistribute.unwrap_or(false),
        target: p.target,
    })
}

fn next(month: NaiveDate, n: u32) -> NaiveDate {
    month.checked_add_months(Months::new(n)).unwrap_or(month)
}

fn query(v: &View) -> String {
    format!("month={}{}", v.month.format("%Y-%m"), if v.redistribute { "&redistribute=true" } else { "" })
}

fn month_form(v: &View) -> Markup {
    html! {
        form.range method="get" action="/allocation" {
            label { "Month " input type="month" name="month" value=(v.month.format("%Y-%m")); }
            label { input type="checkbox" name="redistribute" value="true" checked[v.redistribute]; " Spread the unallocated bucket over the teams" }
            button type="submit" { "Show" }
        }
    }
}

fn rules_line(run: &Run) -> Markup {
    html! {
        p.sub #rules {
            "Split by " strong { (run.rules.label) }
            @if let Some(v) = &run.rules.version { ", saved by " (v.created_by) " at " (v.created_at) @if !v.note.is_empty() { " (" (v.note) ")" } }
            ". Rules change with " code { "valdrix allocate rules import" } " or " code { "PUT /api/v1/allocation/rules" } "; every allocated amount adds up to the bill exactly."
        }
    }
}

/// The month's teams, the chart over six months, and the bucket.
pub async fn overview(session: Session, State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let v = match view(&raw, false) {
        Ok(v) => v,
        Err(e) => return error_page(&session, e),
    };
    let first = v.month.checked_sub_months(Months::new(MONTHS - 1)).unwrap_or(v.month);
    let span = Range { from: first, to: next(v.month, 1), version: None, redistribute: v.redistribute };
    let run = match api::run(&state, &session.tenant, span).await {
        Ok(r) => r,
        Err(e) => return error_page(&session, e),
    };
    let label = v.month.format("%Y-%m").to_string();
    let by_period = run.allocation.totals_by_period();
    // This month's targets per currency, largest first, the bucket last.
    let mut month: Vec<(&String, &String, &valdrix_analytics::allocation::Totals)> =
        by_period.iter().filter(|((p, _, _), _)| *p == label).map(|((_, t, c), x)| (t, c, x)).collect();
    month.sort_by(|a, b| {
        (a.1, a.0 == UNALLOCATED, std::cmp::Reverse(a.2.effective()), a.0).cmp(&(
            b.1,
            b.0 == UNALLOCATED,
            std::cmp::Reverse(b.2.effective()),
            b.0,
        ))
    });
    let mut whole: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (_, c, t) in &month {
        *whole.entry(c.as_str()).or_default() += t.effective();
    }
    let currency = whole.iter().max_by_key(|(_, v)| **v).map(|(c, _)| c.to_string()).unwrap_or_else(|| "USD".into());
    let bucket =
        month.iter().find(|(t, c, _)| *t == UNALLOCATED && **c == currency).map(|(_, _, t)| t.direct_effective);
    let total = whole.get(currency.as_str()).copied().unwrap_or_default();
    let teams =
        month.iter().filter(|(t, c, x)| *t != UNALLOCATED && **c == currency && !x.effective().is_zero()).count();
    let share = |x: Decimal, c: &str| {
        let w = whole.get(c).copied().unwrap_or_default();
        if w.is_zero() {
            String::new()
        } else {
            format!("{}%", (x * Decimal::from(100) / w).round_dp(1))
        }
    };
    let chart = stacked(&run, first, v.month, &currency);
    // The bucket's services and resources: this month's contributions only (the bucket names
    // its records, so the other months' records are not counted).
    let this_month = Allocation {
        contributions: run.allocation.contributions.iter().filter(|c| c.period == label).cloned().collect(),
        unsplit: vec![],
    };
    let (services, resources) = (
        unallocated_by(&run.records, &this_month, Dim::Service, 10),
        unallocated_by(&run.records, &this_month, Dim::Resource, 10),
    );
    let content = html! {
        h1 { (TITLE) }
        (rules_line(&run))
        (month_form(&v))
        div.kpis {
            div.kpi { span.label { "Spend in " (label) } span.value #total data-amount=(total.normalize().to_string()) { (money(total, &currency)) } }
            div.kpi { span.label { "Teams" } span.value #teams-count { (teams) } }
            div.kpi {
                span.label { "Unallocated" }
                span.value #unallocated data-amount=(bucket.unwrap_or_default().normalize().to_string()) { (money(bucket.unwrap_or_default(), &currency)) }
                span.delta { (share(bucket.unwrap_or_default(), &currency)) " of spend" @if v.redistribute { ", spread over the teams" } }
            }
        }
        section.card.wide {
            h2 { "Teams in " (label) }
            @if month.is_empty() { p.empty { "No spend in " (label) "." } } @else {
                table #teams {
                    thead { tr { th { "Team" } th { "Currency" } th.num { "Direct" } th.num { "Shared" } th.num { "Redistributed" } th.num { "Total (effective)" } th.num { "Total (billed)" } th.num { "Share" } } }
                    tbody { @for (t, c, x) in &month { tr data-target=(t) data-total=(x.effective().normalize().to_string()) {
                        td { a href=(format!("/allocation/explain?target={}&{}", urlencode(t), query(&v))) { (t) } }
                        td { (c) }
                        td.num { (money(x.direct_effective, c)) }
                        td.num { (money(x.shared_effective, c)) }
                        td.num { (money(x.redistributed_effective, c)) }
                        td.num { strong { (money(x.effective(), c)) } }
                        td.num { (money(x.billed(), c)) }
                        td.num { (share(x.effective(), c)) }
                    } } }
                }
            }
            @for note in &run.allocation.unsplit { p.sub { "Note: " (note) } }
        }
        section.card.wide {
            h2 { "By month (" (currency) ", effective)" }
            (chart)
        }
        section.card.wide {
            h2 { "Unallocated in " (label) }
            p.sub { "What no rule claimed: untagged resources, accounts no table maps. Tag them, or add a rule, and simulate the change with " code { "valdrix allocate simulate" } "." }
            div.grid {
                div { h3 { "Services" } (groups("untagged-services", &services)) }
                div { h3 { "Resources" } (groups("untagged-resources", &resources)) }
            }
        }
    };
    page(StatusCode::OK, layout(TITLE, Some(&session), TITLE, content))
}

fn groups(id: &str, rows: &[UnallocatedGroup]) -> Markup {
    html! {
        @if rows.is_empty() { p.empty { "Nothing unallocated." } } @else {
            table id=(id) {
                thead { tr { th { "Name" } th.num { "Effective" } th.num { "Records" } } }
                tbody { @for g in rows { tr {
                    td.name title=(g.value.clone().unwrap_or_default()) { (g.value.clone().unwrap_or_else(|| "(none)".into())) }
                    td.num { (money(g.effective, &g.currency)) }
                    td.num { (g.records) }
                } } }
            }
        }
    }
}

/// Six months stacked by target (the largest targets coloured apart, the bucket among them).
fn stacked(run: &Run, first: NaiveDate, last: NaiveDate, currency: &str) -> Markup {
    let months: Vec<String> =
        (0..MONTHS).map(|i| next(first, i)).take_while(|m| *m <= last).map(|m| m.format("%Y-%m").to_string()).collect();
    let totals = run.allocation.totals_by_period();
    let mut by_target: BTreeMap<&str, Vec<Decimal>> = BTreeMap::new();
    for ((period, target, c), t) in &totals {
        if c != currency {
            continue;
        }
        if let Some(i) = months.iter().position(|m| m == period) {
            let row = by_target.entry(target.as_str()).or_insert_with(|| vec![Decimal::ZERO; months.len()]);
            row[i] += t.effective();
        }
    }
    // The largest teams in colours, the rest as "other", the bucket last, in grey.
    let bucket = by_target.remove(UNALLOCATED);
    let mut series: Vec<Series> = by_target
        .into_iter()
        .filter(|(_, amounts)| amounts.iter().any(|a| !a.is_zero()))
        .map(|(name, amounts)| Series { name: name.to_string(), amounts, colour: 0 })
        .collect();
    series.sort_by_key(|s| std::cmp::Reverse(s.amounts.iter().copied().sum::<Decimal>()));
    if series.len() > SERIES_COLOURS {
        let rest = series.split_off(SERIES_COLOURS - 1);
        let mut other = Series { name: "other".into(), amounts: vec![Decimal::ZERO; months.len()], colour: 0 };
        for s in rest {
            for (o, a) in other.amounts.iter_mut().zip(s.amounts) {
                *o += a;
            }
        }
        series.push(other);
    }
    for (k, s) in series.iter_mut().enumerate() {
        s.colour = k;
    }
    if let Some(amounts) = bucket {
        series.push(Series { name: UNALLOCATED.into(), amounts, colour: SERIES_COLOURS });
    }
    chart::stacked(&months, &series, currency)
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|e| e.trim_start_matches('=').to_string()).unwrap_or_default()
}

/// Every contribution behind one target's figure in a month.
pub async fn explain(session: Session, State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let v = match view(&raw, true) {
        Ok(v) => v,
        Err(e) => return error_page(&session, e),
    };
    let Some(target) = v.target.clone() else {
        return error_page(&session, ApiError::bad_request("target: required"));
    };
    let range = Range { from: v.month, to: next(v.month, 1), version: None, redistribute: v.redistribute };
    let run = match api::run(&state, &session.tenant, range).await {
        Ok(r) => r,
        Err(e) => return error_page(&session, e),
    };
    let label = v.month.format("%Y-%m").to_string();
    let contributions = run.allocation.explain(&target);
    let content = html! {
        h1 { (target) " in " (label) }
        (rules_line(&run))
        p { a href=(format!("/allocation?{}", query(&v))) { "← All teams" } }
        section.card.wide {
            h2 { "Contributions" }
            @if contributions.is_empty() { p.empty { "Nothing was allocated to " (target) " in " (label) "." } } @else {
                table #contributions {
                    thead { tr { th { "Kind" } th { "Rule" } th.num { "Billed" } th.num { "Effective" } th.num { "Records" } th { "How" } th { "First record" } } }
                    tbody { @for c in &contributions { tr data-effective=(c.effective.normalize().to_string()) {
                        td { (c.kind.as_str()) }
                        td { @if let Some(r) = &c.rule { code { (r) } } }
                        td.num { (money(c.billed, &c.currency)) }
                        td.num { (money(c.effective, &c.currency)) }
                        td.num { (c.records.len()) }
                        td { (c.basis) }
                        td.name { @if let Some(id) = c.records.first() { code title=(id.to_string()) { (id.to_string()) } } }
                    } } }
                }
                p.sub { "Every record of a contribution: " code { "GET /api/v1/allocation/explain?target=…&month=" (label) } " or " code { "valdrix allocate --month " (label) " --explain …" } "; a record's lineage: " code { "valdrix costs history RECORD" } "." }
            }
        }
    };
    page(StatusCode::OK, layout(TITLE, Some(&session), TITLE, content))
}
