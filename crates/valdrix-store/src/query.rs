//! Typed cost queries: group-by dimensions, metric, date range and filters.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What to group costs by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dimension {
    /// ProviderName.
    Provider,
    /// ServiceName.
    Service,
    /// ServiceCategory.
    ServiceCategory,
    /// BillingAccountId.
    Account,
    /// SubAccountId.
    SubAccount,
    /// RegionId.
    Region,
    /// ResourceId.
    Resource,
    /// ChargeCategory.
    ChargeCategory,
    /// PricingCategory.
    PricingCategory,
    /// Provider usage type or meter.
    UsageType,
    /// Charge day.
    Day,
    /// Charge month (`YYYY-MM`).
    Month,
    /// BillingCurrency.
    Currency,
    /// The value of one tag.
    Tag(String),
    /// The source stream a record came from (`file:PATH` of a file, `cur:DIR:PERIOD` of a CUR
    /// delivery folder): two sources of the same spend are told apart by it.
    Source,
    /// The billing period (`YYYY-MM` of `BillingPeriodStart`): what an invoice covers.
    BillingPeriod,
}

impl Dimension {
    /// Whether the dimension is a descriptive column (kept apart from the record's grain).
    pub fn is_attribute(&self) -> bool {
        matches!(self, Dimension::ServiceCategory)
    }

    /// Parses `service`, `account`, `sub-account`, `region`, `resource`, `charge-category`,
    /// `pricing-category`, `usage-type`, `provider`, `service-category`, `day`, `month`, `source`,
    /// `billing-period`, `tag:KEY`.
    pub fn parse(s: &str) -> Option<Dimension> {
        let s = s.trim();
        if let Some(k) = s.strip_prefix("tag:") {
            return (!k.is_empty()).then(|| Dimension::Tag(k.to_string()));
        }
        let s = s.to_ascii_lowercase().replace('_', "-");
        SPELLINGS.iter().find(|(name, _)| *name == s).map(|(_, d)| d.clone())
    }

    /// A regular expression of one dimension as [`Dimension::parse`] reads it (lower case, `-`
    /// between words, or `tag:KEY`), for the API's document.
    pub fn pattern() -> String {
        let names: Vec<&str> = SPELLINGS.iter().map(|(n, _)| *n).collect();
        format!("({}|tag:[^,=]+)", names.join("|"))
    }

    /// The column header for output.
    pub fn label(&self) -> String {
        match self {
            Dimension::Provider => "provider".into(),
            Dimension::Service => "service".into(),
            Dimension::ServiceCategory => "service_category".into(),
            Dimension::Account => "account".into(),
            Dimension::SubAccount => "sub_account".into(),
            Dimension::Region => "region".into(),
            Dimension::Resource => "resource".into(),
            Dimension::ChargeCategory => "charge_category".into(),
            Dimension::PricingCategory => "pricing_category".into(),
            Dimension::UsageType => "usage_type".into(),
            Dimension::Day => "day".into(),
            Dimension::Month => "month".into(),
            Dimension::Currency => "currency".into(),
            Dimension::Source => "source".into(),
            Dimension::BillingPeriod => "billing_period".into(),
            Dimension::Tag(k) => format!("tag:{k}"),
        }
    }
}

/// Which amount to add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Metric {
    /// BilledCost: the invoice view.
    #[default]
    Billed,
    /// EffectiveCost: amortised.
    Effective,
    /// ListCost: public prices.
    List,
    /// ContractedCost: negotiated prices.
    Contracted,
}

impl Metric {
    /// Parses `billed`, `effective` (or `amortized`), `list`, `contracted`.
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "billed" | "unblended" => Metric::Billed,
            "effective" | "amortized" | "amortised" => Metric::Effective,
            "list" => Metric::List,
            "contracted" => Metric::Contracted,
            _ => return None,
        })
    }

    /// Column name in the store.
    pub fn column(self) -> &'static str {
        match self {
            Metric::Billed => "billed_cost",
            Metric::Effective => "effective_cost",
            Metric::List => "list_cost",
            Metric::Contracted => "contracted_cost",
        }
    }
}

/// Every spelling of a dimension but `tag:KEY`, in the order help texts list them: the one list
/// the parser, the command line and the API's document share.
pub const SPELLINGS: [(&str, Dimension); 22] = [
    ("provider", Dimension::Provider),
    ("service", Dimension::Service),
    ("service-category", Dimension::ServiceCategory),
    ("category", Dimension::ServiceCategory),
    ("account", Dimension::Account),
    ("billing-account", Dimension::Account),
    ("sub-account", Dimension::SubAccount),
    ("subaccount", Dimension::SubAccount),
    ("project", Dimension::SubAccount),
    ("subscription", Dimension::SubAccount),
    ("region", Dimension::Region),
    ("resource", Dimension::Resource),
    ("charge-category", Dimension::ChargeCategory),
    ("pricing-category", Dimension::PricingCategory),
    ("usage-type", Dimension::UsageType),
    ("sku", Dimension::UsageType),
    ("day", Dimension::Day),
    ("date", Dimension::Day),
    ("month", Dimension::Month),
    ("currency", Dimension::Currency),
    ("source", Dimension::Source),
    ("billing-period", Dimension::BillingPeriod),
];

/// Why a filter's text does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// No `=` between the dimension and the values.
    #[error("expected DIMENSION=VALUE")]
    NoValues,
    /// The dimension is none of [`SPELLINGS`] nor `tag:KEY`.
    #[error("unknown dimension {0:?}")]
    UnknownDimension(String),
}

impl Filter {
    /// Reads `DIMENSION=V1,V2` (values trimmed; an empty value matches records without one):
    /// the one filter grammar of the command line's `--filter`, the API's `filter=` and the
    /// dashboard's explorer.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let (dim, values) = text.split_once('=').ok_or(FilterError::NoValues)?;
        let dimension = Dimension::parse(dim).ok_or_else(|| FilterError::UnknownDimension(dim.to_string()))?;
        Ok(Filter { dimension, values: values.split(',').map(|v| v.trim().to_string()).collect() })
    }
}

/// Keep only records whose dimension has one of these values (an empty text matches a missing
/// value, so `tag:team=` selects untagged spend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The dimension compared.
    pub dimension: Dimension,
    /// Accepted values.
    pub values: Vec<String>,
}

/// A cost query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostQuery {
    /// Dimensions to group by (none: one total per currency).
    pub group_by: Vec<Dimension>,
    /// Amount to add up.
    pub metric: Metric,
    /// First charge day included.
    pub from: Option<NaiveDate>,
    /// First charge day excluded.
    pub to: Option<NaiveDate>,
    /// Filters, all of which must hold.
    pub filters: Vec<Filter>,
}

/// One row of a grouped cost answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostRow {
    /// Values of the group-by dimensions, in order (`None`: no value).
    pub keys: Vec<Option<String>>,
    /// Currency of the amount.
    pub currency: String,
    /// Exact sum.
    pub amount: rust_decimal::Decimal,
    /// Number of daily records summed.
    pub records: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar_of_filters_and_dimensions() {
        let f = Filter::parse("tag:team=ml, web,").unwrap();
        assert_eq!(f.dimension, Dimension::Tag("team".into()));
        assert_eq!(f.values, ["ml", "web", ""]);
        assert_eq!(Filter::parse("Sub_Account=1").unwrap().dimension, Dimension::SubAccount);
        assert_eq!(Filter::parse("service"), Err(FilterError::NoValues));
        assert_eq!(Filter::parse("colour=red"), Err(FilterError::UnknownDimension("colour".into())));
        // Every spelling parses, and the pattern names each.
        for (name, d) in SPELLINGS.iter() {
            assert_eq!(Dimension::parse(name).as_ref(), Some(d));
            assert!(
                Dimension::pattern().contains(&format!("|{name}|"))
                    || Dimension::pattern().starts_with(&format!("({name}|"))
            );
        }
    }
}
