//! `valdrix zombies`: scan an account (or an inventory file) for idle and orphaned resources,
//! the stored findings and scans, ignore marks, the rules, and remediation.

mod grids;
mod remediate;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

use valdrix_app::zombies;
use valdrix_core::TenantId;

use super::output::OutputFormat;
use super::{actor, open_store, Global};
use remediate::RemediateCommand;

#[derive(Subcommand)]
pub(crate) enum ZombiesCommand {
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

#[derive(Args)]
pub(crate) struct ZombieListArgs {
    /// Only findings in this status: new, still-present, resolved, ignored, or open (new and
    /// still present). Repeatable; default: open and ignored.
    #[arg(long)]
    pub(crate) status: Vec<String>,
    /// Only this rule.
    #[arg(long)]
    pub(crate) rule: Option<String>,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 0)]
    pub(crate) limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) format: OutputFormat,
}

#[derive(Args)]
pub(crate) struct ZombieIgnoreArgs {
    /// The rule of the finding.
    #[arg(long)]
    pub(crate) rule: String,
    /// The resource.
    #[arg(long)]
    pub(crate) resource: String,
    /// Its region.
    #[arg(long)]
    pub(crate) region: String,
    /// Its account (needed only when the tenant scans several with findings of that resource).
    #[arg(long)]
    pub(crate) account: Option<String>,
    /// Why (kept in the finding's history).
    #[arg(long)]
    pub(crate) reason: String,
    /// Who (default: the user running the command).
    #[arg(long)]
    pub(crate) actor: Option<String>,
}

#[derive(Args)]
pub(crate) struct ZombieScanArgs {
    /// The cloud to scan.
    #[arg(long, default_value = "aws", value_parser = ["aws", "azure", "gcp"])]
    pub(crate) provider: String,
    /// A region (Azure: location) to scan (repeatable); `all` scans every region enabled for
    /// the AWS account, or holding resources of the Azure subscription or GCP project (`global`
    /// holds GCP's global resources). Default: AWS_REGION, else us-east-1, on AWS; all on Azure,
    /// GCP and inventory files.
    #[arg(long)]
    pub(crate) region: Vec<String>,
    /// A policy file (TOML): thresholds, windows, exclusion tags, rules turned off.
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Run only this rule (repeatable).
    #[arg(long)]
    pub(crate) rule: Vec<String>,
    /// Judge as of this instant (RFC 3339) instead of now.
    #[arg(long)]
    pub(crate) at: Option<chrono::DateTime<chrono::Utc>>,
    /// AWS: a named profile.
    #[arg(long)]
    pub(crate) profile: Option<String>,
    /// AWS: a role to assume in the scanned account.
    #[arg(long)]
    pub(crate) role_arn: Option<String>,
    /// AWS: the external id the role's trust policy requires.
    #[arg(long, requires = "role_arn")]
    pub(crate) external_id: Option<String>,
    /// Azure: the subscription to scan (default: AZURE_SUBSCRIPTION_ID). Credentials: an app's
    /// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, else a managed identity, else
    /// the Azure CLI's login.
    #[arg(long)]
    pub(crate) subscription: Option<String>,
    /// GCP: the project to scan (default: GOOGLE_CLOUD_PROJECT, else the key file's).
    /// Credentials: GOOGLE_OAUTH_ACCESS_TOKEN, else the key file GOOGLE_APPLICATION_CREDENTIALS
    /// names (or gcloud's application-default login), else the metadata server.
    #[arg(long)]
    pub(crate) project: Option<String>,
    /// Azure or GCP: the API base URL, for a private endpoint or a test double (default:
    /// VALDRIX_AZURE_ENDPOINT or VALDRIX_GCP_ENDPOINT, else the public cloud's). AWS takes
    /// AWS_ENDPOINT_URL.
    #[arg(long)]
    pub(crate) endpoint: Option<String>,
    /// Scan an inventory file instead of the cloud, offline: an AWS Config snapshot (JSON,
    /// gzipped or not), an Azure Resource Graph query result, or a GCP Cloud Asset Inventory
    /// export, as --provider says. It has no metrics: metric-judged rules leave their
    /// candidates unjudged, and metric confirmations are reported as not checked.
    #[arg(long)]
    pub(crate) inventory: Option<PathBuf>,
    /// With --inventory: the account, subscription or project to scan when the file holds
    /// several.
    #[arg(long, requires = "inventory")]
    pub(crate) account: Option<String>,
    /// Seconds listing one region may take.
    #[arg(long, default_value_t = 30)]
    pub(crate) region_timeout: u64,
    /// Seconds one rule may take in one region.
    #[arg(long, default_value_t = 60)]
    pub(crate) rule_timeout: u64,
    /// Seconds the whole scan may take.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout: u64,
    /// Provider calls in flight at once.
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
    /// Output format (json: the whole report with every region's and rule's status).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) format: OutputFormat,
    /// Do not record the scan in the store (by default its findings join their history).
    #[arg(long)]
    pub(crate) no_record: bool,
}

pub(crate) fn run(cli: &Global, tenant: &TenantId, what: &ZombiesCommand) -> Result<()> {
    use std::time::Duration;
    let mut out = std::io::stdout().lock();
    match what {
        ZombiesCommand::Rules { format } => grids::rules_grid().write(*format, &mut out),
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
            grids::write_report(&report, a.format, &mut out)?;
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
            grids::stored_grid(&rows, a.format == OutputFormat::Table).write(a.format, &mut out)
        }
        ZombiesCommand::Scans { limit, format } => {
            let store = open_store(cli)?;
            grids::scans_grid(&store.zombie_scans(tenant, *limit)?).write(*format, &mut out)
        }
        ZombiesCommand::Remediate { what } => remediate::run(cli, tenant, what, &mut out),
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
