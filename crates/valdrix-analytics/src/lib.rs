//! Analytics over cost records: pure functions, no files.
//!
//! - [`allocation`]: who spent what. Allocation rules (owner by tag or table, percentages,
//!   proportional to direct spend or to a usage metric, even, fixed amounts with a remainder,
//!   manual overrides) applied in priority order, what no rule claims in an `Unallocated` bucket,
//!   and every allocated amount traceable to its source records and its arithmetic. Splits are
//!   exact: per currency, allocations add up to the source costs to the last digit.
//! - [`forecast`]: daily forecasts with prediction intervals that are sized by, and scored in,
//!   a rolling-origin backtest; level shifts, outliers and days marked as expected kept out of
//!   training.
//! - [`anomaly`]: days whose spend leaves the forecast's interval by more than a money floor and
//!   a percentage, merged into anomalies with a severity, and the dimension values behind them.
//! - [`monitor`]: anomaly monitors kept in the store, checked and run.
//! - [`spend`]: both over a tenant's stored spend (final days only, per currency, the total and
//!   each value of a dimension), for the CLI and the server.

pub mod allocation;
pub mod anomaly;
pub mod forecast;
pub mod monitor;
pub mod spend;
#[cfg(test)]
mod test_series;
