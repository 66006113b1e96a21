//! `valdrix`: cloud cost ingestion and analysis from the command line.

mod allocate_cmd;
mod forecast_cmd;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use valdrix::config::Config;
use valdrix::output::{money_for_people, Grid, OutputFormat};
use valdrix::pipeline::{ingest_paths, IngestOptions, UnitOutcome};
use valdrix::trust_views;
use valdrix_core::TenantId;
use valdrix_ingest::Format;
use valdrix_store::{CostQuery, Dimension, Filter, Metric, Store};

#[derive(Parser)]
#[command(name = "valdrix", version, about = "Bill-grade cloud cost ingestion, FOCUS normalisation and cost answers.")]
struct Cli {
    /// Database: a file path or sqlite:// URL (default: valdrix.sqlite in your data directory),
    /// or a postgres:// URL.
    #[arg(long, global = true, env = "VALDRIX_DATABASE_URL")]
    database_url: Option<String>,
    /// Tenant whose data to read and write.
    #[arg(long, global = true, default_value = "default", env = "VALDRIX_TENANT")]
    tenant: String,
    /// Configuration file (default: valdrix.toml in your data directory, when it exists).
    #[arg(long, global = true, env = "VALDRIX_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest billing exports (files, folders, CUR delivery folders).
    Ingest(IngestArgs),
    /// Cost totals grouped by any dimension.
    Costs(CostsArgs),
    /// Ingestion history.
    Runs(RunsArgs),
    /// What deliveries changed: records added, restated and removed, net change, largest changes.
    Audit(AuditArgs),
    /// Restatements that moved a day × account × service total past the alert thresholds.
    Alerts(AlertsArgs),
    /// Billing periods: their state (open, preliminary, final, closed) and totals; close by hand.
    Period {
        #[command(subcommand)]
        what: PeriodCommand,
    },
    /// Compare two sources of the same spend and locate the difference.
    Reconcile(ReconcileArgs),
    /// Split the stored costs of a range among teams by the tenant's allocation rules (stored,
    /// versioned; or a rule file): each target's direct, shared and redistributed cost, the
    /// unallocated bucket, --explain for the contributions behind one target's figure; then
    /// simulate, export (chargeback CSV) and rules (import, export, history).
    Allocate(allocate_cmd::AllocateArgs),
    /// Forecast daily spend (or any `date,value` series with --input) with 80 % and 95 %
    /// intervals, the model chosen and scored by a rolling-origin backtest.
    Forecast(forecast_cmd::ForecastCmd),
    /// Days whose spend (or any `date,value` series with --input) left the forecast's 95 %
    /// interval by more than a money floor and a percentage, merged into anomalies.
    Anomalies(forecast_cmd::AnomaliesCmd),
    /// Export stored costs.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Generate a realistic multi-cloud dataset, ingest it into a fresh store, then serve the
    /// dashboard and API on it (printing the URL and a demo key) unless --no-serve.
    Demo(DemoArgs),
    /// Apply database migrations.
    Migrate,
    /// Serve the HTTP API (migrating the database first).
    Serve(ServeArgs),
    /// API keys of the tenant (`--tenant`): create one (shown once), list, revoke.
    Keys {
        #[command(subcommand)]
        what: KeysCommand,
    },
    /// PostgreSQL upkeep: create the monthly partitions of cost records ahead of time and apply
    /// the retention policy (run it daily, as the schema's owner).
    Maintain(MaintainArgs),
    /// Idle and orphaned resources: scan an account, list the rules.
    Zombies {
        #[command(subcommand)]
        what: ZombiesCommand,
    },
}

#[derive(Subcommand)]
enum ZombiesCommand {
    /// Scan an account for zombies, each priced from the bill (or a labelled list-price estimate).
    Scan(ZombieScanArgs),
    /// Stored findings with where each stands: new, still present, resolved or ignored.
    List(ZombieListArgs),
    /// Recorded scans, newest first, with what each changed.
    Scans {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Mark a finding ignored (kept out of the open list and the savings, in every later scan).
    Ignore(ZombieIgnoreArgs),
    /// Take the ignore mark off a finding.
    Unignore(ZombieIgnoreArgs),
    /// Remediation: plan actions on findings, approve a plan, execute it (a dry run unless
    /// --apply); every step in the plan's log.
    Remediate {
        #[command(subcommand)]
        what: RemediateCommand,
    },
    /// The rules, with their default window, statistic, threshold and missing-data treatment.
    Rules {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

#[derive(Subcommand)]
enum RemediateCommand {
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

#[derive(Args)]
struct ZombieListArgs {
    /// Only findings in this status: new, still-present, resolved, ignored, or open (new and
    /// still present). Repeatable; default: open and ignored.
    #[arg(long)]
    status: Vec<String>,
    /// Only this rule.
    #[arg(long)]
    rule: Option<String>,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

#[derive(Args)]
struct ZombieIgnoreArgs {
    /// The rule of the finding.
    #[arg(long)]
    rule: String,
    /// The resource.
    #[arg(long)]
    resource: String,
    /// Its region.
    #[arg(long)]
    region: String,
    /// Its account (needed only when the tenant scans several with findings of that resource).
    #[arg(long)]
    account: Option<String>,
    /// Why (kept in the finding's history).
    #[arg(long)]
    reason: String,
    /// Who (default: the user running the command).
    #[arg(long)]
    actor: Option<String>,
}

#[derive(Args)]
struct ZombieScanArgs {
    /// The cloud to scan.
    #[arg(long, default_value = "aws", value_parser = ["aws", "azure", "gcp"])]
    provider: String,
    /// A region (Azure: location) to scan (repeatable); `all` scans every region enabled for
    /// the AWS account, or holding resources of the Azure subscription or GCP project (`global`
    /// holds GCP's global resources). Default: AWS_REGION, else us-east-1, on AWS; all on Azure,
    /// GCP and inventory files.
    #[arg(long)]
    region: Vec<String>,
    /// A policy file (TOML): thresholds, windows, exclusion tags, rules turned off.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Run only this rule (repeatable).
    #[arg(long)]
    rule: Vec<String>,
    /// Judge as of this instant (RFC 3339) instead of now.
    #[arg(long)]
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// AWS: a named profile.
    #[arg(long)]
    profile: Option<String>,
    /// AWS: a role to assume in the scanned account.
    #[arg(long)]
    role_arn: Option<String>,
    /// AWS: the external id the role's trust policy requires.
    #[arg(long, requires = "role_arn")]
    external_id: Option<String>,
    /// Azure: the subscription to scan (default: AZURE_SUBSCRIPTION_ID). Credentials: an app's
    /// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, else a managed identity, else
    /// the Azure CLI's login.
    #[arg(long)]
    subscription: Option<String>,
    /// GCP: the project to scan (default: GOOGLE_CLOUD_PROJECT, else the key file's).
    /// Credentials: GOOGLE_OAUTH_ACCESS_TOKEN, else the key file GOOGLE_APPLICATION_CREDENTIALS
    /// names (or gcloud's application-default login), else the metadata server.
    #[arg(long)]
    project: Option<String>,
    /// Azure or GCP: the API base URL, for a private endpoint or a test double (default:
    /// VALDRIX_AZURE_ENDPOINT or VALDRIX_GCP_ENDPOINT, else the public cloud's). AWS takes
    /// AWS_ENDPOINT_URL.
    #[arg(long)]
    endpoint: Option<String>,
    /// Scan an inventory file instead of the cloud, offline: an AWS Config snapshot (JSON,
    /// gzipped or not), an Azure Resource Graph query result, or a GCP Cloud Asset Inventory
    /// export, as --provider says. It has no metrics: metric-judged rules leave their
    /// candidates unjudged, and metric confirmations are reported as not checked.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// With --inventory: the account, subscription or project to scan when the file holds
    /// several.
    #[arg(long, requires = "inventory")]
    account: Option<String>,
    /// Seconds listing one region may take.
    #[arg(long, default_value_t = 30)]
    region_timeout: u64,
    /// Seconds one rule may take in one region.
    #[arg(long, default_value_t = 60)]
    rule_timeout: u64,
    /// Seconds the whole scan may take.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Provider calls in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Output format (json: the whole report with every region's and rule's status).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// Do not record the scan in the store (by default its findings join their history).
    #[arg(long)]
    no_record: bool,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "VALDRIX_LISTEN")]
    listen: String,
    /// PostgreSQL: the URL requests connect with (default: the database URL as valdrix_app).
    #[arg(long, env = "VALDRIX_APP_DATABASE_URL")]
    app_database_url: Option<String>,
    /// PostgreSQL: connections in the pool.
    #[arg(long, default_value_t = 8)]
    pool: usize,
    /// PostgreSQL: a statement of a request is cancelled past this many milliseconds.
    #[arg(long, default_value_t = 5000)]
    statement_timeout_ms: u64,
    /// Requests per second each tenant may make on average (beyond: 429 with Retry-After).
    #[arg(long, default_value_t = 50)]
    rate_limit: u32,
    /// An object-storage prefix tenants may ingest from through POST /api/v1/ingest/url
    /// (repeatable; `{tenant}` stands for the caller's tenant, e.g. s3://billing/{tenant}/).
    /// None: URL ingestion is off.
    #[arg(long)]
    allow_url_prefix: Vec<String>,
    /// Signs dashboard sessions (32 characters or more); by default a random secret per start,
    /// so restarting signs everyone out.
    #[arg(long, env = "VALDRIX_SESSION_SECRET", hide_env_values = true)]
    session_secret: Option<String>,
    /// The largest upload accepted by POST /api/v1/ingest/upload, in MiB.
    #[arg(long, default_value_t = 1024)]
    max_upload_mb: u64,
    /// Requests of one tenant that may run at once (the others wait their turn): a tenant's heavy
    /// queries then cannot take every connection of the pool, nor every core. Default: half the
    /// cores (at least 1).
    #[arg(long)]
    tenant_concurrency: Option<usize>,
    /// PostgreSQL: parallel workers one request's statement may use (0: one core per request).
    #[arg(long, default_value_t = 0)]
    parallel_workers: u32,
    /// Requests a tenant may make at once before the rate applies.
    #[arg(long, default_value_t = 100)]
    rate_burst: u32,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it (it is not stored, only its hash).
    Create {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// viewer, analyst or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// The tenant's keys.
    List,
    /// Revoke a key by its id.
    Revoke {
        /// The key's id (its third dot-separated part).
        key_id: String,
    },
}

#[derive(Args)]
struct MaintainArgs {
    /// Months after the current one to create partitions for.
    #[arg(long, default_value_t = 3)]
    months_ahead: u32,
    /// Keep this many months of daily records (the current one included) and drop older
    /// partitions, for every tenant. Without it, nothing is dropped.
    #[arg(long)]
    retain_months: Option<u32>,
}

#[derive(Args)]
struct IngestArgs {
    /// Files or folders to ingest.
    #[arg(required = true)]
    paths: Vec<String>,
    /// Force the format instead of detecting it: aws-cur, aws-cur2, azure, gcp, focus.
    #[arg(long)]
    format: Option<String>,
    /// Summary output format.
    #[arg(long = "output", value_enum, default_value = "table")]
    output: OutputFormat,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Read, normalise and roll up, then report what would be written; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Deliver the input as this stream: a later delivery of the same stream (under any file
    /// name) restates it, billing period by billing period, with every change audited. NAME is a
    /// stream as `runs`, `audit` and `period list` print it (`file:/…`, `cur:…`, `named:NAME`),
    /// the path of a file ingested before, or a new name. Without it, a file is its own stream
    /// and a CUR folder's report and period are; a delivery whose billing account and period
    /// another stream already holds is refused, naming that stream.
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// Keep this delivery beside a stream that holds the same billing account and period, for
    /// exports that really are separate (two CUR reports of one payer, each of its own linked
    /// accounts): refused still when a sub account is in both.
    #[arg(long, conflicts_with = "allow_overlap")]
    keep_both: bool,
    /// Keep this delivery beside the same bill held by another stream (to reconcile two copies
    /// of one bill): both are counted, and `runs` and `audit` keep warning of the overlap.
    #[arg(long)]
    allow_overlap: bool,
    /// Read CSV rows with fewer fields than the header as if the missing trailing fields were
    /// empty, for exporters that leave them out (by default such a row is refused as truncated).
    #[arg(long)]
    pad_short_rows: bool,
    /// Record a delivery that holds no billing rows as a run (by default it is reported and
    /// nothing is written).
    #[arg(long)]
    allow_empty: bool,
    /// Deliver into a billing period closed by hand; needs --reason, recorded in the audit log.
    #[arg(long, requires = "reason")]
    force: bool,
    /// Why the delivery is forced.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Who forces it (default: $USER).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
}

#[derive(Args, Clone)]
struct QueryArgs {
    /// First day included (YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// First day excluded (YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// Filter DIMENSION=VALUE[,VALUE...] (repeatable), e.g. service=AmazonEC2, tag:team=, provider=AWS.
    #[arg(long = "filter", value_name = "DIM=VALUES")]
    filters: Vec<String>,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct CostsArgs {
    #[command(subcommand)]
    what: Option<CostsCommand>,
    /// Group by (comma-separated): service, service-category, account, sub-account, region, resource,
    /// charge-category, pricing-category, usage-type, provider, day, month, tag:KEY.
    #[arg(long, short = 'g', value_delimiter = ',')]
    group_by: Vec<String>,
    /// Amount: billed (invoice), effective (amortized), list or contracted.
    #[arg(long, default_value = "billed")]
    metric: String,
    #[command(flatten)]
    query: QueryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Show at most this many rows in a table (largest first; date groupings are shown in date order).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Only final days (through the "final through" day): the series a forecast may learn from.
    #[arg(long)]
    final_only: bool,
}

#[derive(Subcommand)]
enum CostsCommand {
    /// Every value a record has had: per delivery, when, from which file and run.
    History {
        /// The record id (`valdrix costs records` lists them; a unique prefix of the key will do).
        record_id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Stored daily records with their ids, largest first.
    Records {
        #[command(flatten)]
        query: QueryArgs,
        /// Records shown.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

#[derive(Args)]
struct AuditArgs {
    /// One run in detail: its counts, net change and largest changes.
    #[arg(long)]
    run: Option<i64>,
    /// Runs listed (without --run).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Largest changes shown with --run (all of them with --format csv or json).
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Args)]
struct AlertsArgs {
    /// Only the alerts of one run.
    #[arg(long)]
    run: Option<i64>,
    /// Alerts listed, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Subcommand)]
enum PeriodCommand {
    /// Each billing period of each source: state and totals.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Lock a billing period (YYYY-MM): later deliveries for it are refused unless forced.
    Close {
        /// The billing period, YYYY-MM.
        period: String,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "period close")]
        reason: String,
        /// Who (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Unlock a billing period closed by hand.
    Reopen {
        /// The billing period, YYYY-MM.
        period: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        /// Who (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Args)]
struct ReconcileArgs {
    /// The left side: DIM=VALUES (repeatable), e.g. source=cur.csv (a file ingested before, or a
    /// stream as `valdrix costs -g source` lists it), provider=AWS.
    #[arg(long, required = true, value_name = "DIM=VALUES")]
    left: Vec<String>,
    /// The right side, in the same form.
    #[arg(long, value_name = "DIM=VALUES", required_unless_present_any = ["invoice", "cost_explorer"])]
    right: Vec<String>,
    /// The right side is AWS Cost Explorer (GetCostAndUsage, daily, by service and linked
    /// account): UnblendedCost against billed, AmortizedCost against effective. Uses the AWS
    /// environment for credentials (AWS_ENDPOINT_URL too); the period is --from/--to, else the
    /// left side's days.
    #[arg(long, conflicts_with_all = ["right", "invoice"])]
    cost_explorer: bool,
    /// The right side is an invoice-totals CSV instead: columns billing_period (YYYY-MM),
    /// currency, amount, and optionally account (the billing account). The left side is then
    /// restricted to those billing periods and located by billing account.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "right")]
    invoice: Option<PathBuf>,
    /// Amount compared: billed (invoice), effective (amortized), list or contracted.
    #[arg(long, default_value = "billed")]
    metric: String,
    /// Period and filters both sides share.
    #[command(flatten)]
    query: QueryArgs,
    /// Flag differences above this many percent.
    #[arg(long, default_value = "0.5")]
    threshold: String,
    /// Contributors shown per dimension (service, account, day).
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Args)]
struct RunsArgs {
    /// Number of runs to list.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// FOCUS 1.2 at daily grain, as CSV or Parquet (by the file's extension).
    Focus {
        /// Output file (.csv or .parquet).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        query: QueryArgs,
    },
}

#[derive(Args)]
struct DemoArgs {
    /// Where to write the generated exports and the demo database.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the generator (the same seed gives the same files).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Only generate and ingest; do not start the server.
    #[arg(long)]
    no_serve: bool,
    #[command(flatten)]
    serve: ServeArgs,
}

fn data_dir() -> PathBuf {
    directories::ProjectDirs::from("dev", "valdrix", "valdrix")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".valdrix"))
}

fn default_database() -> String {
    data_dir().join("valdrix.sqlite").to_string_lossy().into_owned()
}

/// Who is acting: `--actor`, else the login name.
fn actor(given: &Option<String>) -> String {
    given
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

fn load_config(cli: &Cli) -> Result<Config> {
    Config::load(cli.config.as_deref(), &data_dir())
}

fn open_store(cli: &Cli) -> Result<Box<dyn Store + Send>> {
    let url = cli.database_url.clone().unwrap_or_else(default_database);
    valdrix_store::open(&url).with_context(|| format!("opening the database {}", redact(&url)))
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

fn parse_date(s: &Option<String>, what: &str) -> Result<Option<chrono::NaiveDate>> {
    match s {
        None => Ok(None),
        Some(t) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .with_context(|| format!("--{what} {t:?}: expected YYYY-MM-DD")),
    }
}

fn build_query(group_by: &[String], metric: &str, q: &QueryArgs) -> Result<CostQuery> {
    let mut query = CostQuery {
        metric: Metric::parse(metric)
            .with_context(|| format!("unknown metric {metric:?}: use billed, effective, list or contracted"))?,
        from: parse_date(&q.from, "from")?,
        to: parse_date(&q.to, "to")?,
        ..Default::default()
    };
    for g in group_by.iter().filter(|g| !g.trim().is_empty()) {
        query.group_by.push(Dimension::parse(g).with_context(|| format!("unknown dimension {g:?}"))?);
    }
    for f in &q.filters {
        query.filters.push(parse_filter(f, "filter")?);
    }
    Ok(query)
}

/// A `DIM=VALUE[,VALUE...]` argument of option `--{option}`.
fn parse_filter(f: &str, option: &str) -> Result<Filter> {
    let (dim, vals) = f.split_once('=').with_context(|| format!("--{option} {f:?}: expected DIMENSION=VALUE"))?;
    let dimension = Dimension::parse(dim).with_context(|| format!("unknown dimension {dim:?} in --{option}"))?;
    Ok(Filter { dimension, values: vals.split(',').map(|v| v.trim().to_string()).collect() })
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
    let tenant = TenantId::parse(&cli.tenant)?;
    match &cli.command {
        Command::Migrate => {
            open_store(&cli)?;
            println!("database is up to date");
            Ok(())
        }
        Command::Serve(a) => serve_cmd(&cli, a),
        Command::Keys { what } => {
            let mut store = open_store(&cli)?;
            keys_cmd(store.as_mut(), &tenant, what)
        }
        Command::Maintain(a) => {
            let url = cli.database_url.clone().unwrap_or_else(default_database);
            if !valdrix_store::postgres::is_postgres_url(&url) {
                anyhow::bail!("valdrix maintain manages PostgreSQL partitions; {} is a SQLite store", redact(&url));
            }
            let mut store = valdrix_store::PgStore::open(&url).with_context(|| format!("opening {}", redact(&url)))?;
            let m = store.maintain(chrono::Utc::now().date_naive(), a.months_ahead, a.retain_months)?;
            let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
            println!("partitions created: {}", list(&m.created));
            println!("partitions dropped: {}", list(&m.dropped));
            println!(
                "cost records are kept in {} monthly partition(s): {} .. {}",
                m.partitions.len(),
                m.partitions.first().map(String::as_str).unwrap_or("-"),
                m.partitions.last().map(String::as_str).unwrap_or("-")
            );
            Ok(())
        }
        Command::Zombies { what } => zombies_cmd(&cli, &tenant, what),
        Command::Ingest(a) => {
            let config = load_config(&cli)?;
            let mut store = open_store(&cli)?;
            ingest_cmd(store.as_mut(), &tenant, a, &config)
        }
        Command::Costs(a) => {
            let config = load_config(&cli)?;
            let store = open_store(&cli)?;
            match &a.what {
                None => costs_cmd(store.as_ref(), &tenant, a, &config),
                Some(CostsCommand::History { record_id, format }) => {
                    history_cmd(store.as_ref(), &tenant, record_id, *format)
                }
                Some(CostsCommand::Records { query, limit, format }) => {
                    let q = build_query(&[], "billed", query)?;
                    let rows = store.records(&tenant, &q, None, *limit)?;
                    let mut out = std::io::stdout().lock();
                    trust_views::records(&rows, *format != OutputFormat::Table).write(*format, &mut out)
                }
            }
        }
        Command::Allocate(a) => allocate_cmd::allocate_cmd(&cli, &tenant, a),
        Command::Forecast(a) => forecast_cmd::forecast_cmd(&cli, &tenant, a),
        Command::Anomalies(a) => forecast_cmd::anomalies_cmd(&cli, &tenant, a),
        Command::Audit(a) => {
            let store = open_store(&cli)?;
            audit_cmd(store.as_ref(), &tenant, a)
        }
        Command::Alerts(a) => {
            let store = open_store(&cli)?;
            let alerts = store.alerts(&tenant, a.run, None, a.limit)?;
            let mut out = std::io::stdout().lock();
            trust_views::alerts(&alerts, a.format != OutputFormat::Table).write(a.format, &mut out)?;
            if a.format == OutputFormat::Table {
                let config = load_config(&cli)?;
                writeln!(
                    out,
                    "{} alert(s); thresholds now: more than {}% and more than {} of a day × account × service total{}",
                    alerts.len(),
                    config.trust.alert_percent,
                    config.trust.alert_floor,
                    config.path.map(|p| format!(" ({})", p.display())).unwrap_or_else(|| " (defaults)".into())
                )?;
            }
            Ok(())
        }
        Command::Period { what } => {
            let mut store = open_store(&cli)?;
            period_cmd(store.as_mut(), &tenant, what)
        }
        Command::Runs(a) => {
            let store = open_store(&cli)?;
            runs_cmd(store.as_ref(), &tenant, a)
        }
        Command::Reconcile(a) => {
            let store = open_store(&cli)?;
            reconcile_cmd(store.as_ref(), &tenant, a)
        }
        Command::Export { what: ExportCommand::Focus { out, query } } => {
            let store = open_store(&cli)?;
            let q = build_query(&[], "billed", query)?;
            let t0 = Instant::now();
            let n = valdrix::export::export_focus(store.as_ref(), &tenant, &q, out)?;
            eprintln!("wrote {n} FOCUS 1.2 rows to {} in {:.1} s", out.display(), t0.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Demo(a) => {
            let dir = a.dir.clone().unwrap_or_else(|| data_dir().join("demo"));
            let db = valdrix::demo::run(&dir, a.seed, cli.database_url.as_deref(), &tenant)?;
            if a.no_serve {
                return Ok(());
            }
            let mut store = valdrix_store::open(&db).with_context(|| format!("opening {}", redact(&db)))?;
            let issued = valdrix_server::auth::issue(
                &tenant,
                "demo",
                valdrix_store::keys::Role::Admin,
                &format!("cli:{}", actor(&None)),
            )
            .map_err(anyhow::Error::msg)?;
            store.create_api_key(&tenant, &issued.stored)?;
            drop(store);
            let key = issued.key;
            serve_url(&cli, &db, &a.serve, &move |addr| {
                use std::io::Write;
                // Written, not println!: a closed stdout must not stop the server.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "\nThe dashboard is at http://{addr}/  (the API at http://{addr}/api/v1/docs/)");
                let _ = writeln!(
                    out,
                    "Sign in with this demo key (admin of tenant {}; shown once):\n  {key}",
                    tenant.as_str()
                );
                let _ = writeln!(out, "Stop the server with Ctrl-C.");
                let _ = out.flush();
            })
        }
    }
}

fn zombies_cmd(cli: &Cli, tenant: &TenantId, what: &ZombiesCommand) -> Result<()> {
    use std::time::Duration;
    use valdrix::zombies;
    let mut out = std::io::stdout().lock();
    match what {
        ZombiesCommand::Rules { format } => zombies::rules_grid().write(*format, &mut out),
        ZombiesCommand::Scan(a) => {
            let request = zombies::ScanRequest {
                cloud: valdrix_zombies::Cloud::parse(&a.provider).context("--provider")?,
                regions: a.region.clone(),
                policy: a.policy.clone(),
                only_rules: a.rule.clone(),
                at: a.at,
                aws: valdrix_zombies::aws::AwsConnection {
                    profile: a.profile.clone(),
                    role_arn: a.role_arn.clone(),
                    external_id: a.external_id.clone(),
                    home_region: None,
                },
                azure: valdrix_zombies::azure::AzureConnection {
                    subscription: a.subscription.clone(),
                    endpoint: a.endpoint.clone(),
                },
                gcp: valdrix_zombies::gcp::GcpConnection { project: a.project.clone(), endpoint: a.endpoint.clone() },
                inventory: a.inventory.clone(),
                account: a.account.clone(),
                region_timeout: Duration::from_secs(a.region_timeout),
                rule_timeout: Duration::from_secs(a.rule_timeout),
                timeout: Duration::from_secs(a.timeout),
                concurrency: a.concurrency,
            };
            let mut store = open_store(cli)?;
            let report = zombies::scan(Some(store.as_ref()), tenant, &request)?;
            zombies::write_report(&report, a.format, &mut out)?;
            if !a.no_record {
                let s = zombies::record(store.as_mut(), tenant, &report, &format!("cli:{}", actor(&None)))?;
                eprintln!(
                    "recorded scan {}: {} new, {} still present, {} resolved, {} ignored (valdrix zombies list)",
                    s.scan_id, s.new, s.still_present, s.resolved, s.ignored
                );
            }
            Ok(())
        }
        ZombiesCommand::List(a) => {
            use valdrix_store::zombies::{ZombieFilter, ZombieStatus};
            let mut statuses = Vec::new();
            for s in &a.status {
                match s.as_str() {
                    "open" => statuses.extend([ZombieStatus::New, ZombieStatus::StillPresent]),
                    other => statuses.push(ZombieStatus::parse(other).with_context(|| {
                        format!("--status {other}: use new, still-present, resolved, ignored or open")
                    })?),
                }
            }
            if statuses.is_empty() {
                statuses = vec![ZombieStatus::New, ZombieStatus::StillPresent, ZombieStatus::Ignored];
            }
            let store = open_store(cli)?;
            let filter = ZombieFilter { statuses, rule: a.rule.clone(), cloud: None, limit: a.limit };
            let rows = store.zombies(tenant, &filter)?;
            zombies::stored_grid(&rows, a.format == OutputFormat::Table).write(a.format, &mut out)
        }
        ZombiesCommand::Scans { limit, format } => {
            let store = open_store(cli)?;
            zombies::scans_grid(&store.zombie_scans(tenant, *limit)?).write(*format, &mut out)
        }
        ZombiesCommand::Remediate { what } => remediate_cmd(cli, tenant, what, &mut out),
        ZombiesCommand::Ignore(a) | ZombiesCommand::Unignore(a) => {
            let ignore = matches!(what, ZombiesCommand::Ignore(_));
            let mut store = open_store(cli)?;
            let all = valdrix_store::zombies::ZombieFilter { rule: Some(a.rule.clone()), ..Default::default() };
            let matches: Vec<_> = store
                .zombies(tenant, &all)?
                .into_iter()
                .filter(|z| z.key.resource_id == a.resource && z.key.region == a.region)
                .filter(|z| a.account.as_ref().is_none_or(|acc| &z.key.account == acc))
                .collect();
            let key = match matches.as_slice() {
                [one] => one.key.clone(),
                [] => bail!("no finding of {} for {} in {}", a.rule, a.resource, a.region),
                _ => bail!("findings of {} accounts match: say which with --account", matches.len()),
            };
            let who = format!("cli:{}", actor(&a.actor));
            store.set_zombie_ignored(tenant, &key, ignore, &who, &a.reason)?;
            writeln!(
                out,
                "{} {} ({} in {})",
                if ignore { "ignored" } else { "unignored" },
                key.resource_id,
                key.rule,
                key.region
            )?;
            Ok(())
        }
    }
}

fn remediate_cmd(cli: &Cli, tenant: &TenantId, what: &RemediateCommand, out: &mut dyn Write) -> Result<()> {
    use valdrix::zombies;
    use valdrix_store::zombies::PlanState;
    let mut store = open_store(cli)?;
    let who = |a: &Option<String>| format!("cli:{}", actor(a));
    let show = |plan: &valdrix_store::zombies::RemediationPlan, out: &mut dyn Write| -> Result<()> {
        writeln!(out, "plan {} ({} account {}): {}", plan.plan_id, plan.cloud, plan.account, plan.state.as_str())?;
        zombies::plan_grid(plan, true).write(OutputFormat::Table, out)
    };
    match what {
        RemediateCommand::Plan { rule, resource, account, actor: a } => {
            let req =
                zombies::PlanRequest { rules: rule.clone(), resources: resource.clone(), account: account.clone() };
            let plan = zombies::plan(store.as_mut(), tenant, &req, &who(a))?;
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
            zombies::log_grid(&log).write(*format, out)
        }
        RemediateCommand::Approve { plan, actor: a } => {
            let config = load_config(cli)?;
            let p = zombies::approve(store.as_mut(), tenant, *plan, &who(a), &config.approvers)?;
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
            let p = zombies::execute(store.as_mut(), tenant, *plan, *apply, &who(a), &conn)?;
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
            valdrix_store::zombies::cancel_plan(store.as_mut(), tenant, *plan, &who(a), reason)?;
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

fn serve_cmd(cli: &Cli, a: &ServeArgs) -> Result<()> {
    let url = cli.database_url.clone().unwrap_or_else(default_database);
    serve_url(cli, &url, a, &|addr| {
        eprintln!("valdrix API on http://{addr}/api/v1 (health: /healthz, /readyz); dashboard on http://{addr}/")
    })
}

/// Serves the store at `url`; `started` is told the address once the server listens.
fn serve_url(cli: &Cli, url: &str, a: &ServeArgs, started: &dyn Fn(std::net::SocketAddr)) -> Result<()> {
    use valdrix_server::{AppState, RateLimits, StorePool};
    let config = load_config(cli)?;
    let url = url.to_string();
    let stores = if valdrix_store::postgres::is_postgres_url(&url) {
        // Migrate as the owner, then serve as the application role.
        valdrix_store::PgStore::open(&url).with_context(|| format!("migrating {}", redact(&url)))?;
        let app = a
            .app_database_url
            .clone()
            .unwrap_or_else(|| valdrix_store::postgres::with_user(&url, valdrix_store::postgres::APP_ROLE));
        let options = valdrix_store::PgOptions {
            statement_timeout_ms: a.statement_timeout_ms,
            parallel_workers: Some(a.parallel_workers),
        };
        valdrix_store::PgStore::connect_with(&app, options.clone())
            .with_context(|| format!("connecting as the application role ({})", redact(&app)))?;
        StorePool::postgres(&app, options, a.pool)
    } else {
        StorePool::sqlite(valdrix_store::SqliteStore::open(&url).with_context(|| format!("opening {url}"))?)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("listening on {}", a.listen))?;
        started(listener.local_addr()?);
        // Half the cores: one tenant's heavy requests always leave the other half to the rest
        // (BENCHMARKS.md, noisy neighbours: with every core, a small tenant's p99 grew 1.4-1.7×).
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let concurrency = a.tenant_concurrency.unwrap_or((cores / 2).max(1));
        let limits = RateLimits::per_tenant(a.rate_limit, a.rate_burst).with_concurrency(concurrency);
        let ops = std::sync::Arc::new(valdrix::server_ops::AppOperations {
            policy: config.trust.clone(),
            plausible: config.plausible,
        });
        let mut state = AppState::new(stores, limits, ops).map_err(anyhow::Error::msg)?;
        state.policy = config.trust.clone();
        state.max_upload_bytes = a.max_upload_mb.saturating_mul(1 << 20);
        state.url_prefixes = a.allow_url_prefix.clone();
        if let Some(secret) = &a.session_secret {
            state.sessions = valdrix_server::dashboard::session::SessionKey::from_secret(secret)
                .map_err(anyhow::Error::msg)
                .context("--session-secret")?;
        }
        valdrix_server::serve(listener, state).await?;
        Ok(())
    })
}

fn keys_cmd(store: &mut dyn Store, tenant: &TenantId, what: &KeysCommand) -> Result<()> {
    match what {
        KeysCommand::Create { name, role } => {
            let role = valdrix_store::keys::Role::parse(role)
                .with_context(|| format!("--role {role:?}: use viewer, analyst or admin"))?;
            let issued = valdrix_server::auth::issue(tenant, name, role, &format!("cli:{}", actor(&None)))
                .map_err(anyhow::Error::msg)?;
            let info = store.create_api_key(tenant, &issued.stored)?;
            println!("{}", issued.key);
            eprintln!(
                "created {} key {} ({}) for tenant {tenant}; it is shown once, only its hash is stored",
                info.role.as_str(),
                info.key_id,
                info.name
            );
        }
        KeysCommand::List => {
            for k in store.api_keys(tenant)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.key_id,
                    k.role.as_str(),
                    k.name,
                    k.created_at,
                    k.revoked_at.map(|r| format!("revoked {r}")).unwrap_or_else(|| "active".into())
                );
            }
        }
        KeysCommand::Revoke { key_id } => {
            if !store.revoke_api_key(tenant, key_id)? {
                anyhow::bail!("tenant {tenant} has no key {key_id}");
            }
            println!("revoked {key_id}");
        }
    }
    Ok(())
}

fn ingest_cmd(store: &mut dyn Store, tenant: &TenantId, a: &IngestArgs, config: &Config) -> Result<()> {
    let format = match &a.format {
        None => None,
        Some(f) => Some(Format::parse(f).with_context(|| {
            format!("unknown format {f:?}: use one of {}", Format::ALL.map(|f| f.name()).join(", "))
        })?),
    };
    let mut paths = Vec::new();
    let mut downloads = Vec::new();
    for p in &a.paths {
        if valdrix::remote::is_url(p) {
            let d = valdrix::remote::fetch(p)?;
            if !a.quiet {
                eprintln!("fetched {} object(s), {} bytes, from {}", d.objects, d.bytes, d.url);
            }
            paths.push(d.root.clone());
            downloads.push(d);
        } else if p.contains("://") {
            bail!("{p}: unsupported URL scheme (use s3://, az://, gs:// or a local path)");
        } else {
            paths.push(PathBuf::from(p));
        }
    }
    let url_roots: Vec<(PathBuf, String)> = downloads.iter().map(|d| (d.root.clone(), d.url.clone())).collect();
    let bar = if a.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec}) {binary_bytes_per_sec:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    };
    let t0 = Instant::now();
    let display = |p: &Path| valdrix::remote::display_path(&downloads, p);
    if a.dry_run {
        return dry_run(&paths, format, a, config.plausible, &bar, &display);
    }
    let mut last_file = String::new();
    let opts = IngestOptions {
        format,
        url_roots,
        stream: a.stream.clone(),
        policy: config.trust.clone(),
        forced: a
            .force
            .then(|| valdrix_store::Forced { actor: actor(&a.actor), reason: a.reason.clone().unwrap_or_default() }),
        pad_short_rows: a.pad_short_rows,
        plausible: Some(config.plausible),
        allow_empty: a.allow_empty,
        overlap: if a.allow_overlap {
            valdrix_store::scope::OverlapPolicy::Allow
        } else if a.keep_both {
            valdrix_store::scope::OverlapPolicy::Disjoint
        } else {
            valdrix_store::scope::OverlapPolicy::Refuse
        },
    };
    let outcomes = ingest_paths(store, tenant, &paths, &display, &opts, &mut |file, p| {
        if file != last_file {
            bar.set_message(file.to_string());
            last_file = file.to_string();
        }
        bar.set_position(p.rows);
    });
    bar.finish_and_clear();
    let outcomes = outcomes?;
    let elapsed = t0.elapsed().as_secs_f64();
    let mut grid = Grid {
        columns: [
            "run",
            "source",
            "format",
            "rows",
            "records",
            "restated",
            "added_late",
            "removed",
            "alerts",
            "currency",
            "billed",
            "effective",
            "status",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
        numeric: vec![true, false, false, true, true, true, true, true, true, false, true, true, false],
    };
    let mut total_rows = 0u64;
    for o in &outcomes {
        let (run, status) = match o {
            UnitOutcome::Written(r) => (r, "ingested".to_string()),
            UnitOutcome::Unchanged { existing, .. } => {
                (existing, format!("unchanged (same content as run {})", existing.run_id))
            }
            UnitOutcome::Empty { source } => {
                eprintln!("warning: {source} holds no billing rows; nothing written (--allow-empty records it)");
                let mut row = vec![None; grid.columns.len()];
                row[1] = Some(source.clone());
                row[12] = Some("empty: no billing rows, nothing written".to_string());
                grid.rows.push(row);
                continue;
            }
        };
        let source = match o {
            UnitOutcome::Unchanged { source, .. } => source.clone(),
            _ => run.source_uri.clone(),
        };
        if matches!(o, UnitOutcome::Written(_)) {
            total_rows += run.rows_read;
        }
        let machine = a.output != OutputFormat::Table;
        let money = |d: rust_decimal::Decimal| {
            if machine {
                d.normalize().to_string()
            } else {
                money_for_people(d)
            }
        };
        let mut first = true;
        let totals: Vec<_> = if run.totals.is_empty() {
            vec![(String::new(), Default::default())]
        } else {
            run.totals.clone().into_iter().collect()
        };
        for (cur, t) in totals {
            let t: valdrix_store::CurrencyTotals = t;
            grid.rows.push(vec![
                first.then(|| run.run_id.to_string()),
                first.then(|| source.clone()),
                first.then(|| run.format.clone()),
                first.then(|| run.rows_read.to_string()),
                first.then(|| run.records.to_string()),
                first.then(|| run.changes.restated.to_string()),
                first.then(|| run.changes.added_late.to_string()),
                first.then(|| run.changes.removed.to_string()),
                first.then(|| run.changes.alerts.to_string()),
                (!cur.is_empty()).then(|| cur.clone()),
                (!cur.is_empty()).then(|| money(t.billed)),
                (!cur.is_empty()).then(|| money(t.effective)),
                first.then(|| status.clone()),
            ]);
            first = false;
        }
    }
    let mut out = std::io::stdout().lock();
    grid.write(a.output, &mut out)?;
    if a.output == OutputFormat::Table {
        let alerts: u64 = outcomes
            .iter()
            .filter_map(|o| match o {
                UnitOutcome::Written(r) => Some(r.changes.alerts),
                _ => None,
            })
            .sum();
        if alerts > 0 {
            writeln!(out, "{alerts} restatement alert(s): see `valdrix alerts`")?;
        }
        writeln!(
            out,
            "{} unit(s), {total_rows} rows in {elapsed:.2} s ({:.0} rows/s)",
            outcomes.len(),
            total_rows as f64 / elapsed.max(1e-9)
        )?;
    }
    Ok(())
}

fn dry_run(
    paths: &[PathBuf],
    format: Option<Format>,
    a: &IngestArgs,
    plausible: valdrix_ingest::validate::Plausible,
    bar: &ProgressBar,
    display: &dyn Fn(&Path) -> String,
) -> Result<()> {
    let t0 = Instant::now();
    let units = valdrix_ingest::resolve_inputs(paths)?;
    let mut grid = Grid {
        columns: ["source", "format", "rows", "lines", "records", "currency", "billed", "effective", "read_ms"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
        numeric: vec![false, false, true, true, true, false, true, true, true],
    };
    let mut total_rows = 0u64;
    for unit in &units {
        let opts = IngestOptions {
            format,
            pad_short_rows: a.pad_short_rows,
            plausible: Some(plausible),
            ..Default::default()
        };
        let r = valdrix::pipeline::read_unit(unit, display, &opts, &mut |_, p| bar.set_position(p.rows))?;
        total_rows += r.rows;
        for (cur, t) in r.records.totals_by_currency() {
            grid.rows.push(vec![
                Some(r.source.clone()),
                r.format.map(|f| f.name().to_string()),
                Some(r.rows.to_string()),
                Some(r.lines.to_string()),
                Some(r.records.len().to_string()),
                Some(cur),
                Some(t.billed_cost.normalize().to_string()),
                Some(t.effective_cost.normalize().to_string()),
                Some(r.read_ms.to_string()),
            ]);
        }
    }
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    grid.write(a.output, &mut out)?;
    if a.output == OutputFormat::Table {
        let s = t0.elapsed().as_secs_f64();
        writeln!(
            out,
            "dry run: nothing written; {total_rows} rows in {s:.2} s ({:.0} rows/s)",
            total_rows as f64 / s.max(1e-9)
        )?;
    }
    Ok(())
}

fn costs_cmd(store: &dyn Store, tenant: &TenantId, a: &CostsArgs, config: &Config) -> Result<()> {
    let now = chrono::Utc::now();
    let mut q = build_query(&a.group_by, &a.metric, &a.query)?;
    let fresh = store.freshness(tenant, now, &config.trust)?;
    if a.final_only {
        // Only days through the last final one; grouping is kept as asked.
        let end = fresh.final_through.and_then(|d| d.succ_opt()).unwrap_or(chrono::NaiveDate::MIN);
        q.to = Some(q.to.map_or(end, |t| t.min(end)));
    }
    let mut rows = store.costs(tenant, &q)?;
    let by_date = q.group_by.iter().any(|d| matches!(d, Dimension::Day | Dimension::Month));
    if !by_date {
        rows.sort_by(|x, y| y.amount.cmp(&x.amount).then_with(|| x.keys.cmp(&y.keys)));
    }
    let total_rows = rows.len();
    let machine = a.format != OutputFormat::Table;
    if !machine && rows.len() > a.limit {
        rows.truncate(a.limit);
    }
    let mut columns: Vec<String> = q.group_by.iter().map(|d| d.label()).collect();
    columns.extend([
        "currency".to_string(),
        format!("{}_cost", format!("{:?}", q.metric).to_lowercase()),
        "records".to_string(),
    ]);
    let mut numeric = vec![false; q.group_by.len()];
    numeric.extend([false, true, true]);
    // Grouped by day, each day says whether it is final yet.
    let day_at = q.group_by.iter().position(|d| *d == Dimension::Day);
    if day_at.is_some() {
        columns.push("status".to_string());
        numeric.push(false);
    }
    let status = |keys: &[Option<String>]| -> Option<String> {
        let day = keys.get(day_at?)?.as_deref()?;
        let day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
        let final_day = fresh.final_through.is_some_and(|f| day <= f);
        Some(if final_day { "final" } else { "preliminary" }.to_string())
    };
    let grid = Grid {
        columns,
        rows: rows
            .iter()
            .map(|r| {
                let mut v: Vec<Option<String>> = r.keys.clone();
                v.push(Some(r.currency.clone()));
                v.push(Some(if machine { r.amount.to_string() } else { money_for_people(r.amount) }));
                v.push(Some(r.records.to_string()));
                if day_at.is_some() {
                    v.push(status(&r.keys));
                }
                v
            })
            .collect(),
        numeric,
    };
    let mut out = std::io::stdout().lock();
    grid.write(a.format, &mut out)?;
    if !machine {
        if total_rows > rows.len() {
            writeln!(out, "showing {} of {total_rows} groups (--limit)", rows.len())?;
        }
        for (cur, t) in
            store.costs(tenant, &CostQuery { group_by: vec![], ..q.clone() })?.iter().map(|r| (&r.currency, r.amount))
        {
            writeln!(out, "total {cur} {}", money_for_people(t))?;
        }
        if let Some(complete) = fresh.complete_through {
            let final_part = match fresh.final_through {
                Some(f) => format!("final through {f}"),
                None => "no day final yet".to_string(),
            };
            let only = if a.final_only { " (only final days shown)" } else { "" };
            writeln!(out, "costs complete through {complete}; {final_part}{only}")?;
        }
    }
    Ok(())
}

fn history_cmd(store: &dyn Store, tenant: &TenantId, record_id: &str, format: OutputFormat) -> Result<()> {
    let h = store.record_history(tenant, record_id)?;
    let mut out = std::io::stdout().lock();
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut out, &h)?;
        writeln!(out)?;
        return Ok(());
    }
    if format == OutputFormat::Table {
        writeln!(out, "record {}  day {}  billing period {}", h.record_id, h.charge_date, h.billing_period)?;
        writeln!(out, "source {}", h.stream)?;
        let grain: Vec<String> = h.grain.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "grain {}", grain.join("  "))?;
    }
    trust_views::history(&h, format != OutputFormat::Table).write(format, &mut out)
}

fn audit_cmd(store: &dyn Store, tenant: &TenantId, a: &AuditArgs) -> Result<()> {
    warn_overlaps(store, tenant)?;
    let machine = a.format != OutputFormat::Table;
    let mut out = std::io::stdout().lock();
    match a.run {
        Some(run) => {
            let top = if machine { usize::MAX } else { a.top };
            let audit = store.run_audit(tenant, run, top)?;
            if machine {
                // Programs get every entry of the run.
                return trust_views::largest_changes(&audit, true).write(a.format, &mut out);
            }
            trust_views::runs_changes(std::slice::from_ref(&audit), false).write(a.format, &mut out)?;
            if audit.largest.is_empty() {
                writeln!(out, "run {run} changed no stored value")?;
            } else {
                writeln!(out, "largest changes (valdrix costs history RECORD for a record's history):")?;
                trust_views::largest_changes(&audit, false).write(a.format, &mut out)?;
            }
            let events: Vec<_> = store.audit_events(tenant)?.into_iter().filter(|e| e.run_id == Some(run)).collect();
            if !events.is_empty() {
                trust_views::events(&events).write(a.format, &mut out)?;
            }
            Ok(())
        }
        None => {
            let runs = store.runs(tenant, a.limit)?;
            let audits =
                runs.iter().map(|r| store.run_audit(tenant, r.run_id, 0)).collect::<valdrix_store::Result<Vec<_>>>()?;
            trust_views::runs_changes(&audits, machine).write(a.format, &mut out)?;
            if !machine {
                let events = store.audit_events(tenant)?;
                if !events.is_empty() {
                    writeln!(out, "period events:")?;
                    trust_views::events(&events).write(a.format, &mut out)?;
                }
            }
            Ok(())
        }
    }
}

fn period_cmd(store: &mut dyn Store, tenant: &TenantId, what: &PeriodCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match what {
        PeriodCommand::List { format } => {
            let periods = store.periods(tenant, chrono::Utc::now())?;
            trust_views::periods(&periods, *format != OutputFormat::Table).write(*format, &mut out)
        }
        PeriodCommand::Close { period, reason, actor: who } => {
            let c = store.close_period(tenant, period, &actor(who), reason)?;
            writeln!(out, "billing period {} closed by {} at {}", c.period, c.closed_by, c.closed_at)?;
            Ok(())
        }
        PeriodCommand::Reopen { period, reason, actor: who } => {
            store.reopen_period(tenant, period, &actor(who), reason)?;
            writeln!(out, "billing period {period} reopened")?;
            Ok(())
        }
    }
}

/// One side of a reconciliation: the stored amounts by service, account and day under the shared
/// query and this side's filters. A `source` value naming an existing file becomes that file's
/// stream (`file:` and its canonical path), as ingestion named it.
fn reconcile_side(
    store: &dyn Store,
    tenant: &TenantId,
    a: &ReconcileArgs,
    side: &[String],
    name: &str,
    invoice_periods: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<valdrix_core::reconcile::Contribution>> {
    let mut query = build_query(&[], &a.metric, &a.query)?;
    query.group_by = vec![Dimension::Service, Dimension::Account, Dimension::SubAccount, Dimension::Day];
    if let Some(periods) = invoice_periods {
        query.filters.push(Filter { dimension: Dimension::BillingPeriod, values: periods.iter().cloned().collect() });
    }
    for f in side {
        let mut filter = parse_filter(f, name)?;
        if filter.dimension == Dimension::Source {
            for v in &mut filter.values {
                if let Ok(p) = std::fs::canonicalize(&*v) {
                    *v = format!("file:{}", p.display());
                }
            }
        }
        query.filters.push(filter);
    }
    let rows = store.costs(tenant, &query)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut keys = r.keys.into_iter();
            let (service, account, sub_account, day) = (keys.next(), keys.next(), keys.next(), keys.next());
            // Invoices are per billing account; otherwise the usage account locates more finely.
            let account = match invoice_periods {
                Some(_) => account.flatten(),
                None => sub_account.flatten().or(account.flatten()),
            };
            valdrix_core::reconcile::Contribution {
                currency: r.currency,
                service: service.flatten(),
                account,
                day: day.flatten().and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                amount: r.amount,
            }
        })
        .collect())
}

/// An invoice-totals CSV as reconciliation amounts, and the billing periods it covers.
fn read_invoice(
    file: &Path,
) -> Result<(Vec<valdrix_core::reconcile::Contribution>, std::collections::BTreeSet<String>)> {
    let name = file.display();
    let mut reader = csv::Reader::from_path(file).with_context(|| format!("reading {name}"))?;
    let headers = reader.headers().with_context(|| format!("{name}: reading the header"))?.clone();
    let column = |c: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(c));
    let need =
        |c: &str| column(c).with_context(|| format!("{name}: no column {c:?} (need billing_period, currency, amount)"));
    let (period_at, currency_at, amount_at) = (need("billing_period")?, need("currency")?, need("amount")?);
    let account_at = column("account");
    let (mut out, mut periods) = (Vec::new(), std::collections::BTreeSet::new());
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.with_context(|| format!("{name}: row {line}"))?;
        let cell = |at: usize| row.get(at).unwrap_or("").trim();
        let period = cell(period_at);
        if chrono::NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").is_err() || period.len() != 7 {
            bail!("{name}: row {line}, column billing_period: {period:?} is not YYYY-MM");
        }
        let currency = cell(currency_at);
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            bail!("{name}: row {line}, column currency: {currency:?} is not a currency code");
        }
        let amount = valdrix_core::parse_decimal(cell(amount_at))
            .with_context(|| format!("{name}: row {line}, column amount"))?;
        periods.insert(period.to_string());
        out.push(valdrix_core::reconcile::Contribution {
            currency: currency.to_ascii_uppercase(),
            service: None,
            account: account_at.map(|at| cell(at).to_string()).filter(|a| !a.is_empty()),
            day: None,
            amount,
        });
    }
    Ok((out, periods))
}

fn reconcile_cmd(store: &dyn Store, tenant: &TenantId, a: &ReconcileArgs) -> Result<()> {
    use valdrix_core::reconcile::reconcile;
    let threshold: rust_decimal::Decimal =
        a.threshold.parse().with_context(|| format!("--threshold {:?}: expected a percentage", a.threshold))?;
    let (left, right) = match &a.invoice {
        Some(file) => {
            let (right, periods) = read_invoice(file)?;
            (reconcile_side(store, tenant, a, &a.left, "left", Some(&periods))?, right)
        }
        None if a.cost_explorer => {
            let left = reconcile_side(store, tenant, a, &a.left, "left", None)?;
            let days = || left.iter().filter_map(|c| c.day);
            let from = parse_date(&a.query.from, "from")?.or_else(|| days().min());
            let to = parse_date(&a.query.to, "to")?.or_else(|| days().max().and_then(|d| d.succ_opt()));
            let (Some(from), Some(to)) = (from, to) else {
                bail!("--left {}: no stored costs match (give --from and --to)", a.left.join(" "));
            };
            let metric = Metric::parse(&a.metric).with_context(|| format!("unknown metric {:?}", a.metric))?;
            let right = valdrix::cost_explorer::get_cost_and_usage(from, to, metric)?;
            (left, right)
        }
        None => (
            reconcile_side(store, tenant, a, &a.left, "left", None)?,
            reconcile_side(store, tenant, a, &a.right, "right", None)?,
        ),
    };
    if left.is_empty() {
        bail!("--left {}: no stored costs match", a.left.join(" "));
    }
    if right.is_empty() {
        match &a.invoice {
            Some(f) => bail!("{}: no invoice amounts", f.display()),
            None if a.cost_explorer => bail!("Cost Explorer returned no amounts for the period"),
            None => bail!("--right {}: no stored costs match", a.right.join(" ")),
        }
    }
    let r = reconcile(&left, &right, threshold, a.top);
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

fn runs_cmd(store: &dyn Store, tenant: &TenantId, a: &RunsArgs) -> Result<()> {
    let runs = store.runs(tenant, a.limit)?;
    let machine = a.format != OutputFormat::Table;
    let grid = Grid {
        columns: [
            "run", "finished", "source", "format", "period", "rows", "records", "replaced", "totals", "read_ms",
            "write_ms", "checksum",
        ]
        .map(String::from)
        .to_vec(),
        rows: runs
            .iter()
            .map(|r| {
                let totals = r
                    .totals
                    .iter()
                    .map(|(c, t)| {
                        format!("{c} {}", if machine { t.billed.to_string() } else { money_for_people(t.billed) })
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let period = match (r.billing_period_start, r.billing_period_end) {
                    (Some(s), Some(e)) => Some(format!("{s}..{e}")),
                    (Some(s), None) => Some(s.to_string()),
                    _ => None,
                };
                vec![
                    Some(r.run_id.to_string()),
                    Some(r.finished_at.chars().take(19).collect()),
                    Some(r.source_uri.clone()),
                    Some(r.format.clone()),
                    period,
                    Some(r.rows_read.to_string()),
                    Some(r.records.to_string()),
                    Some(r.records_replaced.to_string()),
                    Some(totals),
                    Some(r.read_ms.to_string()),
                    Some(r.write_ms.to_string()),
                    Some(if machine { r.checksum.clone() } else { r.checksum.chars().take(12).collect() }),
                ]
            })
            .collect(),
        numeric: vec![true, false, false, false, false, true, true, true, true, true, true, false],
    };
    grid.write(a.format, &mut std::io::stdout().lock())?;
    warn_overlaps(store, tenant)
}

/// Warns, on standard error (machine output stays whole), of every billing account and period
/// that more than one stream bills: their costs are counted once per stream.
fn warn_overlaps(store: &dyn Store, tenant: &TenantId) -> Result<()> {
    let overlaps = store.stream_overlaps(tenant)?;
    let mut err = std::io::stderr().lock();
    for o in &overlaps {
        writeln!(err, "warning: {o}; its costs are counted once per stream")?;
    }
    if let Some(o) = overlaps.first() {
        writeln!(
            err,
            "warning: to keep one, ingest the newer export again with --stream '{}' (it then restates that stream)",
            o.streams[0]
        )?;
    }
    Ok(())
}
