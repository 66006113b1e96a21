//! `valdrix serve` (the HTTP API and the dashboard), `keys` (the tenant's API keys), `maintain`
//! (PostgreSQL partitions and retention) and `migrate`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use valdrix_core::TenantId;
use valdrix_store::Store;

use super::{actor, load_config, redact, Global};

#[derive(Args, Clone)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "VALDRIX_LISTEN")]
    pub(crate) listen: String,
    /// PostgreSQL: the URL requests connect with (default: the database URL as valdrix_app).
    #[arg(long, env = "VALDRIX_APP_DATABASE_URL")]
    pub(crate) app_database_url: Option<String>,
    /// PostgreSQL: connections in the pool.
    #[arg(long, default_value_t = 8)]
    pub(crate) pool: usize,
    /// PostgreSQL: a statement of a request is cancelled past this many milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub(crate) statement_timeout_ms: u64,
    /// Requests per second each tenant may make on average (beyond: 429 with Retry-After).
    #[arg(long, default_value_t = 50)]
    pub(crate) rate_limit: u32,
    /// An object-storage prefix tenants may ingest from through POST /api/v1/ingest/url
    /// (repeatable; `{tenant}` stands for the caller's tenant, e.g. s3://billing/{tenant}/).
    /// None: URL ingestion is off.
    #[arg(long)]
    pub(crate) allow_url_prefix: Vec<String>,
    /// Signs dashboard sessions (32 characters or more); by default a random secret per start,
    /// so restarting signs everyone out.
    #[arg(long, env = "VALDRIX_SESSION_SECRET", hide_env_values = true)]
    pub(crate) session_secret: Option<String>,
    /// The largest upload accepted by POST /api/v1/ingest/upload, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub(crate) max_upload_mb: u64,
    /// Requests of one tenant that may run at once (the others wait their turn): a tenant's heavy
    /// queries then cannot take every connection of the pool, nor every core. Default: half the
    /// cores (at least 1).
    #[arg(long)]
    pub(crate) tenant_concurrency: Option<usize>,
    /// PostgreSQL: parallel workers one request's statement may use (0: one core per request).
    #[arg(long, default_value_t = 0)]
    pub(crate) parallel_workers: u32,
    /// Requests a tenant may make at once before the rate applies.
    #[arg(long, default_value_t = 100)]
    pub(crate) rate_burst: u32,
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
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
pub(crate) struct MaintainArgs {
    /// Months after the current one to create partitions for.
    #[arg(long, default_value_t = 3)]
    pub(crate) months_ahead: u32,
    /// Keep this many months of daily records (the current one included) and drop older
    /// partitions, for every tenant. Without it, nothing is dropped.
    #[arg(long)]
    pub(crate) retain_months: Option<u32>,
}

pub(crate) fn serve_cmd(cli: &Global, a: &ServeArgs) -> Result<()> {
    let url = cli.database();
    serve_url(cli, &url, a, &|addr| {
        eprintln!("valdrix API on http://{addr}/api/v1 (health: /healthz, /readyz); dashboard on http://{addr}/")
    })
}

/// Serves the store at `url`; `started` is told the address once the server listens.
pub(crate) fn serve_url(cli: &Global, url: &str, a: &ServeArgs, started: &dyn Fn(std::net::SocketAddr)) -> Result<()> {
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
        let mut state = AppState::new(stores, limits).map_err(anyhow::Error::msg)?;
        state.policy = config.trust.clone();
        state.plausible = config.plausible;
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

pub(crate) fn keys_cmd(store: &mut dyn Store, tenant: &TenantId, what: &KeysCommand) -> Result<()> {
    match what {
        KeysCommand::Create { name, role } => {
            let role = valdrix_store::keys::Role::parse(role)
                .with_context(|| format!("--role {role:?}: use viewer, analyst or admin"))?;
            let (key, info) = valdrix_app::keys::create(store, tenant, name, role, &format!("cli:{}", actor(&None)))?;
            println!("{key}");
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
            valdrix_app::keys::revoke(store, tenant, key_id)?;
            println!("revoked {key_id}");
        }
    }
    Ok(())
}

/// `valdrix maintain`: PostgreSQL partitions created ahead, and retention applied.
pub(crate) fn maintain(cli: &Global, a: &MaintainArgs) -> Result<()> {
    let url = cli.database();
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
