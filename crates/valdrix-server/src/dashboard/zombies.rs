//! The zombies page: open findings with their evidence and cost, the savings they add up to, and
//! remediation plans, which an admin who did not make a plan approves here.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use rust_decimal::Decimal;
use serde::Deserialize;

use valdrix_app::zombies::remediate::{approve_plan, Approval};
use valdrix_store::keys::Role;
use valdrix_store::zombies::{PlanState, RemediationPlan, StoredZombie, ZombieFilter, ZombieStatus};

use super::{layout, money, page, session, Session};
use crate::{ApiError, AppState};

const TITLE: &str = "Zombies";

fn error_page(session: &Session, e: ApiError) -> Response {
    super::pages::error_page(session, TITLE, e)
}

/// The reason a finding's evidence gives.
fn reason(z: &StoredZombie) -> String {
    serde_json::from_str::<serde_json::Value>(&z.finding)
        .ok()
        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// Open findings and plans.
pub async fn overview(session: Session, State(state): State<AppState>) -> Response {
    let tenant = session.tenant.clone();
    let loaded = state
        .stores
        .run(move |s| {
            let open = ZombieFilter {
                statuses: vec![ZombieStatus::New, ZombieStatus::StillPresent],
                limit: 200,
                ..Default::default()
            };
            let ignored = ZombieFilter { statuses: vec![ZombieStatus::Ignored], limit: 500, ..Default::default() };
            Ok((
                s.zombies(&tenant, &open)?,
                s.zombies(&tenant, &ignored)?.len(),
                s.remediation_plans(&tenant, 20)?,
                s.zombie_scans(&tenant, 1)?,
            ))
        })
        .await;
    let (open, ignored, plans, last_scan) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(&session, e.into()),
    };
    let mut savings: BTreeMap<String, Decimal> = BTreeMap::new();
    for z in &open {
        if let (Some(s), Some(c)) = (z.monthly_savings, &z.currency) {
            *savings.entry(c.clone()).or_default() += s;
        }
    }
    let admin = session.role >= Role::Admin;
    let content = html! {
        h1 { (TITLE) }
        p.sub {
            "Idle and orphaned resources found by " code { "valdrix zombies scan" } ", each priced from the bill where it has lines for the resource, else from list prices (an estimate)."
            @if let Some(s) = last_scan.first() { " Last scan: " (s.cloud) " " (s.account) " at " (s.evaluated_at) "." }
        }
        div.kpis {
            div.kpi { span.label { "Open findings" } span.value #open-count { (open.len()) } }
            @for (c, s) in &savings { div.kpi { span.label { "Monthly savings (" (c) ")" } span.value { (money(*s, c)) } } }
            div.kpi { span.label { "Ignored" } span.value { (ignored) } }
        }
        section.card.wide {
            h2 { "Open findings" }
            @if open.is_empty() { p.empty { "No open findings." } } @else {
                table #findings {
                    thead { tr { th { "Rule" } th { "Resource" } th { "Region" } th { "Status" } th.num { "Monthly cost" } th { "Source" } th { "Why" } } }
                    tbody { @for z in &open { tr {
                        td { code { (z.key.rule) } }
                        td.name title=(z.key.resource_id) { (z.key.resource_id) }
                        td { (z.key.region) }
                        td { (z.status.as_str()) }
                        td.num { @if let (Some(m), Some(c)) = (z.monthly_cost, &z.currency) { (money(m, c)) } }
                        td { (z.cost_source) }
                        td { (reason(z)) }
                    } } }
                }
            }
        }
        section.card.wide {
            h2 { "Remediation plans" }
            p.sub { "Plans are made with " code { "valdrix zombies remediate plan" } " or the API, approved here by an admin who did not make them, and executed where the cloud credentials are (" code { "valdrix zombies remediate execute" } ")." }
            @if plans.is_empty() { p.empty { "No remediation plans." } } @else {
                table #plans {
                    thead { tr { th { "Plan" } th { "Account" } th { "State" } th { "Made by" } th { "Approved by" } th.num { "Steps" } th.num { "Monthly savings" } th {} } }
                    tbody { @for p in &plans { (plan_row(p, admin, &session)) } }
                }
            }
        }
    };
    page(StatusCode::OK, layout(TITLE, Some(&session), TITLE, content))
}

fn plan_row(p: &RemediationPlan, admin: bool, session: &Session) -> maud::Markup {
    let mut savings: BTreeMap<&str, Decimal> = BTreeMap::new();
    for s in &p.steps {
        if let (Some(m), Some(c)) = (s.monthly_savings, &s.currency) {
            *savings.entry(c.as_str()).or_default() += m;
        }
    }
    let mine = p.created_by == format!("key:{}", session.key_id);
    html! {
        tr {
            td { "#" (p.plan_id) }
            td { (p.cloud) " " (p.account) }
            td { (p.state.as_str()) }
            td { (p.created_by) }
            td { (p.approved_by.as_deref().unwrap_or("")) }
            td.num { (p.steps.len()) }
            td.num { @for (c, m) in &savings { (money(*m, c)) " " } }
            td {
                @if p.state == PlanState::Planned && admin && !mine {
                    form method="post" action=(format!("/zombies/plans/{}/approve", p.plan_id)) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button type="submit" { "Approve" }
                    }
                } @else if p.state == PlanState::Planned && mine {
                    span.empty { "yours: another admin approves it" }
                }
            }
        }
    }
}

/// The approval form.
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    csrf: String,
}

/// Approves a plan (admin, not its author; the form's token must match the session).
pub async fn approve(
    session: Session,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(plan_id): Path<String>,
    form: Result<Form<ApproveForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let cookie = session::cookie(super::cookies(&headers), session::COOKIE).unwrap_or("");
    if !form.is_ok_and(|Form(f)| state.sessions.check_csrf(cookie, &f.csrf)) {
        return ApiError::forbidden("the form's token does not match the session").into_response();
    }
    if session.role < Role::Admin {
        return error_page(&session, ApiError::forbidden("approving a plan needs the admin role"));
    }
    let id = match crate::api::number("plan", &plan_id) {
        Ok(id) => id,
        Err(e) => return error_page(&session, e),
    };
    let (tenant, actor) = (session.tenant.clone(), format!("key:{}", session.key_id));
    match state.stores.run(move |s| approve_plan(s, &tenant, id, &actor, &|_| None)).await {
        Ok(Approval::Approved(_)) => Redirect::to("/zombies").into_response(),
        Ok(Approval::Refused(why)) => {
            error_page(&session, ApiError::forbidden(format!("plan {id} not approved: {why}")))
        }
        Err(e) => error_page(&session, e.into()),
    }
}
