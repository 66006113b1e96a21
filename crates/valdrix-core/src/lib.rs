//! Domain types shared by every Valdrix crate.
//!
//! The vocabulary is FOCUS 1.2: a [`CostLine`] is one normalised billing line (borrowing from the
//! reader's buffers), a [`CostRecord`] is the stored daily aggregate of many lines at the grain
//! described in `DESIGN.md`. Money is always [`rust_decimal::Decimal`]; amounts of different
//! currencies are never added together.

pub mod decimal;
pub mod error;
pub mod focus;
pub mod money;
pub mod reconcile;
pub mod record;
pub mod rng;
pub mod spreadsheet;
pub mod tags;
pub mod time;
pub mod units;

pub use decimal::{decimal_from_f64, parse_decimal, DecimalError};
pub use error::CoreError;
pub use focus::{ChargeCategory, Provider};
pub use record::{series_key, CostLine, CostRecord, Grain, RecordSource, Totals};
pub use spreadsheet::{safe_cell, spreadsheet_safe};
pub use tags::Tags;

/// A tenant identifier. Embedded mode uses `default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct TenantId(pub String);

impl TenantId {
    /// Validates a tenant name: 1–64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let ok = !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(TenantId(s.to_string()))
        } else {
            Err(CoreError::InvalidTenant(s.to_string()))
        }
    }

    /// The tenant name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Threads Valdrix works on (reading Parquet row groups, preparing records for the store):
/// `VALDRIX_THREADS`, else the available cores.
pub fn worker_threads() -> usize {
    std::env::var("VALDRIX_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
        .max(1)
}
