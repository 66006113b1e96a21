//! `valdrix reconcile`: two sources of the same spend compared, the difference located by
//! service, account and day.

use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

use valdrix_app::reconcile::{OtherSide, ReconcileRequest};
use valdrix_core::TenantId;
use valdrix_store::Store;

use super::output::{money_for_people, Grid, OutputFormat};
use super::{build_query, parse_filter, QueryArgs};

#[derive(Args)]
pub(crate) struct ReconcileArgs {
    /// The left side: DIM=VALUES (repeatable), e.g. source=cur.csv (a file ingested before, or a
    /// stream as `valdrix costs -g source` lists it), provider=AWS.
    #[arg(long, required = true, value_name = "DIM=VALUES")]
    pub(crate) left: Vec<String>,
    /// The right side, in the same form.
    #[arg(long, value_name = "DIM=VALUES", required_unless_present_any = ["invoice", "cost_explorer"])]
    pub(crate) right: Vec<String>,
    /// The right side is AWS Cost Explorer (GetCostAndUsage, daily, by service and linked
    /// account): UnblendedCost against billed, AmortizedCost against effective. Uses the AWS
    /// environment for credentials (AWS_ENDPOINT_URL too); the period is --from/--to, else the
    /// left side's days.
    #[arg(long, conflicts_with_all = ["right", "invoice"])]
    pub(crate) cost_explorer: bool,
    /// The right side is an invoice-totals CSV instead: columns billing_period (YYYY-MM),
    /// currency, amount, and optionally account (the billing account). The left side is then
    /// restricted to those billing periods and located by billing account.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "right")]
    pub(crate) invoice: Option<PathBuf>,
    /// Amount compared: billed (invoice), effective (amortized), list or contracted.
    #[arg(long, default_value = "billed")]
    pub(crate) metric: String,
    /// Period and filters both sides share.
    #[command(flatten)]
    pub(crate) query: QueryArgs,
    /// Flag differences above this many percent.
    #[arg(long, default_value = "0.5")]
    pub(crate) threshold: String,
    /// Contributors shown per dimension (service, account, day).
    #[arg(long, default_value_t = 5)]
    pub(crate) top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: OutputFormat,
}

pub(crate) fn run(store: &dyn Store, tenant: &TenantId, a: &ReconcileArgs) -> Result<()> {
    let threshold: rust_decimal::Decimal =
        a.threshold.parse().with_context(|| format!("--threshold {:?}: expected a percentage", a.threshold))?;
    let filters = |side: &[String], name: &str| side.iter().map(|f| parse_filter(f, name)).collect::<Result<Vec<_>>>();
    let right = match &a.invoice {
        Some(file) => OtherSide::Invoice(file.clone()),
        None if a.cost_explorer => OtherSide::CostExplorer,
        None => OtherSide::Stored(filters(&a.right, "right")?),
    };
    let req = ReconcileRequest {
        query: build_query(&[], &a.metric, &a.query)?,
        left: filters(&a.left, "left")?,
        right,
        threshold,
        top: a.top,
    };
    let r = valdrix_app::reconcile::run(store, tenant, &req)?;
    let mut out = std::io::stdout().lock();
    if a.format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        writeln!(out)?;
        return Ok(());
    }
    let machine = a.format != OutputFormat::Table;
    let money = |d: rust_decimal::Decimal| if machine { d.to_string() } else { money_for_people(d) };
    let percent = |p: Option<rust_decimal::Decimal>| p.map(|p| format!("{}", p.round_dp(if machine { 4 } else { 2 })));
    let flag = |f: bool| Some(if f { "over" } else { "" }.to_string());
    let mut rows = Vec::new();
    for c in &r.currencies {
        let t = &c.total;
        rows.push(vec![
            Some(c.currency.clone()),
            Some("total".into()),
            None,
            Some(money(t.left)),
            Some(money(t.right)),
            Some(money(t.difference)),
            percent(t.percent),
            flag(t.flagged),
        ]);
        for k in &c.contributors {
            let d = &k.amounts;
            rows.push(vec![
                Some(c.currency.clone()),
                Some(format!("{:?}", k.dimension).to_lowercase()),
                Some(k.value.clone()),
                Some(money(d.left)),
                Some(money(d.right)),
                Some(money(d.difference)),
                percent(d.percent),
                flag(d.flagged),
            ]);
        }
    }
    let grid = Grid {
        columns: ["currency", "by", "value", "left", "right", "difference", "difference_%", "flag"]
            .map(String::from)
            .to_vec(),
        rows,
        numeric: vec![false, false, false, true, true, true, true, false],
    };
    grid.write(a.format, &mut out)?;
    if !machine {
        writeln!(
            out,
            "difference = right - left; % of left; flagged over {threshold} %{}",
            if r.flagged() { ": the sources disagree" } else { "" }
        )?;
    }
    Ok(())
}
