//! GCP: detailed billing export as newline-delimited JSON, one file per invoice month.

use super::*;

pub(super) struct GcpResource {
    project: String,
    service: (&'static str, &'static str),
    sku: (&'static str, &'static str),
    unit: &'static str,
    price: Decimal,
    daily_qty: f64,
    name: String,
    sud: bool,
    cud: bool,
    labels: Option<(&'static str, &'static str)>,
}

pub(super) fn gcp_fleet(rng: &mut Rng) -> Vec<GcpResource> {
    let projects =
        ["web-prod", "search-prod", "ml-training", "data-lake", "payments-prod", "identity", "sandbox", "analytics-bi"];
    let mut out = Vec::new();
    for (pi, p) in projects.iter().enumerate() {
        let project = format!("acme-{p}-{}", 100 + pi * 37);
        for k in 0..(2 + rng.below(4)) {
            out.push(GcpResource {
                project: project.clone(),
                service: ("6F81-5844-456A", "Compute Engine"),
                sku: ("CF4E-A0C7-E3BF", "N2 Instance Core running in Americas"),
                unit: "hour",
                price: d("0.031611"),
                daily_qty: 8.0 * 24.0,
                name: format!("{p}-vm-{k}"),
                sud: true,
                cud: pi < 2 && k == 0,
                labels: tags_for(rng),
            });
        }
        out.push(GcpResource {
            project: project.clone(),
            service: ("95FF-2EF5-5EA1", "Cloud Storage"),
            sku: ("E5F0-6A5D-7BAD", "Standard Storage US Multi-region"),
            unit: "gibibyte month",
            price: d("0.026"),
            daily_qty: (3_000 + 300 * rng.below(40)) as f64 / 30.0,
            name: format!("{p}-bucket"),
            sud: false,
            cud: false,
            labels: tags_for(rng),
        });
        if pi % 2 == 1 {
            out.push(GcpResource {
                project: project.clone(),
                service: ("24E6-581D-38E5", "BigQuery"),
                sku: ("3362-E469-6BEF", "Analysis"),
                unit: "tebibyte",
                price: d("6.25"),
                daily_qty: 2.0 + 6.0 * rng.unit(),
                name: String::new(),
                sud: false,
                cud: false,
                labels: tags_for(rng),
            });
        }
        out.push(GcpResource {
            project,
            service: ("E505-1604-58F8", "Networking"),
            sku: ("9DE9-9092-B3BC", "Network Internet Egress from Americas to Americas"),
            unit: "gibibyte",
            price: d("0.12"),
            daily_qty: 40.0 + 60.0 * rng.unit(),
            name: String::new(),
            sud: false,
            cud: false,
            labels: None,
        });
    }
    out
}

pub(super) fn gcp_month(fleet: &[GcpResource], month: NaiveDate, through: NaiveDate, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed ^ 0x6C ^ (month.num_days_from_ce() as u64) << 16);
    let next = valdrix_core::time::next_month_start(month);
    let last = through.min(next - Duration::days(1));
    let invoice_month = month.format("%Y%m").to_string();
    let mut lines = Vec::new();
    let labels = |l: Option<(&str, &str)>| match l {
        Some((t, e)) => {
            serde_json::json!([{"key": "team", "value": t}, {"key": "env", "value": e}])
        }
        None => serde_json::json!([]),
    };
    for day in days(month, last) {
        for r in fleet {
            let mut qty = r.daily_qty * shape(day, r.labels.map(|l| l.1), &mut rng);
            if r.service.1 == "BigQuery" && day == ymd((2026, 9, 22)) && r.project.contains("ml-training") {
                qty += 760.0; // an unpartitioned query scanned the whole event table, many times
            }
            let qty = dec(qty, 6);
            let cost = (qty * r.price).round_dp(6);
            let mut credits = Vec::new();
            if r.sud && day.day() > 7 {
                credits.push(serde_json::json!({"name": "Sustained Usage Discount", "amount": (-(cost * d("0.2"))).round_dp(6), "full_name": null, "id": "", "type": "SUSTAINED_USAGE_DISCOUNT"}));
            }
            if r.cud {
                credits.push(serde_json::json!({"name": "Committed Usage Discount: CPU", "amount": (-(cost * d("0.37"))).round_dp(6), "full_name": "Committed use discount: N2 CPU 1 year", "id": "projects/acme/regions/us-central1/commitments/cud-n2-1y", "type": "COMMITTED_USAGE_DISCOUNT"}));
            }
            if r.service.1 == "Cloud Storage" && day.day() == 1 {
                credits.push(serde_json::json!({"name": "Free Tier", "amount": d("-0.13"), "full_name": null, "id": "", "type": "FREE_TIER"}));
            }
            let start = format!("{} 00:00:00 UTC", day.format("%Y-%m-%d"));
            let end = format!("{} 00:00:00 UTC", (day + Duration::days(1)).format("%Y-%m-%d"));
            let v = serde_json::json!({
                "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
                "service": {"id": r.service.0, "description": r.service.1},
                "sku": {"id": r.sku.0, "description": r.sku.1},
                "usage_start_time": start,
                "usage_end_time": end,
                "project": {"id": r.project, "number": "1234567890", "name": r.project, "labels": [], "ancestry_numbers": "/98765/1234567890/"},
                "labels": labels(r.labels),
                "system_labels": [],
                "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": null},
                "resource": {"name": if r.name.is_empty() { serde_json::Value::Null } else { r.name.clone().into() }, "global_name": if r.name.is_empty() { serde_json::Value::Null } else { format!("//compute.googleapis.com/projects/{}/zones/us-central1-a/instances/{}", r.project, r.name).into() }},
                "export_time": format!("{} 06:12:44 UTC", (day + Duration::days(1)).format("%Y-%m-%d")),
                "cost": cost,
                "currency": "USD",
                "currency_conversion_rate": 1.0,
                "usage": {"amount": qty, "unit": r.unit, "amount_in_pricing_units": qty, "pricing_unit": r.unit},
                "credits": credits,
                "invoice": {"month": invoice_month},
                "cost_type": "regular",
            });
            lines.push(v.to_string());
        }
    }
    // The resource-based commitment fee, billed monthly as its own SKU.
    let fee = serde_json::json!({
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
        "sku": {"id": "AA11-CUD1-N2CP", "description": "Commitment v1: N2 Cpu in Americas for 1 Year"},
        "usage_start_time": format!("{} 00:00:00 UTC", month.format("%Y-%m-%d")),
        "usage_end_time": format!("{} 00:00:00 UTC", (month + Duration::days(1)).format("%Y-%m-%d")),
        "project": {"id": fleet[0].project, "name": fleet[0].project, "labels": []},
        "labels": [], "location": {"location": "us-central1", "region": "us-central1"},
        "cost": d("1420.80"), "currency": "USD",
        "usage": {"amount": 1, "unit": "month"}, "credits": [], "invoice": {"month": invoice_month}, "cost_type": "regular",
    });
    lines.push(fee.to_string());
    lines
}

pub(super) fn write_lines(path: &Path, lines: &[String]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()?;
    Ok(())
}
