//! The anomalies page: days whose final spend left the forecast's interval by more than the
//! monitor's thresholds, merged into anomalies with their root causes, and the forms that mark
//! an anomaly as expected (or take a mark back), and the kept monitors. The same calls as
//! `GET /api/v1/anomalies`, `POST|DELETE /api/v1/anomalies/marks` and
//! `GET /api/v1/anomalies/monitors`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde::Deserialize;

use valdrix_analytics::anomaly::Direction;
use valdrix_analytics::spend::{self, Detected, SpendAnomaly};
use valdrix_store::forecasts::{AnomalyFeedback, AnomalyMonitor};
use valdrix_store::keys::Role;

use super::{layout, money, page, session, Session};
use crate::api::anomalies::{anomaly_query, change_mark, AnomalyCheck, MarkChange, MarkIn};
use crate::api::apart;
use crate::api::params;
use crate::{ApiError, AppState};

const TITLE: &str = "Anomalies";

/// The monitors the page offers: the total, or each value of a dimension.
const MONITORS: [(&str, &str); 6] = [
    ("", "Total spend"),
    ("service", "Each service"),
    ("sub-account", "Each sub-account"),
    ("region", "Each region"),
    ("usage-type", "Each usage type"),
    ("provider", "Each provider"),
];

fn error_page(session: &Session, e: ApiError) -> Response {
    super::pages::error_page(session, TITLE, e)
}

/// A figure of the model's (a float) as money for people.
fn amount(v: f64, currency: &str) -> String {
    money(Decimal::from_f64_retain(v).unwrap_or_default(), currency)
}

/// Anomalies by the query string's monitor and thresholds, and the marks.
pub async fn overview(session: Session, State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    // A blank field of the form is the same as none: the defaults apply.
    let parsed = params::parse_form::<AnomalyCheck>(raw.as_deref().unwrap_or("")).and_then(anomaly_query);
    let (q, check) = match parsed {
        Ok(p) => p,
        Err(e) => return error_page(&session, e),
    };
    let by = q.by.as_ref().map(|d| d.label()).unwrap_or_default();
    let thresholds = check.thresholds;
    let from_given = check.from;
    let (tenant, policy) = (session.tenant.clone(), state.policy.clone());
    let loaded = state
        .stores
        .run(move |s| {
            let found = apart(spend::detect_spend(s, &tenant, &q, &check, chrono::Utc::now(), &policy))?;
            Ok((found, s.anomaly_feedback(&tenant)?, s.anomaly_monitors(&tenant)?))
        })
        .await;
    let (found, marks, monitors) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(&session, e.into()),
    };
    let back = raw.unwrap_or_default();
    let analyst = session.role >= Role::Analyst;
    let content = html! {
        h1 { (TITLE) }
        p.sub {
            "Days whose final spend left the forecast's " (format!("{:.0}", thresholds.level * 100.0)) " % interval by at least "
            (format!("{:.2}", thresholds.min_impact)) " and " (format!("{:.0}", thresholds.min_share * 100.0)) " % of the expected value, "
            "each checked against a forecast trained on the days before it; consecutive days are one anomaly. "
            "Days marked as expected are neither reported nor trained on."
        }
        form.explore method="get" action="/anomalies" {
            label { "Monitor"
                select name="by" {
                    @for (value, name) in MONITORS { option value=(value) selected[value == by] { (name) } }
                    @if !MONITORS.iter().any(|(v, _)| *v == by) { option value=(by) selected { (by) } }
                }
            }
            label { "From" input type="date" name="from" value=(from_given.map(|d| d.to_string()).unwrap_or_default()); }
            label { "Smallest daily impact" input type="number" name="min_impact" min="0" step="any" value=(thresholds.min_impact); }
            label { "Smallest share (%)" input type="number" name="min_percent" min="0" step="any" value=(thresholds.min_share * 100.0); }
            label { "Direction"
                select name="direction" {
                    @for (d, name) in [(Direction::Up, "up"), (Direction::Down, "down"), (Direction::Both, "both")] {
                        option value=(name) selected[d == thresholds.direction] { (name) }
                    }
                }
            }
            button type="submit" { "Check" }
        }
        @match &found {
            Err(e) => section.card { p.empty #no-anomalies { (e.detail) } },
            Ok(found) => (found_table(found, &back, analyst, &session)),
        }
        (marks_table(&marks, &back, analyst, &session))
        (monitors_table(&monitors))
    };
    page(StatusCode::OK, layout(TITLE, Some(&session), TITLE, content))
}

fn found_table(found: &Detected, back: &str, analyst: bool, session: &Session) -> Markup {
    html! {
        section.card.wide {
            h2 { (found.anomalies.len()) (if found.anomalies.len() == 1 { " anomaly" } else { " anomalies" }) " since " (found.from) }
            @if found.anomalies.is_empty() {
                p.empty { "No day since " (found.from) " left its interval by more than the thresholds." }
            } @else {
                table #anomalies data-from=(found.from.to_string()) {
                    thead { tr {
                        th { "Series" } th { "Days" } th.num { "Actual" } th.num { "Expected" } th.num { "Impact" }
                        th { "Severity" } th { "Root causes" } @if analyst { th { "Expected?" } }
                    } }
                    tbody { @for a in &found.anomalies { (anomaly_row(a, back, analyst, session)) } }
                }
            }
        }
    }
}

fn anomaly_row(f: &SpendAnomaly, back: &str, analyst: bool, session: &Session) -> Markup {
    let a = &f.anomaly;
    let c = &f.currency;
    let days = (a.end - a.start).num_days() + 1;
    html! {
        tr data-series=(f.series) data-start=(a.start.to_string()) data-end=(a.end.to_string())
            data-impact=(format!("{:.2}", a.impact)) data-currency=(c) {
            td.name title=(f.series) { (f.series) }
            td.days { (a.start) @if days > 1 { br; "to " (a.end) } br; span.empty { (days) (if days == 1 { " day" } else { " days" }) } }
            td.num { (amount(a.actual, c)) }
            td.num { (amount(a.expected, c)) }
            td.num { (if a.impact >= 0.0 { "+" } else { "" }) (amount(a.impact, c)) }
            td { span class=(format!("sev {}", a.severity.as_str())) { (a.severity.as_str()) } }
            td {
                ul.causes {
                    @for r in f.root_causes.iter().filter(|r| r.share.abs() >= 0.1) {
                        li data-dimension=(r.dimension) data-value=(r.value) data-delta=(format!("{:.2}", r.delta)) {
                            (r.dimension) " " strong { (if r.value.is_empty() { "(none)" } else { &r.value }) } " "
                            (if r.delta >= 0.0 { "+" } else { "" }) (amount(r.delta, c))
                            " (" (format!("{:.0}", r.share * 100.0)) " %)"
                        }
                    }
                }
            }
            @if analyst {
                td {
                    form.mark method="post" action="/anomalies/mark" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        input type="hidden" name="series" value=(f.series);
                        input type="hidden" name="from" value=(a.start.to_string());
                        input type="hidden" name="to" value=(a.end.to_string());
                        input type="hidden" name="back" value=(back);
                        input type="text" name="note" maxlength="500" placeholder="why it was expected" aria-label="why it was expected";
                        button type="submit" { "Mark as expected" }
                    }
                }
            }
        }
    }
}

fn marks_table(marks: &[AnomalyFeedback], back: &str, analyst: bool, session: &Session) -> Markup {
    html! {
        section.card.wide {
            h2 { "Marked as expected" }
            @if marks.is_empty() {
                p.empty { "No marks. A marked anomaly's days are never reported again and never trained on." }
            } @else {
                table #marks {
                    thead { tr { th { "Series" } th { "From" } th { "To" } th { "Marked by" } th { "When" } th { "Why" } @if analyst { th {} } } }
                    tbody { @for m in marks {
                        tr data-series=(m.series) data-from=(m.first_day) data-to=(m.last_day) {
                            td.name { (m.series) } td { (m.first_day) } td { (m.last_day) }
                            td { (m.created_by) } td { (m.created_at) } td { (m.note) }
                            @if analyst {
                                td {
                                    form.mark method="post" action="/anomalies/unmark" {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        input type="hidden" name="series" value=(m.series);
                                        input type="hidden" name="from" value=(m.first_day);
                                        input type="hidden" name="to" value=(m.last_day);
                                        input type="hidden" name="back" value=(back);
                                        button type="submit" { "Take back" }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
        }
    }
}

/// The kept monitors (`valdrix anomalies monitor`, `PUT /api/v1/anomalies/monitors/{name}`),
/// each a link to this page with its settings.
fn monitors_table(monitors: &[AnomalyMonitor]) -> Markup {
    html! {
        section.card.wide {
            h2 { "Kept monitors" }
            @if monitors.is_empty() {
                p.empty {
                    "No monitors kept. " code { "valdrix anomalies monitor NAME" } " keeps one; "
                    code { "valdrix anomalies --monitors" } " runs them all (daily, from cron)."
                }
            } @else {
                table #monitors {
                    thead { tr { th { "Name" } th { "Monitors" } th { "Amount" } th.num { "Smallest impact" } th.num { "Smallest share" } th.num { "Interval" } th { "Direction" } th { "Saved by" } } }
                    tbody { @for m in monitors {
                        @let query = serde_urlencoded::to_string([
                            ("by", m.by.as_str()), ("metric", m.metric.as_str()), ("top", &m.top.to_string()),
                            ("min_impact", m.min_impact.as_str()), ("min_percent", m.min_percent.as_str()),
                            ("level", m.level.as_str()), ("direction", m.direction.as_str()),
                        ]).unwrap_or_default();
                        tr data-monitor=(m.name) {
                            td.name { a href=(format!("/anomalies?{query}")) { (m.name) } }
                            td { @if m.by.is_empty() { "Total spend" } @else { "Each " (m.by) } }
                            td { (m.metric) } td.num { (m.min_impact) } td.num { (m.min_percent) " %" }
                            td.num { (m.level) " %" } td { (m.direction) } td { (m.updated_by) }
                        }
                    } }
                }
            }
        }
    }
}

/// The mark and take-back forms.
#[derive(Debug, Deserialize)]
pub struct MarkForm {
    csrf: String,
    series: String,
    from: String,
    to: String,
    #[serde(default)]
    note: String,
    /// The page's query string, to return to.
    #[serde(default)]
    back: String,
}

/// Marks an anomaly's days as expected (analyst).
pub async fn mark(
    session: Session,
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<MarkForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    change(session, state, headers, form, MarkChange::Make).await
}

/// Takes a mark back (analyst).
pub async fn unmark(
    session: Session,
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<MarkForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    change(session, state, headers, form, MarkChange::TakeBack).await
}

async fn change(
    session: Session,
    state: AppState,
    headers: HeaderMap,
    form: Result<Form<MarkForm>, axum::extract::rejection::FormRejection>,
    how: MarkChange,
) -> Response {
    let cookie = session::cookie(super::cookies(&headers), session::COOKIE).unwrap_or("");
    let form = match form {
        Ok(Form(f)) if state.sessions.check_csrf(cookie, &f.csrf) => f,
        _ => return ApiError::forbidden("the form's token does not match the session").into_response(),
    };
    if session.role < Role::Analyst {
        return error_page(&session, ApiError::forbidden("marking anomalies needs the analyst role"));
    }
    let m = MarkIn { series: form.series, from: form.from, to: form.to, note: form.note.trim().to_string() };
    let actor = format!("key:{}", session.key_id);
    if let Err(e) = change_mark(&state, session.tenant.clone(), actor, m, how).await {
        return error_page(&session, e);
    }
    // Back to the same view; the query string is rebuilt, so only its pairs come back.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&form.back).unwrap_or_default();
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    Redirect::to(&if query.is_empty() { "/anomalies".to_string() } else { format!("/anomalies?{query}") })
        .into_response()
}
