//! FOCUS 1.2 enumerations that Valdrix fills itself.

use serde::{Deserialize, Serialize};

/// FOCUS `ChargeCategory`: the highest-level kind of a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChargeCategory {
    /// Consumption of a service, including commitment-covered usage.
    Usage,
    /// Up-front or recurring purchases (commitments, licences, marketplace offers).
    Purchase,
    /// Taxes.
    Tax,
    /// Credits, refunds and discounts that reduce the bill.
    Credit,
    /// Other corrections (rounding, adjustments).
    Adjustment,
}

impl ChargeCategory {
    /// The FOCUS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeCategory::Usage => "Usage",
            ChargeCategory::Purchase => "Purchase",
            ChargeCategory::Tax => "Tax",
            ChargeCategory::Credit => "Credit",
            ChargeCategory::Adjustment => "Adjustment",
        }
    }

    /// Reads the FOCUS spelling, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        [
            ChargeCategory::Usage,
            ChargeCategory::Purchase,
            ChargeCategory::Tax,
            ChargeCategory::Credit,
            ChargeCategory::Adjustment,
        ]
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

/// The cloud providers Valdrix has native readers for. FOCUS input may name any other provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// Amazon Web Services.
    Aws,
    /// Microsoft Azure.
    Azure,
    /// Google Cloud.
    Gcp,
}

impl Provider {
    /// The FOCUS `ProviderName` value.
    pub fn focus_name(self) -> &'static str {
        match self {
            Provider::Aws => "AWS",
            Provider::Azure => "Microsoft",
            Provider::Gcp => "Google Cloud",
        }
    }
}

/// FOCUS `ChargeFrequency` values.
pub mod frequency {
    /// A single charge.
    pub const ONE_TIME: &str = "One-Time";
    /// A periodic fee.
    pub const RECURRING: &str = "Recurring";
    /// Charged by consumption.
    pub const USAGE_BASED: &str = "Usage-Based";

    /// Normalises provider or sloppy spellings (`Usage-based`, `UsageBased`, `OneTime`).
    pub fn normalise(s: &str) -> Option<&'static str> {
        let k: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        match k.as_str() {
            "onetime" => Some(ONE_TIME),
            "recurring" => Some(RECURRING),
            "usagebased" => Some(USAGE_BASED),
            _ => None,
        }
    }
}

/// FOCUS `PricingCategory` values.
pub mod pricing {
    /// List or negotiated on-demand prices.
    pub const STANDARD: &str = "Standard";
    /// Prices that move with the market (spot, preemptible).
    pub const DYNAMIC: &str = "Dynamic";
    /// Covered by a commitment discount.
    pub const COMMITTED: &str = "Committed";
    /// Anything else.
    pub const OTHER: &str = "Other";

    /// Normalises FOCUS and pre-1.0 spellings (`On-Demand`, `Commitment-Based`).
    pub fn normalise(s: &str) -> Option<&'static str> {
        let k: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        match k.as_str() {
            "standard" | "ondemand" => Some(STANDARD),
            "dynamic" | "spot" => Some(DYNAMIC),
            "committed" | "commitmentbased" => Some(COMMITTED),
            "other" => Some(OTHER),
            _ => None,
        }
    }
}

/// The 19 FOCUS `ServiceCategory` values.
pub const SERVICE_CATEGORIES: [&str; 19] = [
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
];

/// Returns the canonical spelling of a FOCUS service category, matched case-insensitively.
pub fn service_category(s: &str) -> Option<&'static str> {
    let s = s.trim();
    SERVICE_CATEGORIES.iter().copied().find(|c| c.eq_ignore_ascii_case(s))
}
