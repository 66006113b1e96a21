//! The `valdrix allocate` command line: a run (teams, explain, the untagged report), simulate,
//! the chargeback export, and the stored rule set's import, export and history.

mod grids;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

use valdrix_app::allocate::{self as alloc, RuleSource};

use super::output::OutputFormat;
use valdrix_analytics::allocation::{export, export_yaml, Allocation};
use valdrix_core::TenantId;
use valdrix_store::CostQuery;

use super::{actor, build_query, open_store, Global, QueryArgs};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct AllocateArgs {
    #[command(subcommand)]
    what: Option<AllocateCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum AllocateCommand {
    /// Runs a candidate rule file over a past range beside the stored rules (or --against):
    /// each target's total under both, and the difference.
    Simulate(SimulateArgs),
    /// The showback / chargeback statement as CSV: per month, target and currency, direct,
    /// shared, redistributed and total cost, billed and effective, exact.
    Export(ExportArgs),
    /// The tenant's stored rule set: import a file as a new version, export a version, list
    /// the versions.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Args)]
struct Rules {
    /// A rule file (YAML or JSON; see README) instead of the tenant's stored rule set.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// A stored version of the rule set instead of the current one.
    #[arg(long = "rules-version", value_name = "N", conflicts_with = "rules")]
    rules_version: Option<i64>,
}

impl Rules {
    fn source(&self) -> RuleSource {
        match &self.rules {
            Some(p) => RuleSource::File(p.clone()),
            None => RuleSource::Stored(self.rules_version),
        }
    }
}

#[derive(Args)]
struct Range {
    /// A calendar month (YYYY-MM) instead of --from/--to.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    month: Option<String>,
    #[command(flatten)]
    query: QueryArgs,
}

impl Range {
    fn query(&self) -> Result<CostQuery> {
        let mut q = build_query(&[], "effective", &self.query)?;
        if let Some(m) = &self.month {
            let first =
                valdrix_core::time::parse_month(m).with_context(|| format!("--month {m:?}: expected YYYY-MM"))?;
            q.from = Some(first);
            q.to = first.checked_add_months(chrono::Months::new(1));
        }
        Ok(q)
    }
}

/// What an allocation runs on: the rules, the range, and whether the bucket is spread.
#[derive(Args)]
struct Split {
    #[command(flatten)]
    rules: Rules,
    #[command(flatten)]
    range: Range,
    /// Spread the unallocated bucket over the targets in proportion to what they were allocated
    /// (shown in its own column; in a statement, the chargeback of everything).
    #[arg(long)]
    redistribute: bool,
}

impl Split {
    fn allocate(&self, cli: &Global, tenant: &TenantId) -> Result<alloc::Allocated> {
        let store = open_store(cli)?;
        let query = self.range.query()?;
        Ok(alloc::allocate(store.as_ref(), tenant, &query, &self.rules.source(), self.redistribute)?)
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    split: Split,
    /// Show the contributions behind one target's figure (`Unallocated` for the bucket).
    #[arg(long)]
    explain: Option<String>,
    /// Report the unallocated bucket: its share of spend, and the services and resources
    /// holding most of it (what lacks the tags the rules look for).
    #[arg(long, conflicts_with = "explain")]
    unallocated: bool,
    /// Output format (json: every contribution with its records and arithmetic).
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Args)]
struct SimulateArgs {
    /// The candidate rule file (YAML or JSON).
    #[arg(long)]
    candidate: PathBuf,
    /// Compare with this rule file instead of the stored rule set.
    #[arg(long = "against", value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Compare with this stored version instead of the current one.
    #[arg(long = "rules-version", value_name = "N", conflicts_with = "rules")]
    rules_version: Option<i64>,
    #[command(flatten)]
    range: Range,
    /// Redistribute the unallocated bucket under both rule sets.
    #[arg(long)]
    redistribute: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    split: Split,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Checks a rule file (YAML or JSON) and saves it as the new current version, recording who
    /// and why; the same rules as the current version save nothing.
    Import {
        /// The rule file.
        file: PathBuf,
        /// Who saves it (default: $USER).
        #[arg(long)]
        actor: Option<String>,
        /// Why (kept with the version).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Writes a stored version (default: the current one) as YAML or JSON.
    Export {
        /// The version.
        #[arg(long = "rules-version", value_name = "N")]
        version: Option<i64>,
        /// yaml or json.
        #[arg(long, value_enum, default_value = "yaml")]
        format: RulesFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Every version, newest first: when, by whom, why, and the rules it added, changed and
    /// removed.
    History {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RulesFormat {
    Yaml,
    Json,
}

/// Runs `valdrix allocate`.
pub(crate) fn allocate_cmd(cli: &Global, tenant: &TenantId, a: &AllocateArgs) -> Result<()> {
    match &a.what {
        None => run(cli, tenant, &a.run),
        Some(AllocateCommand::Simulate(s)) => simulate(cli, tenant, s),
        Some(AllocateCommand::Export(e)) => chargeback(cli, tenant, e),
        Some(AllocateCommand::Rules(r)) => rules(cli, tenant, r),
    }
}

fn notes(allocation: &Allocation) {
    for note in &allocation.unsplit {
        eprintln!("note: {note}");
    }
}

fn run(cli: &Global, tenant: &TenantId, a: &RunArgs) -> Result<()> {
    let alloc::Allocated { rules, records, allocation } = a.split.allocate(cli, tenant)?;
    let mut out = std::io::stdout().lock();
    let people = a.format == OutputFormat::Table;
    if people {
        eprintln!("Allocated {} records by {}.", records.len(), rules.label);
    }
    if a.unallocated {
        grids::unallocated_grid(&allocation, &records, 10, people).write(a.format, &mut out)?;
    } else if a.format == OutputFormat::Json {
        let body = match &a.explain {
            Some(t) => serde_json::json!({ "rules": rules.label, "target": t, "contributions": allocation.explain(t) }),
            None => serde_json::json!({
                "rules": rules.label,
                "totals": allocation.totals().into_iter().map(|((t, c), v)| serde_json::json!({"target": t, "currency": c, "totals": v})).collect::<Vec<_>>(),
                "contributions": allocation.contributions,
                "unsplit": allocation.unsplit,
            }),
        };
        serde_json::to_writer_pretty(&mut out, &body)?;
        writeln!(out)?;
    } else if let Some(t) = &a.explain {
        anyhow::ensure!(!allocation.explain(t).is_empty(), "nothing was allocated to {t:?} in this range");
        grids::explain_grid(&allocation, t, people).write(a.format, &mut out)?;
    } else {
        grids::totals_grid(&allocation, people).write(a.format, &mut out)?;
    }
    notes(&allocation);
    Ok(())
}

fn simulate(cli: &Global, tenant: &TenantId, s: &SimulateArgs) -> Result<()> {
    let store = open_store(cli)?;
    let current_source = match &s.rules {
        Some(p) => RuleSource::File(p.clone()),
        None => RuleSource::Stored(s.rules_version),
    };
    let current = alloc::load_rules(store.as_ref(), tenant, &current_source)?;
    let candidate = alloc::load_rules(store.as_ref(), tenant, &RuleSource::File(s.candidate.clone()))?;
    let records = alloc::read_records(store.as_ref(), tenant, &s.range.query()?)?;
    let before = alloc::run(&records, &current, s.redistribute)?;
    let after = alloc::run(&records, &candidate, s.redistribute)?;
    let people = s.format == OutputFormat::Table;
    if people {
        eprintln!("{} records: {} (current) against {} (candidate).", records.len(), current.label, candidate.label);
    }
    let mut out = std::io::stdout().lock();
    grids::simulate_grid(&before, &after, people).write(s.format, &mut out)?;
    for note in &after.unsplit {
        eprintln!("note (candidate): {note}");
    }
    Ok(())
}

fn chargeback(cli: &Global, tenant: &TenantId, e: &ExportArgs) -> Result<()> {
    let alloc::Allocated { rules, allocation, .. } = e.split.allocate(cli, tenant)?;
    let grid = grids::chargeback_grid(&allocation, &rules.label);
    write_out(e.out.as_ref(), |w| grid.write(OutputFormat::Csv, w))?;
    notes(&allocation);
    Ok(())
}

/// Writes to a file (all or nothing: a temporary file renamed into place) or to standard output.
fn write_out(path: Option<&PathBuf>, f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    match path {
        None => f(&mut std::io::stdout().lock()),
        Some(p) => {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing {}", p.display()))?;
            f(&mut tmp)?;
            tmp.persist(p).with_context(|| format!("writing {}", p.display()))?;
            Ok(())
        }
    }
}

fn rules(cli: &Global, tenant: &TenantId, r: &RulesCommand) -> Result<()> {
    match r {
        RulesCommand::Import { file, actor: who, note } => {
            let mut store = open_store(cli)?;
            let (saved, d) = alloc::import_rules(store.as_mut(), tenant, file, &actor(who), note)?;
            let v = &saved.version;
            if saved.created {
                println!(
                    "Saved {} as rule set v{} for tenant {tenant} (added: {}; changed: {}; removed: {}).",
                    file.display(),
                    v.version,
                    list(&d.added),
                    list(&d.changed),
                    list(&d.removed)
                );
            } else {
                println!("{} holds the rules of the current version v{}: nothing saved.", file.display(), v.version);
            }
            Ok(())
        }
        RulesCommand::Export { version, format, out } => {
            let store = open_store(cli)?;
            let rules = alloc::load_rules(store.as_ref(), tenant, &RuleSource::Stored(*version))?;
            let text = match format {
                RulesFormat::Yaml => export_yaml(&rules.rules),
                RulesFormat::Json => export(&rules.rules),
            };
            write_out(out.as_ref(), |w| Ok(w.write_all(text.as_bytes())?))
        }
        RulesCommand::History { format } => {
            let store = open_store(cli)?;
            let mut out = std::io::stdout().lock();
            grids::history_grid(store.as_ref(), tenant)?.write(*format, &mut out)
        }
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(", ")
    }
}
