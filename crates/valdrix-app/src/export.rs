//! FOCUS 1.2 export of stored records, as CSV or Parquet, one row per daily record.
//!
//! Strict on output: every mandatory column is present and non-null, nullability pairs hold
//! (a name only with its id, a unit only with its quantity), timestamps are ISO 8601 with `Z`.

use crate::error::{AppError, Context, Result};
use arrow_array::builder::{Decimal128Builder, StringBuilder};
use arrow_array::ArrayRef;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rust_decimal::Decimal;
use std::path::Path;
use std::sync::Arc;

use valdrix_core::time::focus_datetime;
use valdrix_core::{CostRecord, TenantId};
use valdrix_store::{CostQuery, Store};

/// Columns written, in order: the FOCUS 1.2 columns, then Valdrix's own `x_` columns.
///
/// `InvoiceId` is the provider's invoice where the source names one; charges of a period not yet
/// invoiced carry a provisional id, `PROVISIONAL-<billing account>-<YYYYMM>` (FOCUS 1.2 allows
/// "a pre-generated provisional invoice"), so the column is never half empty. `x_InvoiceFinal`
/// tells the two apart.
pub const COLUMNS: &[&str] = &[
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
    "x_UsageType",
    "x_InvoiceFinal",
    "x_LineCount",
];

/// Columns holding decimals (typed as decimals in Parquet).
const DECIMAL_COLUMNS: &[&str] = &[
    "BilledCost",
    "CommitmentDiscountQuantity",
    "ConsumedQuantity",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
];

/// One export row: a value per column, `None` for null.
pub fn focus_row(r: &CostRecord) -> Vec<Option<String>> {
    let g = &r.grain;
    let a = |k: &str| r.attr(k).map(str::to_string);
    // Always with a decimal point, so that CSV readers infer a decimal type, never an integer.
    let dec = |d: Decimal| {
        let t = d.normalize().to_string();
        Some(if t.contains('.') { t } else { format!("{t}.0") })
    };
    let provider = g.provider.clone();
    let account_type = match provider.as_str() {
        "AWS" => "Payer Account",
        "Microsoft" => "Billing Account",
        "Google Cloud" => "Billing Account",
        _ => "Billing Account",
    };
    let sub_type = match provider.as_str() {
        "AWS" => "Linked Account",
        "Microsoft" => "Subscription",
        "Google Cloud" => "Project",
        _ => "Sub Account",
    };
    let next_day = g.charge_date.succ_opt().unwrap_or(g.charge_date);
    let period_end = a("BillingPeriodEnd")
        .and_then(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
        .unwrap_or_else(|| valdrix_core::time::next_month_start(g.billing_period_start));
    let category = a("ServiceCategory")
        .and_then(|c| valdrix_core::focus::service_category(&c).map(str::to_string))
        .unwrap_or_else(|| "Other".to_string());
    let region_name = g.region_id.as_ref().map(|id| a("RegionName").unwrap_or_else(|| id.clone()));
    let unit = |k: &str| a(k).map(|u| valdrix_core::units::focus_unit(&u).into_owned());
    let consumed_unit = unit("ConsumedUnit");
    let has_cd = g.commitment_discount_id.is_some();
    let tax = g.charge_category == valdrix_core::ChargeCategory::Tax;
    let invoice_final = a("InvoiceId").is_some();
    let invoice_id = a("InvoiceId")
        .unwrap_or_else(|| format!("PROVISIONAL-{}-{}", g.billing_account_id, g.billing_period_start.format("%Y%m")));
    let pricing_quantity = if tax { None } else { r.totals.pricing_quantity };
    let values: Vec<(&str, Option<String>)> =
        vec![
            ("AvailabilityZone", a("AvailabilityZone")),
            ("BilledCost", dec(r.totals.billed_cost)),
            ("BillingAccountId", Some(g.billing_account_id.clone())),
            ("BillingAccountName", a("BillingAccountName")),
            ("BillingAccountType", Some(account_type.to_string())),
            ("BillingCurrency", Some(g.currency.clone())),
            ("BillingPeriodEnd", Some(focus_datetime(period_end))),
            ("BillingPeriodStart", Some(focus_datetime(g.billing_period_start))),
            ("CapacityReservationId", None),
            ("CapacityReservationStatus", None),
            ("ChargeCategory", Some(g.charge_category.as_str().to_string())),
            ("ChargeClass", g.correction.then(|| "Correction".to_string())),
            (
                "ChargeDescription",
                Some(a("ChargeDescription").unwrap_or_else(|| {
                    format!("{} {}", g.service_name, g.charge_category.as_str().to_ascii_lowercase())
                })),
            ),
            (
                "ChargeFrequency",
                Some(a("ChargeFrequency").unwrap_or_else(|| default_frequency(g.charge_category).to_string())),
            ),
            ("ChargePeriodEnd", Some(focus_datetime(next_day))),
            ("ChargePeriodStart", Some(focus_datetime(g.charge_date))),
            ("CommitmentDiscountCategory", if has_cd { a("CommitmentDiscountCategory") } else { None }),
            ("CommitmentDiscountId", g.commitment_discount_id.clone()),
            ("CommitmentDiscountName", if has_cd { a("CommitmentDiscountName") } else { None }),
            ("CommitmentDiscountQuantity", None),
            ("CommitmentDiscountStatus", if has_cd { g.commitment_discount_status.clone() } else { None }),
            ("CommitmentDiscountType", if has_cd { a("CommitmentDiscountType") } else { None }),
            ("CommitmentDiscountUnit", None),
            ("ConsumedQuantity", consumed_unit.as_ref().and(r.totals.consumed_quantity).and_then(dec)),
            ("ConsumedUnit", r.totals.consumed_quantity.and(consumed_unit)),
            ("ContractedCost", dec(r.totals.contracted_cost)),
            ("ContractedUnitPrice", None),
            ("EffectiveCost", dec(r.totals.effective_cost)),
            ("InvoiceId", Some(invoice_id.clone())),
            ("InvoiceIssuerName", Some(a("InvoiceIssuerName").unwrap_or_else(|| provider.clone()))),
            ("ListCost", dec(r.totals.list_cost)),
            ("ListUnitPrice", None),
            ("PricingCategory", if tax { None } else { g.pricing_category.clone() }),
            ("PricingCurrency", a("PricingCurrency")),
            ("PricingCurrencyContractedUnitPrice", None),
            ("PricingCurrencyEffectiveCost", None),
            ("PricingCurrencyListUnitPrice", None),
            ("PricingQuantity", unit("PricingUnit").and(pricing_quantity).and_then(dec)),
            ("PricingUnit", pricing_quantity.and(unit("PricingUnit"))),
            ("ProviderName", Some(provider.clone())),
            ("PublisherName", Some(a("PublisherName").unwrap_or_else(|| provider.clone()))),
            ("RegionId", g.region_id.clone()),
            ("RegionName", region_name),
            ("ResourceId", g.resource_id.clone()),
            ("ResourceName", g.resource_id.as_ref().and(a("ResourceName"))),
            ("ResourceType", g.resource_id.as_ref().and(a("ResourceType"))),
            ("ServiceCategory", Some(category.clone())),
            ("ServiceName", Some(g.service_name.clone())),
            ("ServiceSubcategory", Some(format!("Other ({category})"))),
            ("SkuId", a("SkuId")),
            ("SkuMeter", None),
            ("SkuPriceDetails", None),
            ("SkuPriceId", a("SkuId").and(a("SkuPriceId"))),
            ("SubAccountId", g.sub_account_id.clone()),
            ("SubAccountName", g.sub_account_id.as_ref().map(|id| a("SubAccountName").unwrap_or_else(|| id.clone()))),
            ("SubAccountType", g.sub_account_id.as_ref().map(|_| sub_type.to_string())),
            ("Tags", Some(ascii_json(&g.tags.to_json()))),
            ("x_UsageType", g.usage_type.clone()),
            ("x_InvoiceFinal", Some(invoice_final.to_string())),
            ("x_LineCount", Some(r.totals.line_count.to_string())),
        ];
    debug_assert!(values.iter().map(|v| v.0).eq(COLUMNS.iter().copied()), "export columns out of order");
    values.into_iter().map(|(_, v)| v.map(|s| ascii_fold(&s))).collect()
}

/// FOCUS string columns are ASCII (focus-validator checks StringHandling so). Letters with
/// diacritics lose them, common symbols are spelled out, anything else becomes `?`. The store
/// keeps the original text; only the export is folded.
pub fn ascii_fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_ascii() {
            out.push(ch);
            continue;
        }
        let rep = match ch {
            '®' => "(R)",
            '™' => "(TM)",
            '©' => "(C)",
            '€' => "EUR",
            '£' => "GBP",
            '–' | '—' => "-",
            '‘' | '’' => "'",
            '“' | '”' => "\"",
            '…' => "...",
            'ß' => "ss",
            'æ' => "ae",
            'Æ' => "AE",
            'ø' => "o",
            'Ø' => "O",
            _ => "",
        };
        if !rep.is_empty() {
            out.push_str(rep);
            continue;
        }
        let base = match ch {
            'à'..='å' => 'a',
            'À'..='Å' => 'A',
            'ç' => 'c',
            'Ç' => 'C',
            'è'..='ë' => 'e',
            'È'..='Ë' => 'E',
            'ì'..='ï' => 'i',
            'Ì'..='Ï' => 'I',
            'ñ' => 'n',
            'Ñ' => 'N',
            'ò'..='ö' => 'o',
            'Ò'..='Ö' => 'O',
            'ù'..='ü' => 'u',
            'Ù'..='Ü' => 'U',
            'ý' | 'ÿ' => 'y',
            'Ý' => 'Y',
            _ => '?',
        };
        out.push(base);
    }
    out
}

/// JSON text with every non-ASCII character escaped as `\uXXXX`: still the same JSON value.
fn ascii_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut buf = [0u16; 2];
            for unit in ch.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn default_frequency(c: valdrix_core::ChargeCategory) -> &'static str {
    match c {
        valdrix_core::ChargeCategory::Usage => "Usage-Based",
        valdrix_core::ChargeCategory::Purchase => "One-Time",
        _ => "One-Time",
    }
}

/// Writes the FOCUS export of the records matching `q` to `out` (`.csv` or `.parquet`), returning
/// the number of rows written. The file is written to a temporary name and renamed at the end, so
/// a failed export leaves no partial file.
pub fn export_focus(store: &dyn Store, tenant: &TenantId, q: &CostQuery, out: &Path) -> Result<u64> {
    let name = out.to_string_lossy().to_ascii_lowercase();
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    let n = if name.ends_with(".parquet") {
        write_parquet(store, tenant, q, tmp.as_file())?
    } else if name.ends_with(".csv") {
        write_csv(store, tenant, q, tmp.as_file())?
    } else {
        return Err(AppError::Invalid(format!("{}: the export file name must end in .csv or .parquet", out.display())));
    };
    let file = tmp.persist(out).map_err(|e| e.error).with_context(|| format!("writing {}", out.display()))?;
    // Temporary files are private; an export is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(n)
}

/// A CSV writer's failure: writing our own file failed.
fn csv_error(e: csv::Error) -> AppError {
    AppError::Internal(format!("writing the CSV export: {e}"))
}

/// A Parquet or Arrow writer's failure: writing our own file failed.
fn parquet_error(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("writing the Parquet export: {e}"))
}

fn write_csv(store: &dyn Store, tenant: &TenantId, q: &CostQuery, file: &std::fs::File) -> Result<u64> {
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    w.write_record(COLUMNS).map_err(csv_error)?;
    let mut n = 0u64;
    store.for_each_record(tenant, q, &mut |r| {
        let row = focus_row(&r);
        w.write_record(row.iter().map(|v| valdrix_core::safe_cell(v.as_deref().unwrap_or(""))))
            .map_err(|e| valdrix_store::StoreError::Callback(e.to_string()))?;
        n += 1;
        Ok(())
    })?;
    w.flush()?;
    Ok(n)
}

/// Decimal scale of the Parquet amount columns. Decimal(38, 24) holds amounts up to 10^14 with 24
/// decimals; stored daily sums with more decimals (rare: Azure prices carry up to 28) are rounded
/// half-even at the 24th decimal. The CSV export is exact to the last stored digit.
const PARQUET_SCALE: i8 = 24;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| {
                if DECIMAL_COLUMNS.contains(c) {
                    Field::new(*c, DataType::Decimal128(38, PARQUET_SCALE), true)
                } else {
                    Field::new(*c, DataType::Utf8, true)
                }
            })
            .collect::<Vec<_>>(),
    ))
}

fn to_i128(text: &str, column: &str) -> Result<i128> {
    let mut d: Decimal = text.parse().map_err(|e| AppError::Internal(format!("{column}: {text}: {e}")))?;
    if d.scale() > PARQUET_SCALE as u32 {
        d = d.round_dp(PARQUET_SCALE as u32);
    }
    let factor = 10i128.pow(PARQUET_SCALE as u32 - d.scale());
    d.mantissa().checked_mul(factor).filter(|v| v.unsigned_abs() < 10u128.pow(38)).ok_or_else(|| {
        AppError::Invalid(format!("{column}: {text} is too large for a Decimal(38, {PARQUET_SCALE}) Parquet column"))
    })
}

struct Batch {
    builders: Vec<Builder>,
    len: usize,
}

enum Builder {
    Str(StringBuilder),
    Dec(Decimal128Builder),
}

impl Batch {
    fn new() -> Self {
        let builders = COLUMNS
            .iter()
            .map(|c| {
                if DECIMAL_COLUMNS.contains(c) {
                    Builder::Dec(
                        Decimal128Builder::new()
                            .with_precision_and_scale(38, PARQUET_SCALE)
                            .expect("valid decimal type"),
                    )
                } else {
                    Builder::Str(StringBuilder::new())
                }
            })
            .collect();
        Batch { builders, len: 0 }
    }

    fn push(&mut self, row: &[Option<String>]) -> Result<()> {
        for ((b, v), name) in self.builders.iter_mut().zip(row).zip(COLUMNS) {
            match b {
                Builder::Str(s) => s.append_option(v.as_deref()),
                Builder::Dec(d) => match v {
                    Some(t) => d.append_value(to_i128(t, name)?),
                    None => d.append_null(),
                },
            }
        }
        self.len += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Str(s) => Arc::new(s.finish()),
                    Builder::Dec(d) => {
                        Arc::new(d.finish().with_precision_and_scale(38, PARQUET_SCALE).expect("valid decimal type"))
                    }
                }
            })
            .collect();
        self.len = 0;
        RecordBatch::try_new(schema(), cols).map_err(parquet_error)
    }
}

fn write_parquet(store: &dyn Store, tenant: &TenantId, q: &CostQuery, file: &std::fs::File) -> Result<u64> {
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut writer = ArrowWriter::try_new(file.try_clone()?, schema(), Some(props)).map_err(parquet_error)?;
    let mut batch = Batch::new();
    let mut n = 0u64;
    let mut failure: Option<AppError> = None;
    store
        .for_each_record(tenant, q, &mut |r| {
            let step = (|| -> Result<()> {
                batch.push(&focus_row(&r))?;
                if batch.len >= 8192 {
                    writer.write(&batch.finish()?).map_err(parquet_error)?;
                }
                Ok(())
            })();
            if let Err(e) = step {
                let msg = e.to_string();
                failure = Some(e);
                return Err(valdrix_store::StoreError::Callback(msg));
            }
            n += 1;
            Ok(())
        })
        .map_err(|e| failure.take().unwrap_or_else(|| e.into()))?;
    if batch.len > 0 {
        writer.write(&batch.finish()?).map_err(parquet_error)?;
    }
    writer.close().map_err(parquet_error)?;
    Ok(n)
}
