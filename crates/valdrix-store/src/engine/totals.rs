//! Daily totals per common dimension (`daily_totals`): what dashboards and most cost questions
//! read instead of the daily records.
//!
//! For each tenant, charge day and currency there is one row for the day's total and one per
//! value of each rollup dimension (provider, billing account, sub-account, service, region,
//! charge category), with the four money sums and the number of live records. A delivery keeps
//! them exact by deltas: the record-by-record merge (`restate.rs`) adds each changed record's new
//! sums minus its old ones, and only the days it touched are rewritten. A cost query grouped and
//! filtered by at most one of those dimensions (plus day, month and currency) is answered from
//! here; any other goes to the records.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

use valdrix_core::{Grain, TenantId, Totals};

use super::parse::{parse_dec, GroupKey};
use crate::db::{p, texts, Db};
use crate::error::Result;
use crate::query::{CostQuery, CostRow, Dimension, Metric};

/// The rollup dimensions: name stored in `daily_totals.dimension`, and the query dimension.
const DIMENSIONS: [(&str, Dimension); 6] = [
    ("provider", Dimension::Provider),
    ("account", Dimension::Account),
    ("sub_account", Dimension::SubAccount),
    ("service", Dimension::Service),
    ("region", Dimension::Region),
    ("charge_category", Dimension::ChargeCategory),
];

/// The dimension name of the day's total row.
const TOTAL: &str = "total";

/// Values of the rollup dimensions of one series, and its currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    values: [String; 6],
    currency: String,
}

impl Key {
    fn of(g: &Grain) -> Self {
        Key {
            values: [
                g.provider.clone(),
                g.billing_account_id.clone(),
                g.sub_account_id.clone().unwrap_or_default(),
                g.service_name.clone(),
                g.region_id.clone().unwrap_or_default(),
                g.charge_category.as_str().to_string(),
            ],
            currency: g.currency.clone(),
        }
    }
}

/// The four money sums and the number of live records.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    money: [Decimal; 4],
    records: i64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        for (a, b) in self.money.iter_mut().zip(other.money) {
            *a += b;
        }
        self.records += other.records;
    }
}

/// Changes to the daily totals, gathered while a delivery is written.
#[derive(Default)]
pub(crate) struct TotalsDelta {
    keys: Vec<Key>,
    index: HashMap<Key, u32>,
    changes: HashMap<(NaiveDate, u32), Sums>,
}

impl TotalsDelta {
    /// The number of a series' rollup key (its grain but the day decides it).
    pub(crate) fn key(&mut self, g: &Grain) -> u32 {
        self.number(Key::of(g))
    }

    /// The rollup key of a stored series, from its columns.
    pub(crate) fn key_of_columns(&mut self, values: [String; 6], currency: String) -> u32 {
        self.number(Key { values, currency })
    }

    fn number(&mut self, key: Key) -> u32 {
        if let Some(&n) = self.index.get(&key) {
            return n;
        }
        let n = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.index.insert(key, n);
        n
    }

    /// A record of series key `key` on `day` went from `old` (four canonical sums, or none for a
    /// record that was not live) to `new` (none when removed).
    pub(crate) fn change(
        &mut self,
        day: NaiveDate,
        key: u32,
        old: Option<&[Option<String>; 6]>,
        new: Option<&Totals>,
    ) -> Result<()> {
        let mut d = Sums::default();
        if let Some(t) = new {
            d.money[0] += t.billed_cost;
            d.money[1] += t.effective_cost;
            d.money[2] += t.list_cost;
            d.money[3] += t.contracted_cost;
            d.records += 1;
        }
        if let Some(o) = old {
            for (k, m) in d.money.iter_mut().enumerate() {
                *m -= parse_dec(o[k].as_deref().unwrap_or("0"), "amount")?;
            }
            d.records -= 1;
        }
        if d == Sums::default() {
            return Ok(());
        }
        self.changes.entry((day, key)).or_default().add(&d);
        Ok(())
    }

    /// Applies the changes: every touched day's rows are read, moved by the deltas and written
    /// back (rows left with no live record are deleted).
    pub(crate) fn write(self, db: Db<'_>, tenant: &TenantId) -> Result<()> {
        let mut by_day: BTreeMap<NaiveDate, HashMap<(&str, String, String), Sums>> = BTreeMap::new();
        for ((day, key), d) in &self.changes {
            let key = &self.keys[*key as usize];
            let rows = by_day.entry(*day).or_default();
            rows.entry((TOTAL, String::new(), key.currency.clone())).or_default().add(d);
            for ((name, _), value) in DIMENSIONS.iter().zip(&key.values) {
                rows.entry((name, value.clone(), key.currency.clone())).or_default().add(d);
            }
        }
        for (day, deltas) in by_day {
            let day_text = day.to_string();
            let mut rows: BTreeMap<(String, String, String), Sums> = BTreeMap::new();
            db.for_each(
                "SELECT dimension, value, currency, billed_cost, effective_cost, list_cost, contracted_cost, records \
                 FROM daily_totals WHERE tenant_id = ?1 AND charge_date = ?2",
                p![tenant.as_str(), day_text],
                |r| {
                    let mut s = Sums { records: r.get(7)?, ..Sums::default() };
                    for k in 0..4 {
                        s.money[k] = parse_dec(&r.get::<String>(3 + k)?, "daily_totals")?;
                    }
                    rows.insert((r.get(0)?, r.get(1)?, r.get(2)?), s);
                    Ok(())
                },
            )?;
            for ((dim, value, currency), d) in deltas {
                rows.entry((dim.to_string(), value, currency)).or_default().add(&d);
            }
            write_day(db, tenant, &day_text, rows)?;
        }
        Ok(())
    }
}

/// Replaces a day's rows.
fn write_day(db: Db<'_>, tenant: &TenantId, day: &str, rows: BTreeMap<(String, String, String), Sums>) -> Result<()> {
    db.execute("DELETE FROM daily_totals WHERE tenant_id = ?1 AND charge_date = ?2", p![tenant.as_str(), day])?;
    let mut insert = db.prepare(
        "INSERT INTO daily_totals (tenant_id, charge_date, dimension, value, currency, billed_cost, effective_cost, \
         list_cost, contracted_cost, records) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for ((dim, value, currency), s) in rows {
        if s.records <= 0 {
            continue;
        }
        let m: Vec<String> = s.money.iter().map(|d| d.normalize().to_string()).collect();
        insert.execute(p![tenant.as_str(), day, dim, value, currency, m[0], m[1], m[2], m[3], s.records])?;
    }
    Ok(())
}

/// Rebuilds a tenant's daily totals from its records (after the SQLite migration that added
/// them, or to repair).
pub(crate) fn rebuild(db: Db<'_>, tenant: &TenantId) -> Result<()> {
    db.execute("DELETE FROM daily_totals WHERE tenant_id = ?1", p![tenant.as_str()])?;
    let mut days: BTreeMap<String, BTreeMap<(String, String, String), Sums>> = BTreeMap::new();
    db.for_each(
        "SELECT c.charge_date, s.provider, s.billing_account_id, s.sub_account_id, s.service_name, s.region_id, \
         s.charge_category, s.currency, c.billed_cost, c.effective_cost, c.list_cost, c.contracted_cost \
         FROM cost_records c JOIN cost_series s ON s.tenant_id = c.tenant_id AND s.series_no = c.series_no \
         WHERE c.tenant_id = ?1 AND c.line_count > 0",
        p![tenant.as_str()],
        |r| {
            let mut s = Sums { records: 1, ..Sums::default() };
            for k in 0..4 {
                s.money[k] = parse_dec(&r.get::<String>(8 + k)?, "cost_records")?;
            }
            let currency: String = r.get(7)?;
            let rows = days.entry(r.get(0)?).or_default();
            rows.entry((TOTAL.to_string(), String::new(), currency.clone())).or_default().add(&s);
            for (k, (name, _)) in DIMENSIONS.iter().enumerate() {
                let value: Option<String> = r.get(1 + k)?;
                rows.entry((name.to_string(), value.unwrap_or_default(), currency.clone())).or_default().add(&s);
            }
            Ok(())
        },
    )?;
    for (day, rows) in days {
        write_day(db, tenant, &day, rows)?;
    }
    Ok(())
}

/// The rollup dimension a query needs, if the daily totals can answer it: `Some(None)` for the
/// day's total, `Some(Some(name))` for one dimension, `None` when records must be read.
fn rollup_dimension(q: &CostQuery) -> Option<Option<&'static str>> {
    let mut used: Option<&'static str> = None;
    let dims = q.group_by.iter().chain(q.filters.iter().map(|f| &f.dimension));
    for d in dims {
        match d {
            Dimension::Day | Dimension::Month | Dimension::Currency => continue,
            other => {
                let name = DIMENSIONS.iter().find(|(_, dim)| dim == other).map(|(n, _)| *n)?;
                if used.is_some_and(|u| u != name) {
                    return None;
                }
                used = Some(name);
            }
        }
    }
    Some(used)
}

/// The `daily_totals` expression of a dimension the rollup answers.
fn expr(d: &Dimension) -> &'static str {
    match d {
        Dimension::Day => "t.charge_date",
        Dimension::Month => "substr(t.charge_date, 1, 7)",
        Dimension::Currency => "t.currency",
        _ => "t.value",
    }
}

/// Answers a cost query from the daily totals when it can (see [`rollup_dimension`]).
pub(crate) fn costs(db: Db<'_>, tenant: &TenantId, q: &CostQuery) -> Result<Option<Vec<CostRow>>> {
    let Some(dim) = rollup_dimension(q) else { return Ok(None) };
    let column = match q.metric {
        Metric::Billed => "billed_cost",
        Metric::Effective => "effective_cost",
        Metric::List => "list_cost",
        Metric::Contracted => "contracted_cost",
    };
    let mut params: Vec<String> = vec![tenant.as_str().to_string(), dim.unwrap_or(TOTAL).to_string()];
    let mut w = String::from("t.tenant_id = ?1 AND t.dimension = ?2");
    if let Some(from) = q.from {
        params.push(from.to_string());
        w.push_str(&format!(" AND t.charge_date >= ?{}", params.len()));
    }
    if let Some(to) = q.to {
        params.push(to.to_string());
        w.push_str(&format!(" AND t.charge_date < ?{}", params.len()));
    }
    for f in &q.filters {
        let column = expr(&f.dimension);
        // An IN list, not a chain of ORs (SQLite bounds an expression's depth at 1,000).
        let mut listed = Vec::new();
        for v in &f.values {
            params.push(v.clone());
            listed.push(format!("?{}", params.len()));
        }
        if !listed.is_empty() {
            w.push_str(&format!(" AND {column} IN ({})", listed.join(", ")));
        }
    }
    let exprs: Vec<&str> = q.group_by.iter().map(expr).collect();
    let select = if exprs.is_empty() { String::new() } else { format!("{}, ", exprs.join(", ")) };
    let sql = format!("SELECT {select}t.currency, t.{column}, t.records FROM daily_totals t WHERE {w}");
    let n = exprs.len();
    let mut sums: BTreeMap<GroupKey, (Decimal, u64)> = BTreeMap::new();
    db.for_each(&sql, &texts(&params), |r| {
        let mut keys = Vec::with_capacity(n);
        for i in 0..n {
            // A dimension without a value is stored as '' (the records hold NULL).
            keys.push(r.get::<Option<String>>(i)?.filter(|v| !v.is_empty()));
        }
        let e = sums.entry((keys, r.get(n)?)).or_insert((Decimal::ZERO, 0));
        e.0 += parse_dec(&r.get::<String>(n + 1)?, "daily_totals")?;
        e.1 += r.get::<i64>(n + 2)? as u64;
        Ok(())
    })?;
    Ok(Some(
        sums.into_iter()
            .map(|((keys, currency), (amount, records))| CostRow {
                keys,
                currency,
                amount: amount.normalize(),
                records,
            })
            .collect(),
    ))
}
