//! Reference tables used during normalisation: service categories and Azure regions and services.
//!
//! The tables are compiled in (see `mappings/NOTICE.md` for their origin) and parsed once.

use rustc_hash::FxHashMap;
use std::sync::OnceLock;

use valdrix_core::focus::service_category;

const AWS_CATEGORIES: &str = include_str!("../mappings/aws_category_mapping.csv");
const AZURE_CATEGORIES: &str = include_str!("../mappings/azure_category_mapping.csv");
const GCP_CATEGORIES: &str = include_str!("../mappings/gcp_category_mapping.csv");
const AZURE_SERVICES: &str = include_str!("../mappings/Services.csv");
const AZURE_REGIONS: &str = include_str!("../mappings/Regions.csv");
const AZURE_UNITS: &str = include_str!("../mappings/PricingUnits.csv");

fn rows(text: &'static str) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes()).records().filter_map(|r| r.ok()).collect()
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn category_table(text: &'static str) -> FxHashMap<String, &'static str> {
    rows(text)
        .iter()
        .filter_map(|r| {
            let code = r.get(0)?.trim().to_ascii_lowercase();
            let cat = service_category(r.get(1)?)?;
            Some((code, cat))
        })
        .collect()
}

/// FOCUS ServiceCategory of an AWS product code (`AmazonEC2` → Compute); `Other` when unknown.
pub fn aws_service_category(product_code: &str) -> &'static str {
    static T: OnceLock<FxHashMap<String, &'static str>> = OnceLock::new();
    let t = T.get_or_init(|| {
        let mut t = category_table(AWS_CATEGORIES);
        // Common codes the focus-converters table leaves out.
        for (code, cat) in [
            ("amazonec2", "Compute"),
            ("amazons3", "Storage"),
            ("amazonrds", "Databases"),
            ("awsdatatransfer", "Networking"),
            ("amazoncloudwatch", "Management and Governance"),
            ("awscloudtrail", "Management and Governance"),
            ("awskms", "Security"),
            ("amazonsqs", "Integration"),
            ("amazonsns", "Integration"),
            ("awsglue", "Analytics"),
            ("awslambda", "Compute"),
            ("amazondynamodb", "Databases"),
            ("amazonvpc", "Networking"),
            ("amazonecs", "Compute"),
            ("amazoneks", "Compute"),
            ("amazonecr", "Compute"),
            ("elasticloadbalancing", "Networking"),
            ("amazonelasticache", "Databases"),
            ("amazonredshift", "Databases"),
            ("amazoncloudfront", "Networking"),
            ("amazonroute53", "Networking"),
            ("awssupportbusiness", "Management and Governance"),
            ("awssupportenterprise", "Management and Governance"),
            ("savingsplansforawscompute", "Compute"),
        ] {
            t.entry(code.to_string()).or_insert(cat);
        }
        t
    });
    t.get(&product_code.to_ascii_lowercase()).copied().unwrap_or("Other")
}

/// FOCUS ServiceCategory of a GCP service description (`Compute Engine` → Compute).
pub fn gcp_service_category(service: &str) -> &'static str {
    static T: OnceLock<FxHashMap<String, &'static str>> = OnceLock::new();
    let t = T.get_or_init(|| {
        let mut t = category_table(GCP_CATEGORIES);
        for (code, cat) in [
            ("compute engine", "Compute"),
            ("cloud storage", "Storage"),
            ("bigquery", "Analytics"),
            ("cloud sql", "Databases"),
            ("kubernetes engine", "Compute"),
            ("networking", "Networking"),
            ("cloud logging", "Management and Governance"),
            ("cloud monitoring", "Management and Governance"),
            ("security command center", "Security"),
            ("cloud run", "Compute"),
            ("cloud functions", "Compute"),
            ("cloud pub/sub", "Integration"),
            ("vertex ai", "AI and Machine Learning"),
        ] {
            t.entry(code.to_string()).or_insert(cat);
        }
        t
    });
    t.get(&service.trim().to_ascii_lowercase()).copied().unwrap_or("Other")
}

/// An Azure service as the FinOps toolkit names it.
#[derive(Debug, Clone, Copy)]
pub struct AzureService {
    /// FOCUS ServiceName.
    pub name: &'static str,
    /// FOCUS ServiceCategory.
    pub category: &'static str,
    /// FOCUS ServiceSubcategory.
    pub subcategory: &'static str,
}

struct AzureServices {
    by_both: FxHashMap<(String, String), AzureService>,
    by_type: FxHashMap<String, AzureService>,
    by_consumed: FxHashMap<String, AzureService>,
    categories: FxHashMap<String, &'static str>,
}

fn azure_services() -> &'static AzureServices {
    static T: OnceLock<AzureServices> = OnceLock::new();
    T.get_or_init(|| {
        let mut s = AzureServices {
            by_both: FxHashMap::default(),
            by_type: FxHashMap::default(),
            by_consumed: FxHashMap::default(),
            categories: category_table(AZURE_CATEGORIES),
        };
        for r in rows(AZURE_SERVICES) {
            let (Some(consumed), Some(rtype), Some(name), Some(cat), Some(sub)) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
            else {
                continue;
            };
            let Some(cat) = service_category(cat) else {
                continue;
            };
            let svc = AzureService { name: leak(name), category: cat, subcategory: leak(sub) };
            let (c, t) = (consumed.trim().to_ascii_lowercase(), rtype.trim().to_ascii_lowercase());
            s.by_both.entry((c.clone(), t.clone())).or_insert(svc);
            if !t.is_empty() {
                s.by_type.entry(t).or_insert(svc);
            }
            if !c.is_empty() {
                s.by_consumed.entry(c).or_insert(svc);
            }
        }
        s
    })
}

/// The Azure service of a consumed service (`Microsoft.Compute`) and resource type
/// (`microsoft.compute/virtualmachines`), from the FinOps toolkit's Services table.
pub fn azure_service(consumed_service: &str, resource_type: &str) -> Option<AzureService> {
    let s = azure_services();
    let c = consumed_service.trim().to_ascii_lowercase();
    let t = resource_type.trim().to_ascii_lowercase();
    s.by_both.get(&(c.clone(), t.clone())).or_else(|| s.by_type.get(&t)).or_else(|| s.by_consumed.get(&c)).copied()
}

/// The FOCUS category of an Azure consumed service when the Services table has no entry.
pub fn azure_consumed_service_category(consumed_service: &str) -> Option<&'static str> {
    azure_services().categories.get(&consumed_service.trim().to_ascii_lowercase()).copied()
}

/// A normalised Azure region: `(RegionId, RegionName)` for any spelling in the toolkit's table
/// (`EastUS2`, `US East 2`, `eastus2`).
pub fn azure_region(raw: &str) -> Option<(&'static str, &'static str)> {
    static T: OnceLock<FxHashMap<String, (&'static str, &'static str)>> = OnceLock::new();
    let t = T.get_or_init(|| {
        let mut t = FxHashMap::default();
        for r in rows(AZURE_REGIONS) {
            if let (Some(o), Some(id), Some(name)) = (r.get(0), r.get(1), r.get(2)) {
                let (id, name) = (leak(id.trim()), leak(name.trim()));
                t.insert(o.trim().to_ascii_lowercase(), (id, name));
                t.insert(id.to_string(), (id, name));
                t.insert(name.to_ascii_lowercase(), (id, name));
            }
        }
        t
    });
    t.get(&raw.trim().to_ascii_lowercase()).copied()
}

/// An Azure `UnitOfMeasure` (`10 Hours`, `1 /Month`) as FOCUS wants it: the block size to multiply
/// the quantity by, and the unit of one item (`Hours`, `Units/Month`).
pub fn azure_unit(unit_of_measure: &str) -> Option<(rust_decimal::Decimal, &'static str)> {
    static T: OnceLock<FxHashMap<String, (rust_decimal::Decimal, &'static str)>> = OnceLock::new();
    let t = T.get_or_init(|| {
        let mut t = FxHashMap::default();
        for r in rows(AZURE_UNITS) {
            if let (Some(u), Some(size), Some(units)) = (r.get(0), r.get(2), r.get(3)) {
                if let Ok(size) = valdrix_core::parse_decimal(size) {
                    let units = leak(units.trim());
                    t.entry(u.to_string()).or_insert((size, units));
                    t.entry(u.trim().to_ascii_lowercase()).or_insert((size, units));
                }
            }
        }
        t
    });
    t.get(unit_of_measure).or_else(|| t.get(&unit_of_measure.trim().to_ascii_lowercase())).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load() {
        assert_eq!(aws_service_category("AmazonEC2"), "Compute");
        assert_eq!(aws_service_category("NoSuchThing"), "Other");
        assert_eq!(azure_region("US East 2"), Some(("eastus2", "East US 2")));
        assert_eq!(azure_region("EastUS"), Some(("eastus", "East US")));
        let vm = azure_service("Microsoft.Compute", "microsoft.compute/virtualmachines").unwrap();
        assert_eq!(vm.category, "Compute");
        assert_eq!(gcp_service_category("Compute Engine"), "Compute");
        assert_eq!(azure_unit("10 Hours").map(|u| (u.0.to_string(), u.1)), Some(("10".to_string(), "Hours")));
    }
}
