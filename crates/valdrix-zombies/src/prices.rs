//! The shipped on-demand price table: what a resource would cost when the bill has no line for
//! it. Every figure from here is labelled an estimate, with the region whose price it used.

use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

mod azure;
mod gcp;

pub use azure::AzurePrices;
pub use gcp::GcpPrices;

/// `, used for REGION` when a table's price stands in for another region's.
fn elsewhere(table_region: &str, region: &str) -> String {
    if region.is_empty() || region == table_region {
        String::new()
    } else {
        format!(", used for {region}")
    }
}

/// An hourly price over a month of hours.
fn hourly(currency: &str, table_region: &str, hours: Decimal, what: &str, hour: Decimal, region: &str) -> Estimate {
    Estimate {
        monthly: (hour * hours).round_dp(2),
        currency: currency.to_string(),
        basis: format!(
            "{hour} {currency} per hour × {hours} hours ({what}, {table_region} list price{})",
            elsewhere(table_region, region)
        ),
    }
}

/// A per-GiB-month price.
fn per_gib(currency: &str, table_region: &str, gib: Decimal, per: Decimal, what: &str, region: &str) -> Estimate {
    Estimate {
        monthly: (gib * per).round_dp(2),
        currency: currency.to_string(),
        basis: format!(
            "{gib} GiB × {per} {currency} per GiB-month ({what}, {table_region} list price{})",
            elsewhere(table_region, region)
        ),
    }
}

/// AWS list prices (see `prices/aws.toml` for their source and date).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsPrices {
    /// Currency of every amount.
    pub currency: String,
    /// Region the prices are for.
    pub region: String,
    /// Hours in a month of the estimates.
    pub hours_per_month: Decimal,
    /// EBS storage per GiB-month by volume type.
    pub ebs_gib_month: BTreeMap<String, Decimal>,
    /// IOPS and snapshot prices.
    pub ebs: EbsPrices,
    /// Addresses, NAT gateways and load balancers, per hour.
    pub network: NetworkPrices,
    /// ECR storage.
    pub ecr: EcrPrices,
    /// S3 storage.
    pub s3: S3Prices,
    /// EC2 instance types per hour.
    pub ec2_hour: BTreeMap<String, Decimal>,
    /// RDS instance classes per hour.
    pub rds_hour: BTreeMap<String, Decimal>,
    /// Redshift node types per node-hour.
    pub redshift_node_hour: BTreeMap<String, Decimal>,
}

/// EBS prices beyond storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbsPrices {
    /// io1/io2 provisioned IOPS per IOPS-month.
    pub io_iops_month: Decimal,
    /// gp3 IOPS above the included ones, per IOPS-month.
    pub gp3_iops_month: Decimal,
    /// IOPS a gp3 volume includes.
    pub gp3_included_iops: Decimal,
    /// Snapshot storage per GiB-month.
    pub snapshot_gib_month: Decimal,
}

/// Network prices per hour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPrices {
    /// A public IPv4 address.
    pub public_ipv4_hour: Decimal,
    /// A NAT gateway.
    pub nat_gateway_hour: Decimal,
    /// An Application Load Balancer.
    pub application_load_balancer_hour: Decimal,
    /// A Network Load Balancer.
    pub network_load_balancer_hour: Decimal,
    /// A Gateway Load Balancer.
    pub gateway_load_balancer_hour: Decimal,
    /// A Classic Load Balancer.
    pub classic_load_balancer_hour: Decimal,
}

/// ECR prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcrPrices {
    /// Storage per GiB-month.
    pub storage_gib_month: Decimal,
}

/// S3 prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Prices {
    /// S3 Standard storage per GiB-month.
    pub standard_gib_month: Decimal,
}

/// An amount from the price table, with how it was worked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// Monthly amount.
    pub monthly: Decimal,
    /// Currency.
    pub currency: String,
    /// The arithmetic, in words (`100 GiB × 0.10 USD per GiB-month (gp2, us-east-1 list price)`).
    pub basis: String,
}

impl AwsPrices {
    /// The table shipped in the binary.
    pub fn shipped() -> &'static AwsPrices {
        static TABLE: OnceLock<AwsPrices> = OnceLock::new();
        TABLE.get_or_init(|| {
            // The table is part of the source and checked by a unit test: it always parses.
            toml::from_str(include_str!("../prices/aws.toml")).expect("prices/aws.toml parses")
        })
    }

    fn estimate(&self, monthly: Decimal, basis: String) -> Estimate {
        Estimate { monthly: monthly.round_dp(2), currency: self.currency.clone(), basis }
    }

    fn hourly(&self, what: &str, hour: Decimal, count: Decimal, region: &str) -> Estimate {
        let times = if count == Decimal::ONE { String::new() } else { format!("{count} × ") };
        self.estimate(
            hour * count * self.hours_per_month,
            format!(
                "{times}{hour} {} per hour × {} hours ({what}, {} list price{})",
                self.currency,
                self.hours_per_month,
                self.region,
                self.elsewhere(region)
            ),
        )
    }

    fn elsewhere(&self, region: &str) -> String {
        elsewhere(&self.region, region)
    }

    /// An EBS volume's storage and provisioned IOPS.
    pub fn volume(&self, volume_type: &str, size_gib: i64, iops: Option<i64>, region: &str) -> Option<Estimate> {
        let per = *self.ebs_gib_month.get(volume_type)?;
        let size = Decimal::from(size_gib);
        let mut amount = size * per;
        let mut basis = format!("{size} GiB × {per} {} per GiB-month ({volume_type}", self.currency);
        let paid_iops = match (volume_type, iops) {
            ("io1" | "io2", Some(i)) => Some((Decimal::from(i), self.ebs.io_iops_month)),
            ("gp3", Some(i)) if Decimal::from(i) > self.ebs.gp3_included_iops => {
                Some((Decimal::from(i) - self.ebs.gp3_included_iops, self.ebs.gp3_iops_month))
            }
            _ => None,
        };
        if let Some((n, p)) = paid_iops {
            amount += n * p;
            basis.push_str(&format!(") + {n} IOPS × {p} per IOPS-month ({volume_type}"));
        }
        basis.push_str(&format!(", {} list price{})", self.region, self.elsewhere(region)));
        Some(self.estimate(amount, basis))
    }

    /// What a gp2 volume would cost as gp3 with the same baseline IOPS (gp2 gives 3 per GiB,
    /// at least 100 and at most 16,000).
    pub fn as_gp3(&self, size_gib: i64, region: &str) -> Option<Estimate> {
        let iops = (3 * size_gib).clamp(100, 16_000);
        self.volume("gp3", size_gib, Some(iops), region)
    }

    /// A snapshot at its full size (an upper bound: later snapshots hold changed blocks only).
    pub fn snapshot(&self, size_gib: i64, region: &str) -> Estimate {
        let per = self.ebs.snapshot_gib_month;
        self.estimate(
            Decimal::from(size_gib) * per,
            format!(
                "{size_gib} GiB × {per} {} per GiB-month (snapshot at full size, an upper bound; {} list price{})",
                self.currency,
                self.region,
                self.elsewhere(region)
            ),
        )
    }

    /// A public IPv4 address.
    pub fn public_ip(&self, region: &str) -> Estimate {
        self.hourly("public IPv4 address", self.network.public_ipv4_hour, Decimal::ONE, region)
    }

    /// A NAT gateway's hours (data processed is extra, and zero for an idle one).
    pub fn nat_gateway(&self, region: &str) -> Estimate {
        self.hourly("NAT gateway", self.network.nat_gateway_hour, Decimal::ONE, region)
    }

    /// A load balancer's hours by type (`classic`, `application`, `network`, `gateway`).
    pub fn load_balancer(&self, scheme: &str, region: &str) -> Option<Estimate> {
        let n = &self.network;
        let hour = match scheme {
            "classic" => n.classic_load_balancer_hour,
            "application" => n.application_load_balancer_hour,
            "network" => n.network_load_balancer_hour,
            "gateway" => n.gateway_load_balancer_hour,
            _ => return None,
        };
        Some(self.hourly(&format!("{scheme} load balancer"), hour, Decimal::ONE, region))
    }

    /// An EC2 instance type's hours.
    pub fn instance(&self, instance_type: &str, region: &str) -> Option<Estimate> {
        let hour = *self.ec2_hour.get(instance_type)?;
        Some(self.hourly(instance_type, hour, Decimal::ONE, region))
    }

    /// An RDS instance class's hours (storage not included).
    pub fn database(&self, class: &str, region: &str) -> Option<Estimate> {
        let hour = *self.rds_hour.get(class)?;
        Some(self.hourly(&format!("{class}, storage not included"), hour, Decimal::ONE, region))
    }

    /// A Redshift cluster's node-hours.
    pub fn warehouse(&self, node_type: &str, nodes: i64, region: &str) -> Option<Estimate> {
        let hour = *self.redshift_node_hour.get(node_type)?;
        Some(self.hourly(node_type, hour, Decimal::from(nodes.max(1)), region))
    }

    /// Bytes stored in S3 Standard (the parts of incomplete multipart uploads).
    pub fn s3_standard(&self, bytes: i64, region: &str) -> Estimate {
        let gib = (Decimal::from(bytes) / Decimal::from(1u64 << 30)).round_dp(4);
        per_gib(&self.currency, &self.region, gib, self.s3.standard_gib_month, "S3 Standard storage", region)
    }

    /// An ECR image's storage.
    pub fn image(&self, size_bytes: i64, region: &str) -> Estimate {
        let gib = (Decimal::from(size_bytes) / Decimal::from(1u64 << 30)).round_dp(4);
        let per = self.ecr.storage_gib_month;
        self.estimate(
            gib * per,
            format!(
                "{gib} GiB × {per} {} per GiB-month (ECR storage, {} list price{})",
                self.currency,
                self.region,
                self.elsewhere(region)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn the_shipped_table_parses_and_prices_add_up() {
        let p = AwsPrices::shipped();
        assert_eq!(p.currency, "USD");
        let v = p.volume("gp2", 100, None, "us-east-1").unwrap();
        assert_eq!(v.monthly, Decimal::from_str("10.00").unwrap());
        // 1,000 GiB gp2 gives 3,000 IOPS: as gp3 that is storage only.
        assert_eq!(p.as_gp3(1000, "us-east-1").unwrap().monthly, Decimal::from(80));
        // 2,000 GiB gp2 gives 6,000 IOPS: gp3 pays for 3,000 of them.
        assert_eq!(p.as_gp3(2000, "us-east-1").unwrap().monthly, Decimal::from_str("175.00").unwrap());
        assert_eq!(p.public_ip("eu-west-1").monthly, Decimal::from_str("3.65").unwrap());
        assert!(p.public_ip("eu-west-1").basis.contains("used for eu-west-1"));
        assert_eq!(p.warehouse("dc2.large", 2, "us-east-1").unwrap().monthly, Decimal::from(365));
        assert!(p.instance("x9.unknown", "us-east-1").is_none());
    }
}
