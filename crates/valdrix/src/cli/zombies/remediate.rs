//! `valdrix zombies remediate`: plan, approve, execute, cancel; every step in the plan's log.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::Write;

use valdrix_app::zombies::remediate;
use valdrix_core::TenantId;

use super::grids;
use crate::cli::output::{Grid, OutputFormat};
use crate::cli::{actor, load_config, open_store, Global};

#[derive(Subcommand)]
pub(crate) enum RemediateCommand {
    /// Make a plan from open findings whose rule allows an action (snapshot then delete a
    /// volume, release an Elastic IP, stop an instance, delete a snapshot). Nothing is touched.
    Plan {
        /// Only findings of this rule (repeatable).
        #[arg(long)]
        rule: Vec<String>,
        /// Only this resource (repeatable).
        #[arg(long)]
        resource: Vec<String>,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Who makes it (default: the user running the command).
        #[arg(long)]
        actor: Option<String>,
    },
    /// A plan's steps and log.
    Show {
        /// The plan.
        plan: i64,
        /// Output format (json: the plan and its log).
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Approve a plan (someone other than its author, or one of [remediation] approvers).
    Approve {
        /// The plan.
        plan: i64,
        /// Who approves (default: the user running the command).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Execute an approved plan: a dry run (AWS DryRun calls, nothing changed) unless --apply.
    Execute {
        /// The plan.
        plan: i64,
        /// Act for real.
        #[arg(long)]
        apply: bool,
        /// Who executes (default: the user running the command).
        #[arg(long)]
        actor: Option<String>,
        /// AWS: a named profile.
        #[arg(long)]
        profile: Option<String>,
        /// AWS: a role to assume in the plan's account.
        #[arg(long)]
        role_arn: Option<String>,
        /// AWS: the external id the role's trust policy requires.
        #[arg(long, requires = "role_arn")]
        external_id: Option<String>,
    },
    /// Withdraw a plan before it is executed.
    Cancel {
        /// The plan.
        plan: i64,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who (default: the user running the command).
        #[arg(long)]
        actor: Option<String>,
    },
    /// The plans, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

pub(crate) fn run(cli: &Global, tenant: &TenantId, what: &RemediateCommand, out: &mut dyn Write) -> Result<()> {
    use valdrix_store::zombies::PlanState;
    let mut store = open_store(cli)?;
    let who = |a: &Option<String>| format!("cli:{}", actor(a));
    let show = |plan: &valdrix_store::zombies::RemediationPlan, out: &mut dyn Write| -> Result<()> {
        writeln!(out, "plan {} ({} account {}): {}", plan.plan_id, plan.cloud, plan.account, plan.state.as_str())?;
        grids::plan_grid(plan, true).write(OutputFormat::Table, out)
    };
    match what {
        RemediateCommand::Plan { rule, resource, account, actor: a } => {
            let req =
                remediate::PlanRequest { rules: rule.clone(), resources: resource.clone(), account: account.clone() };
            let plan = remediate::plan(store.as_mut(), tenant, &req, &who(a))?;
            show(&plan, out)?;
            writeln!(
                out,
                "Nothing was changed. Next: valdrix zombies remediate approve {} (by someone else), then execute {} (a dry run), then execute {} --apply",
                plan.plan_id, plan.plan_id, plan.plan_id
            )?;
            Ok(())
        }
        RemediateCommand::Show { plan, format } => {
            let p = store
                .remediation_plan(tenant, *plan)?
                .with_context(|| format!("there is no remediation plan {plan}"))?;
            let log = store.remediation_log(tenant, *plan)?;
            if *format == OutputFormat::Json {
                serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "plan": p, "log": log }))?;
                writeln!(out)?;
                return Ok(());
            }
            show(&p, out)?;
            grids::log_grid(&log).write(*format, out)
        }
        RemediateCommand::Approve { plan, actor: a } => {
            let config = load_config(cli)?;
            let p = remediate::approve(store.as_mut(), tenant, *plan, &who(a), &config.approvers)?;
            writeln!(out, "plan {} approved by {}", p.plan_id, p.approved_by.as_deref().unwrap_or("?"))?;
            Ok(())
        }
        RemediateCommand::Execute { plan, apply, actor: a, profile, role_arn, external_id } => {
            let conn = valdrix_zombies::aws::AwsConnection {
                profile: profile.clone(),
                role_arn: role_arn.clone(),
                external_id: external_id.clone(),
                home_region: None,
            };
            let p = remediate::execute(store.as_mut(), tenant, *plan, *apply, &who(a), &conn)?;
            show(&p, out)?;
            let log = store.remediation_log(tenant, *plan)?;
            if let Some(last) = log.last() {
                writeln!(out, "{}", last.detail)?;
            }
            if !apply {
                writeln!(out, "(dry run; the log has each step: valdrix zombies remediate show {plan})")?;
            }
            anyhow::ensure!(
                p.state != PlanState::Failed,
                "plan {plan}: some steps failed (valdrix zombies remediate show {plan})"
            );
            Ok(())
        }
        RemediateCommand::Cancel { plan, reason, actor: a } => {
            remediate::cancel_plan(store.as_mut(), tenant, *plan, &who(a), reason)?;
            writeln!(out, "plan {plan} cancelled")?;
            Ok(())
        }
        RemediateCommand::List { limit, format } => {
            let plans = store.remediation_plans(tenant, *limit)?;
            let columns = [
                "plan_id",
                "cloud",
                "account",
                "state",
                "steps",
                "created_by",
                "created_at",
                "approved_by",
                "finished_at",
            ];
            let rows = plans
                .iter()
                .map(|p| {
                    vec![
                        Some(p.plan_id.to_string()),
                        Some(p.cloud.clone()),
                        Some(p.account.clone()),
                        Some(p.state.as_str().to_string()),
                        Some(p.steps.len().to_string()),
                        Some(p.created_by.clone()),
                        Some(p.created_at.clone()),
                        p.approved_by.clone(),
                        p.finished_at.clone(),
                    ]
                })
                .collect();
            let grid = Grid {
                columns: columns.iter().map(|c| c.to_string()).collect(),
                rows,
                numeric: columns.iter().map(|c| *c == "plan_id" || *c == "steps").collect(),
            };
            grid.write(*format, out)
        }
    }
}
