//! Azure: EA cost details, actual cost, one CSV export per month (BOM, US dates, brace-less tags).

use super::*;

pub(super) const AZURE_COLUMNS: &[&str] = &[
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "BillingProfileId",
    "BillingProfileName",
    "AccountName",
    "SubscriptionId",
    "SubscriptionName",
    "Date",
    "Product",
    "PartNumber",
    "MeterId",
    "MeterCategory",
    "MeterSubCategory",
    "MeterName",
    "MeterRegion",
    "Quantity",
    "EffectivePrice",
    "Cost",
    "UnitPrice",
    "BillingCurrency",
    "ResourceLocation",
    "ConsumedService",
    "ResourceId",
    "ResourceName",
    "Tags",
    "UnitOfMeasure",
    "ResourceGroup",
    "ReservationId",
    "ReservationName",
    "ChargeType",
    "Frequency",
    "PublisherType",
    "PayGPrice",
    "PricingModel",
    "benefitId",
    "benefitName",
];

pub(super) struct AzureResource {
    sub: (String, String),
    product: &'static str,
    category: &'static str,
    subcategory: &'static str,
    meter: &'static str,
    meter_id: String,
    consumed: &'static str,
    rtype: &'static str,
    name: String,
    group: String,
    unit: &'static str,
    price: Decimal,
    daily_qty: f64,
    reserved: bool,
    tags: Option<(&'static str, &'static str)>,
}

pub(super) fn azure_fleet(rng: &mut Rng) -> Vec<AzureResource> {
    let subs: Vec<(String, String)> =
        ["prod-core", "prod-data", "staging", "dev-sandbox", "analytics", "shared-services"]
            .iter()
            .map(|n| (rng.uuid(), n.to_string()))
            .collect();
    let mut out = Vec::new();
    for (si, sub) in subs.iter().enumerate() {
        for k in 0..(3 + rng.below(4)) {
            let tags = tags_for(rng);
            out.push(AzureResource {
                sub: sub.clone(),
                product: "Virtual Machines Dv3/DSv3 Series - D4 v3/D4s v3 - US East",
                category: "Virtual Machines",
                subcategory: "Dv3/DSv3 Series",
                meter: "D4 v3/D4s v3",
                meter_id: "1c6a4e1d-2b7f-4f0e-9d1a-6f7c1a0e3b55".into(),
                consumed: "Microsoft.Compute",
                rtype: "virtualMachines",
                name: format!("vm-{}-{k}", sub.1),
                group: format!("rg-{}", sub.1),
                unit: "1 Hour",
                price: d("0.192"),
                daily_qty: 24.0,
                reserved: si == 0 && k < 2,
                tags,
            });
            out.push(AzureResource {
                sub: sub.clone(),
                product: "Premium SSD Managed Disks - P10 - US East",
                category: "Storage",
                subcategory: "Premium SSD Managed Disks",
                meter: "P10 Disks",
                meter_id: "b5a7a9b1-8c1d-4a51-93d7-2c1e5d1f8a10".into(),
                consumed: "Microsoft.Compute",
                rtype: "disks",
                name: format!("vm-{}-{k}_OsDisk", sub.1),
                group: format!("rg-{}", sub.1),
                unit: "1/Month",
                price: d("19.71"),
                daily_qty: 1.0 / 30.0,
                reserved: false,
                tags,
            });
        }
        out.push(AzureResource {
            sub: sub.clone(),
            product: "Blob Storage - Hot LRS - US East",
            category: "Storage",
            subcategory: "Tiered Block Blob",
            meter: "Hot LRS Data Stored",
            meter_id: "a1b2c3d4-0000-4e00-9000-00000000b10b".into(),
            consumed: "Microsoft.Storage",
            rtype: "storageAccounts",
            name: format!("st{}{}", sub.1.replace('-', ""), rng.hex(4)),
            group: format!("rg-{}", sub.1),
            unit: "1 GB/Month",
            price: d("0.0184"),
            daily_qty: (5_000 + 500 * rng.below(30)) as f64 / 30.0,
            reserved: false,
            tags: tags_for(rng),
        });
        if si % 2 == 0 {
            out.push(AzureResource {
                sub: sub.clone(),
                product: "SQL Database Single vCore - General Purpose - Compute Gen5 - US East",
                category: "SQL Database",
                subcategory: "Single General Purpose - Compute Gen5",
                meter: "vCore",
                meter_id: "c0ffee00-1111-4222-8333-444455556666".into(),
                consumed: "Microsoft.Sql",
                rtype: "servers",
                name: format!("sql-{}", sub.1),
                group: format!("rg-{}", sub.1),
                unit: "1 Hour",
                price: d("0.5044"),
                daily_qty: 48.0,
                reserved: false,
                tags: tags_for(rng),
            });
        }
    }
    out
}

pub(super) fn azure_month(
    fleet: &[AzureResource],
    month: NaiveDate,
    through: NaiveDate,
    seed: u64,
    reservation: &str,
) -> Vec<Vec<String>> {
    let mut rng = Rng::new(seed ^ 0xA2u64 ^ (month.num_days_from_ce() as u64) << 8);
    let next = valdrix_core::time::next_month_start(month);
    let last = through.min(next - Duration::days(1));
    let us = |d: NaiveDate| d.format("%m/%d/%Y").to_string();
    let mut rows = Vec::new();
    let account = "8611537";
    // Every row's billing account, period and profile.
    let billing: Vec<String> = vec![
        account.into(),
        "Acme Corp".into(),
        us(month),
        us(next - Duration::days(1)),
        account.into(),
        "Acme Corp".into(),
        "Platform Team".into(),
    ];
    for day in days(month, last) {
        for r in fleet {
            let env = r.tags.map(|t| t.1);
            let mut qty = r.daily_qty * if r.unit == "1 Hour" { 1.0 } else { shape(day, env, &mut rng) };
            if r.rtype == "storageAccounts" && r.sub.1 == "analytics" && day >= ymd((2026, 10, 9)) {
                qty *= 3.2; // someone switched the analytics lake to geo-redundant replication
            }
            let qty = dec(qty, 6);
            let cost = if r.reserved { Decimal::ZERO } else { (qty * r.price).round_dp(10) };
            let rid = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/{}/{}/{}",
                r.sub.0, r.group, r.consumed, r.rtype, r.name
            );
            let tags = r.tags.map(|(t, e)| format!("\"team\": \"{t}\",\"env\": \"{e}\"")).unwrap_or_default();
            let mut row = billing.clone();
            row.extend([
                r.sub.0.clone(),
                r.sub.1.clone(),
                us(day),
                r.product.into(),
                "AAA-00001".into(),
                r.meter_id.clone(),
                r.category.into(),
                r.subcategory.into(),
                r.meter.into(),
                "US East".into(),
                qty.normalize().to_string(),
                if r.reserved { "0".into() } else { r.price.to_string() },
                cost.normalize().to_string(),
                r.price.to_string(),
                "USD".into(),
                "eastus".into(),
                r.consumed.into(),
                rid,
                r.name.clone(),
                tags,
                r.unit.into(),
                r.group.clone(),
                if r.reserved { reservation.rsplit('/').next().unwrap_or("").into() } else { String::new() },
                if r.reserved { "VM_RI_D4v3".into() } else { String::new() },
                "Usage".into(),
                "UsageBased".into(),
                "Azure".into(),
                r.price.to_string(),
                if r.reserved { "Reservation".into() } else { "OnDemand".into() },
                if r.reserved { reservation.into() } else { String::new() },
                if r.reserved { "VM_RI_D4v3".into() } else { String::new() },
            ]);
            rows.push(row);
        }
    }
    // The reservation's monthly payment, billed on the first day of the period.
    let mut row = billing;
    row.extend([
        fleet[0].sub.0.clone(),
        fleet[0].sub.1.clone(),
        us(month),
        "Reserved VM Instance, Standard_D4s_v3, US East, 1 Year".into(),
        "AAA-RI001".into(),
        String::new(),
        "Virtual Machines".into(),
        "Reservation".into(),
        "D4s v3".into(),
        "US East".into(),
        "1".into(),
        "183.96".into(),
        "183.96".into(),
        "183.96".into(),
        "USD".into(),
        "eastus".into(),
        "Microsoft.Capacity".into(),
        String::new(),
        String::new(),
        String::new(),
        "1 Hour".into(),
        String::new(),
        reservation.rsplit('/').next().unwrap_or("").into(),
        "VM_RI_D4v3".into(),
        "Purchase".into(),
        "Recurring".into(),
        "Azure".into(),
        "0".into(),
        "Reservation".into(),
        reservation.into(),
        "VM_RI_D4v3".into(),
    ]);
    rows.push(row);
    rows
}

pub(super) fn write_azure(path: &Path, rows: &[Vec<String>]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all("\u{feff}".as_bytes())?;
    let mut w = csv::Writer::from_writer(f);
    w.write_record(AZURE_COLUMNS)?;
    for r in rows {
        w.write_record(r)?;
    }
    w.flush()?;
    Ok(())
}
