//! Azure list prices (see `prices/azure.toml` for their source and date).

use super::{elsewhere, hourly, per_gib, Estimate};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Azure list prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzurePrices {
    /// Currency of every amount.
    pub currency: String,
    /// Region the prices are for.
    pub region: String,
    /// Hours in a month of the estimates.
    pub hours_per_month: Decimal,
    /// Snapshot storage per GiB-month.
    pub snapshot_gib_month: Decimal,
    /// Public IPs per hour, by SKU.
    pub public_ip_hour: BTreeMap<String, Decimal>,
    /// Managed-disk tiers by SKU: (largest size of the tier in GiB, monthly price), smallest first.
    pub disk_tiers: BTreeMap<String, Vec<(i64, Decimal)>>,
    /// Virtual machine sizes per hour.
    pub vm_hour: BTreeMap<String, Decimal>,
}

impl AzurePrices {
    /// The table shipped in the binary.
    pub fn shipped() -> &'static AzurePrices {
        static TABLE: OnceLock<AzurePrices> = OnceLock::new();
        TABLE.get_or_init(|| {
            // The table is part of the source and checked by a unit test: it always parses.
            toml::from_str(include_str!("../../prices/azure.toml")).expect("prices/azure.toml parses")
        })
    }

    /// A managed disk: the tier its size rounds up to.
    pub fn disk(&self, sku: &str, size_gib: i64, region: &str) -> Option<Estimate> {
        let (tier_gib, monthly) = self.disk_tiers.get(sku)?.iter().find(|(max, _)| size_gib <= *max)?;
        Some(Estimate {
            monthly: *monthly,
            currency: self.currency.clone(),
            basis: format!(
                "{sku} tier up to {tier_gib} GiB for a {size_gib} GiB disk: {monthly} {} per month ({} list price{})",
                self.currency,
                self.region,
                elsewhere(&self.region, region)
            ),
        })
    }

    /// A snapshot at its source disk's full size (an upper bound for incremental snapshots).
    pub fn snapshot(&self, size_gib: i64, region: &str) -> Estimate {
        per_gib(
            &self.currency,
            &self.region,
            Decimal::from(size_gib),
            self.snapshot_gib_month,
            "snapshot at full size, an upper bound",
            region,
        )
    }

    /// A public IP address of a SKU.
    pub fn public_ip(&self, sku: &str, region: &str) -> Option<Estimate> {
        let hour = *self.public_ip_hour.get(sku)?;
        Some(hourly(&self.currency, &self.region, self.hours_per_month, &format!("{sku} public IP"), hour, region))
    }

    /// A virtual machine size's hours (its disks not included).
    pub fn vm(&self, size: &str, region: &str) -> Option<Estimate> {
        let hour = *self.vm_hour.get(size)?;
        Some(hourly(&self.currency, &self.region, self.hours_per_month, &format!("{size}, Linux"), hour, region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn the_shipped_table_parses_and_tiers_round_up() {
        let p = AzurePrices::shipped();
        assert_eq!(p.currency, "USD");
        for tiers in p.disk_tiers.values() {
            assert!(tiers.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "tiers ascend");
        }
        // 100 GiB Premium rounds up to P10 (128 GiB).
        let d = p.disk("Premium_LRS", 100, "eastus").unwrap();
        assert_eq!(d.monthly, Decimal::from_str("19.71").unwrap());
        assert!(d.basis.contains("up to 128 GiB"), "{}", d.basis);
        assert!(p.disk("Premium_LRS", 40_000, "eastus").is_none());
        assert!(p.disk("UltraSSD_LRS", 64, "eastus").is_none());
        assert_eq!(p.public_ip("Standard", "westeurope").unwrap().monthly, Decimal::from_str("3.65").unwrap());
        assert!(p.public_ip("Standard", "westeurope").unwrap().basis.contains("used for westeurope"));
        assert_eq!(p.vm("Standard_D2s_v5", "eastus").unwrap().monthly, Decimal::from_str("70.08").unwrap());
        assert_eq!(p.snapshot(128, "eastus").monthly, Decimal::from_str("6.40").unwrap());
    }
}
