//! Google Cloud list prices (see `prices/gcp.toml` for their source and date).

use super::{hourly, per_gib, Estimate};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Google Cloud list prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpPrices {
    /// Currency of every amount.
    pub currency: String,
    /// Region the prices are for.
    pub region: String,
    /// Hours in a month of the estimates.
    pub hours_per_month: Decimal,
    /// Persistent disk capacity per GiB-month, by disk type.
    pub disk_gib_month: BTreeMap<String, Decimal>,
    /// Snapshot and machine image storage.
    pub storage: GcpStorage,
    /// Static addresses per hour.
    pub address_hour: GcpAddresses,
    /// Machine types per hour.
    pub machine_hour: BTreeMap<String, Decimal>,
}

/// Snapshot and machine image storage prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpStorage {
    /// Standard snapshots per GiB-month stored.
    pub snapshot_gib_month: Decimal,
    /// Machine images per GiB-month stored.
    pub machine_image_gib_month: Decimal,
}

/// Static address prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpAddresses {
    /// A static external IPv4 address reserved and not in use.
    pub unused_static: Decimal,
}

fn gib_of(bytes: i64) -> Decimal {
    (Decimal::from(bytes) / Decimal::from(1u64 << 30)).round_dp(4)
}

impl GcpPrices {
    /// The table shipped in the binary.
    pub fn shipped() -> &'static GcpPrices {
        static TABLE: OnceLock<GcpPrices> = OnceLock::new();
        TABLE.get_or_init(|| {
            // The table is part of the source and checked by a unit test: it always parses.
            toml::from_str(include_str!("../../prices/gcp.toml")).expect("prices/gcp.toml parses")
        })
    }

    /// A persistent disk's capacity.
    pub fn disk(&self, disk_type: &str, size_gib: i64, region: &str) -> Option<Estimate> {
        let per = *self.disk_gib_month.get(disk_type)?;
        Some(per_gib(&self.currency, &self.region, Decimal::from(size_gib), per, disk_type, region))
    }

    /// A snapshot's stored bytes (or, when unknown, its disk's size: an upper bound).
    pub fn snapshot(&self, stored_bytes: Option<i64>, size_gib: i64, region: &str) -> Estimate {
        let per = self.storage.snapshot_gib_month;
        match stored_bytes {
            Some(b) => per_gib(&self.currency, &self.region, gib_of(b), per, "snapshot storage", region),
            None => {
                per_gib(&self.currency, &self.region, Decimal::from(size_gib), per, "disk size, an upper bound", region)
            }
        }
    }

    /// A machine image's stored bytes.
    pub fn machine_image(&self, stored_bytes: Option<i64>, size_gib: i64, region: &str) -> Estimate {
        let per = self.storage.machine_image_gib_month;
        match stored_bytes {
            Some(b) => per_gib(&self.currency, &self.region, gib_of(b), per, "machine image storage", region),
            None => {
                per_gib(&self.currency, &self.region, Decimal::from(size_gib), per, "disk size, an upper bound", region)
            }
        }
    }

    /// A static external address reserved and not in use.
    pub fn unused_address(&self, region: &str) -> Estimate {
        hourly(
            &self.currency,
            &self.region,
            self.hours_per_month,
            "static external IP not in use",
            self.address_hour.unused_static,
            region,
        )
    }

    /// A machine type's hours (its disks not included).
    pub fn machine(&self, machine_type: &str, region: &str) -> Option<Estimate> {
        let hour = *self.machine_hour.get(machine_type)?;
        Some(hourly(&self.currency, &self.region, self.hours_per_month, machine_type, hour, region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn the_shipped_table_parses_and_prices_add_up() {
        let p = GcpPrices::shipped();
        assert_eq!(p.currency, "USD");
        assert_eq!(p.disk("pd-balanced", 200, "us-central1").unwrap().monthly, Decimal::from(20));
        assert!(p.disk("local-ssd", 375, "us-central1").is_none());
        // 10 GiB stored, whatever the disk's size.
        assert_eq!(p.snapshot(Some(10 << 30), 500, "us-central1").monthly, Decimal::from_str("0.50").unwrap());
        assert_eq!(p.unused_address("europe-west1").monthly, Decimal::from_str("7.30").unwrap());
        assert!(p.unused_address("europe-west1").basis.contains("used for europe-west1"));
        assert_eq!(p.machine("e2-standard-2", "us-central1").unwrap().monthly, Decimal::from_str("48.91").unwrap());
    }
}
