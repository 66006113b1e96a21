//! `valdrix`: cloud cost ingestion and analysis from the command line. Each command group lives
//! in a module of [`cli`]; this file holds the top-level command enum and the dispatch.

mod cli;
mod demo;

use anyhow::Result;
use clap::{Parser, Subcommand};

use cli::{allocate, anomalies, costs, export, forecast, ingest, reconcile, serve, trust, zombies, Global};
use valdrix_core::TenantId;

#[derive(Parser)]
#[command(name = "valdrix", version, about = "Bill-grade cloud cost ingestion, FOCUS normalisation and cost answers.")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest billing exports (files, folders, CUR delivery folders).
    Ingest(ingest::IngestArgs),
    /// Cost totals grouped by any dimension.
    Costs(costs::CostsArgs),
    /// Ingestion history.
    Runs(trust::RunsArgs),
    /// What deliveries changed: records added, restated and removed, net change, largest changes.
    Audit(trust::AuditArgs),
    /// Restatements that moved a day × account × service total past the alert thresholds.
    Alerts(trust::AlertsArgs),
    /// Billing periods: their state (open, preliminary, final, closed) and totals; close by hand.
    Period {
        #[command(subcommand)]
        what: trust::PeriodCommand,
    },
    /// Compare two sources of the same spend and locate the difference.
    Reconcile(reconcile::ReconcileArgs),
    /// Split the stored costs of a range among teams by the tenant's allocation rules (stored,
    /// versioned; or a rule file): each target's direct, shared and redistributed cost, the
    /// unallocated bucket, --explain for the contributions behind one target's figure; then
    /// simulate, export (chargeback CSV) and rules (import, export, history).
    Allocate(allocate::AllocateArgs),
    /// Forecast daily spend (or any `date,value` series with --input) with 80 % and 95 %
    /// intervals, the model chosen and scored by a rolling-origin backtest.
    Forecast(forecast::ForecastCmd),
    /// Days whose spend (or any `date,value` series with --input) left the forecast's 95 %
    /// interval by more than a money floor and a percentage, merged into anomalies.
    Anomalies(anomalies::AnomaliesCmd),
    /// Export stored costs.
    Export {
        #[command(subcommand)]
        what: export::ExportCommand,
    },
    /// Generate a realistic multi-cloud dataset, ingest it into a fresh store, then serve the
    /// dashboard and API on it (printing the URL and a demo key) unless --no-serve.
    Demo(cli::demo::DemoArgs),
    /// Apply database migrations.
    Migrate,
    /// Serve the HTTP API (migrating the database first).
    Serve(serve::ServeArgs),
    /// API keys of the tenant (`--tenant`): create one (shown once), list, revoke.
    Keys {
        #[command(subcommand)]
        what: serve::KeysCommand,
    },
    /// PostgreSQL upkeep: create the monthly partitions of cost records ahead of time and apply
    /// the retention policy (run it daily, as the schema's owner).
    Maintain(serve::MaintainArgs),
    /// Idle and orphaned resources: scan an account, list the rules.
    Zombies {
        #[command(subcommand)]
        what: zombies::ZombiesCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VALDRIX_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(cli) {
        // A reader that stopped early (`valdrix costs | head`) is not an error of ours.
        let closed_pipe = e
            .chain()
            .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe));
        if closed_pipe {
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    let tenant = TenantId::parse(&g.tenant)?;
    let tenant = &tenant;
    match &cli.command {
        Command::Migrate => {
            cli::open_store(g)?;
            println!("database is up to date");
            Ok(())
        }
        Command::Serve(a) => serve::serve_cmd(g, a),
        Command::Keys { what } => serve::keys_cmd(cli::open_store(g)?.as_mut(), tenant, what),
        Command::Maintain(a) => serve::maintain(g, a),
        Command::Zombies { what } => zombies::run(g, tenant, what),
        Command::Ingest(a) => ingest::run(cli::open_store(g)?.as_mut(), tenant, a, &cli::load_config(g)?),
        Command::Costs(a) => {
            let (config, store) = (cli::load_config(g)?, cli::open_store(g)?);
            match &a.what {
                None => costs::costs_cmd(store.as_ref(), tenant, a, &config),
                Some(costs::CostsCommand::History { record_id, format }) => {
                    costs::history_cmd(store.as_ref(), tenant, record_id, *format)
                }
                Some(costs::CostsCommand::Records { query, limit, format }) => {
                    costs::records_cmd(store.as_ref(), tenant, query, *limit, *format)
                }
            }
        }
        Command::Allocate(a) => allocate::allocate_cmd(g, tenant, a),
        Command::Forecast(a) => forecast::forecast_cmd(g, tenant, a),
        Command::Anomalies(a) => anomalies::anomalies_cmd(g, tenant, a),
        Command::Audit(a) => trust::audit_cmd(cli::open_store(g)?.as_ref(), tenant, a),
        Command::Alerts(a) => trust::alerts_cmd(g, cli::open_store(g)?.as_ref(), tenant, a),
        Command::Period { what } => trust::period_cmd(cli::open_store(g)?.as_mut(), tenant, what),
        Command::Runs(a) => trust::runs_cmd(cli::open_store(g)?.as_ref(), tenant, a),
        Command::Reconcile(a) => reconcile::run(cli::open_store(g)?.as_ref(), tenant, a),
        Command::Export { what } => export::run(cli::open_store(g)?.as_ref(), tenant, what),
        Command::Demo(a) => cli::demo::run(g, tenant, a),
    }
}
