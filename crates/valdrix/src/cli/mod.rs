//! The command groups of `valdrix`: each module owns its arguments (clap), its calls into the
//! application layer ([`valdrix_app`]) and its output, as tables for people or CSV and JSON for
//! programs. `main.rs` holds only the top-level command enum and the dispatch.

pub mod allocate;
pub mod anomalies;
pub mod costs;
pub mod demo;
pub mod export;
pub mod forecast;
pub mod ingest;
pub mod output;
pub mod reconcile;
pub mod serve;
pub mod trust;
pub mod zombies;

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

use valdrix_app::Config;
use valdrix_store::query::FilterError;
use valdrix_store::{CostQuery, Dimension, Filter, Metric, Store};

/// The options every command takes.
#[derive(Args)]
pub struct Global {
    /// Database: a file path or sqlite:// URL (default: valdrix.sqlite in your data directory),
    /// or a postgres:// URL.
    #[arg(long, global = true, env = "VALDRIX_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Tenant whose data to read and write.
    #[arg(long, global = true, default_value = "default", env = "VALDRIX_TENANT")]
    pub tenant: String,
    /// Configuration file (default: valdrix.toml in your data directory, when it exists).
    #[arg(long, global = true, env = "VALDRIX_CONFIG")]
    pub config: Option<PathBuf>,
}

impl Global {
    /// The database URL given, else the default SQLite file.
    pub fn database(&self) -> String {
        self.database_url.clone().unwrap_or_else(default_database)
    }
}

pub(crate) fn data_dir() -> PathBuf {
    directories::ProjectDirs::from("dev", "valdrix", "valdrix")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".valdrix"))
}

pub(crate) fn default_database() -> String {
    data_dir().join("valdrix.sqlite").to_string_lossy().into_owned()
}

/// Who is acting: `--actor`, else the login name.
pub(crate) fn actor(given: &Option<String>) -> String {
    given
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

pub(crate) fn load_config(cli: &Global) -> Result<Config> {
    Ok(Config::load(cli.config.as_deref(), &data_dir())?)
}

pub(crate) fn open_store(cli: &Global) -> Result<Box<dyn Store + Send>> {
    let url = cli.database();
    valdrix_store::open(&url).with_context(|| format!("opening the database {}", redact(&url)))
}

/// A database URL without its password.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

#[derive(Args, Clone)]
pub(crate) struct QueryArgs {
    /// First day included (YYYY-MM-DD).
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// First day excluded (YYYY-MM-DD).
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// Filter DIMENSION=VALUE[,VALUE...] (repeatable), e.g. service=AmazonEC2, tag:team=, provider=AWS.
    #[arg(long = "filter", value_name = "DIM=VALUES")]
    pub(crate) filters: Vec<String>,
}

pub(crate) fn parse_date(s: &Option<String>, what: &str) -> Result<Option<chrono::NaiveDate>> {
    match s {
        None => Ok(None),
        Some(t) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .with_context(|| format!("--{what} {t:?}: expected YYYY-MM-DD")),
    }
}

pub(crate) fn build_query(group_by: &[String], metric: &str, q: &QueryArgs) -> Result<CostQuery> {
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
pub(crate) fn parse_filter(f: &str, option: &str) -> Result<Filter> {
    Filter::parse(f).map_err(|e| match e {
        FilterError::NoValues => anyhow::anyhow!("--{option} {f:?}: {e}"),
        FilterError::UnknownDimension(_) => anyhow::anyhow!("{e} in --{option}"),
    })
}
