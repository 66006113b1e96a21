//! Rule sets as files: JSON a person can write and a tool can export, read back the same.
//!
//! ```json
//! {"version": 1, "rules": [
//!   {"id": "owner", "priority": 10, "owner": ["tag:team", "tag:owner", {"table": "account", "map": {"111122223333": "Data"}}]},
//!   {"id": "nat", "priority": 20, "match": {"service": ["NAT Gateway"]}, "percentages": {"A": 60, "B": 40}},
//!   {"id": "support", "priority": 30, "match": {"service": ["Support"]}, "proportional_to_direct": ["A", "B"]},
//!   {"id": "lb", "priority": 40, "match": {"resource_like": "arn:aws:elasticloadbalancing:*"}, "usage": {"A": 750000, "B": 250000}},
//!   {"id": "tools", "priority": 50, "match": {"tags": {"env": ["shared"]}}, "even": ["A", "B", "C"]},
//!   {"id": "fees", "priority": 60, "match": {"charge_category": ["Tax"]}, "fixed": {"A": "300.00"}, "remainder": "Finance"},
//!   {"id": "fix-1", "match": {"records": ["3f2a…-20261004"]}, "override": "Platform"}
//! ]}
//! ```
//!
//! A rule has an `id`, a `priority` (default 100; lower first), a `match` (every condition must
//! hold; none: every record) and exactly one method. Amounts and weights are numbers or decimal
//! strings, kept exact.

use super::rules::{Condition, Dim, Match, Method, OwnerSource, Rule, RuleError, Usage};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

/// A rule file that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {at}: {message}")]
pub struct RulesFileError {
    /// The file.
    pub file: String,
    /// Where (`rules[3] (nat)`).
    pub at: String,
    /// What is wrong.
    pub message: String,
}

const DIMS: [(&str, Dim); 8] = [
    ("provider", Dim::Provider),
    ("service", Dim::Service),
    ("account", Dim::Account),
    ("sub_account", Dim::SubAccount),
    ("region", Dim::Region),
    ("charge_category", Dim::ChargeCategory),
    ("resource", Dim::Resource),
    ("usage_type", Dim::UsageType),
];

const METHODS: [&str; 8] = [
    "owner",
    "override",
    "percentages",
    "proportional_to_direct",
    "usage",
    "proportional_to_quantity",
    "even",
    "fixed",
];

fn dim_named(name: &str) -> Option<Dim> {
    DIMS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

fn dim_name(d: Dim) -> &'static str {
    DIMS.iter().find(|(_, x)| *x == d).map(|(n, _)| *n).unwrap_or("service")
}

/// Reads a rule set written as JSON; `file` names it in errors. Every rule is also checked
/// ([`Rule::validate`]) and ids must be unique.
pub fn parse(file: &str, text: &str) -> Result<Vec<Rule>, RulesFileError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| RulesFileError {
        file: file.into(),
        at: format!("line {}", e.line()),
        message: format!("not JSON: {e}"),
    })?;
    from_value(file, &doc)
}

/// Reads a rule set written as YAML (the same fields as JSON).
pub fn parse_yaml(file: &str, text: &str) -> Result<Vec<Rule>, RulesFileError> {
    let doc: Value = yaml_serde::from_str(text).map_err(|e| RulesFileError {
        file: file.into(),
        at: e.location().map(|l| format!("line {}", l.line())).unwrap_or_else(|| "the document".into()),
        message: format!("not YAML: {e}"),
    })?;
    from_value(file, &doc)
}

/// Reads a rule set as YAML when the file is named `.yaml` or `.yml`, or does not start with
/// `{`; as JSON otherwise.
pub fn parse_any(file: &str, text: &str) -> Result<Vec<Rule>, RulesFileError> {
    let lower = file.to_ascii_lowercase();
    let yaml = lower.ends_with(".yaml")
        || lower.ends_with(".yml")
        || (!lower.ends_with(".json") && !text.trim_start().starts_with('{'));
    if yaml {
        parse_yaml(file, text)
    } else {
        parse(file, text)
    }
}

fn from_value(file: &str, doc: &Value) -> Result<Vec<Rule>, RulesFileError> {
    let bad = |at: &str, message: String| RulesFileError { file: file.into(), at: at.into(), message };
    match doc.get("version") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => return Err(bad("version", format!("{v} is not a version this valdrix reads (1)"))),
        None => return Err(bad("version", "missing (write \"version\": 1)".into())),
    }
    let rules =
        doc.get("rules").and_then(Value::as_array).ok_or_else(|| bad("rules", "missing, or not a list".into()))?;
    let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
    for (n, v) in rules.iter().enumerate() {
        let id = v.get("id").and_then(Value::as_str).unwrap_or("");
        let at = format!("rules[{n}]{}", if id.is_empty() { String::new() } else { format!(" ({id})") });
        let rule = rule(v).map_err(|m| bad(&at, m))?;
        rule.validate().map_err(|e| bad(&at, e.to_string()))?;
        if out.iter().any(|r| r.id == rule.id) {
            return Err(bad(&at, RuleError::Duplicate(rule.id).to_string()));
        }
        out.push(rule);
    }
    Ok(out)
}

fn decimal(v: &Value, what: &str) -> Result<Decimal, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(format!("{what}: {other} is not a number")),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{what}: {text:?} is not a decimal number"))
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| format!("{what}: {x} is not a string")))
            .collect(),
        other => Err(format!("{what}: {other} is not a string or a list of strings")),
    }
}

fn pairs(v: &Value, what: &str) -> Result<Vec<(String, Decimal)>, String> {
    let m = v.as_object().ok_or_else(|| format!("{what}: expected an object of target → number"))?;
    m.iter().map(|(k, x)| Ok((k.clone(), decimal(x, &format!("{what}.{k}"))?))).collect()
}

/// `usage`: target → figure for every period, or `YYYY-MM` → {target → figure} for one.
fn usage(v: &Value) -> Result<Usage, String> {
    let m = v.as_object().ok_or("usage: an object of target → number, or of YYYY-MM → {target → number}")?;
    let mut u = Usage::default();
    for (k, x) in m {
        if x.is_object() {
            let month = chrono_month(k).ok_or(format!("usage.{k}: a period is written YYYY-MM"))?;
            u.periods.insert(month, pairs(x, &format!("usage.{k}"))?);
        } else {
            u.any_period.push((k.clone(), decimal(x, &format!("usage.{k}"))?));
        }
    }
    Ok(u)
}

/// `YYYY-MM`, checked.
fn chrono_month(s: &str) -> Option<String> {
    valdrix_core::time::parse_month(s).map(|_| s.to_string())
}

fn rule(v: &Value) -> Result<Rule, String> {
    let obj = v.as_object().ok_or("a rule is an object")?;
    let allowed = ["id", "priority", "match", "remainder", "description"];
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) && !METHODS.contains(&k.as_str()) {
            return Err(format!("unknown key {k:?}"));
        }
    }
    let id = obj.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or("no id")?.to_string();
    let priority = match obj.get("priority") {
        None => 100,
        Some(p) => p.as_i64().and_then(|p| i32::try_from(p).ok()).ok_or("priority: a whole number")?,
    };
    let matcher = match obj.get("match") {
        None => Match::default(),
        Some(m) => match_of(m)?,
    };
    let given: Vec<&str> = METHODS.iter().copied().filter(|m| obj.contains_key(*m)).collect();
    let [method] = given.as_slice() else {
        return Err(format!("needs exactly one of {} (has {})", METHODS.join(", "), given.len()));
    };
    let body = &obj[*method];
    if obj.contains_key("remainder") && *method != "fixed" {
        return Err("remainder goes with fixed".into());
    }
    let method = match *method {
        "owner" => Method::Owner(owner_sources(body)?),
        "override" => Method::Override(body.as_str().ok_or("override: a target name")?.to_string()),
        "percentages" => Method::Percentages(pairs(body, "percentages")?),
        "proportional_to_direct" => Method::ProportionalToDirect(strings(body, "proportional_to_direct")?),
        "usage" => Method::ProportionalToUsage(usage(body)?),
        "proportional_to_quantity" => {
            let o = body.as_object().ok_or("proportional_to_quantity: {\"targets\": [...], \"of\": {conditions}}")?;
            if let Some(k) = o.keys().find(|k| *k != "targets" && *k != "of") {
                return Err(format!("proportional_to_quantity: unknown key {k:?}"));
            }
            Method::ProportionalToQuantity {
                targets: strings(o.get("targets").ok_or("proportional_to_quantity: no targets")?, "targets")?,
                of: match o.get("of") {
                    Some(m) => match_of(m).map_err(|e| format!("proportional_to_quantity.of: {e}"))?,
                    None => Match::default(),
                },
            }
        }
        "even" => Method::Even(strings(body, "even")?),
        _ => Method::Fixed {
            amounts: pairs(body, "fixed")?,
            remainder: obj
                .get("remainder")
                .and_then(Value::as_str)
                .ok_or("fixed needs a remainder target")?
                .to_string(),
        },
    };
    let description = match obj.get("description") {
        None => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return Err("description: a string".into()),
    };
    Ok(Rule { id, priority, matcher, method, description })
}

fn owner_sources(v: &Value) -> Result<Vec<OwnerSource>, String> {
    let list = v.as_array().ok_or("owner: a list of sources (\"tag:team\", \"account\", {\"table\": …})")?;
    list.iter()
        .map(|s| match s {
            Value::String(s) => match s.strip_prefix("tag:") {
                Some(k) if !k.is_empty() => Ok(OwnerSource::Tag(k.to_string())),
                _ => {
                    dim_named(s).map(OwnerSource::Dim).ok_or(format!("owner: {s:?} is neither tag:KEY nor a dimension"))
                }
            },
            Value::Object(o) => {
                let d = o
                    .get("table")
                    .and_then(Value::as_str)
                    .and_then(dim_named)
                    .ok_or("owner table: \"table\" names a dimension")?;
                let map = o.get("map").and_then(Value::as_object).ok_or("owner table: \"map\" of value → owner")?;
                let map: BTreeMap<String, String> = map
                    .iter()
                    .map(|(k, v)| {
                        v.as_str().map(|v| (k.clone(), v.to_string())).ok_or(format!("owner table: {k}: not a name"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(OwnerSource::Table(d, map))
            }
            other => Err(format!("owner: {other} is not a source")),
        })
        .collect()
}

fn match_of(v: &Value) -> Result<Match, String> {
    let obj = v.as_object().ok_or("match: an object of conditions")?;
    let mut conditions = vec![];
    for (k, x) in obj {
        if let Some(d) = dim_named(k) {
            conditions.push(Condition::Is(d, strings(x, k)?));
        } else if let Some(d) = k.strip_suffix("_like").and_then(dim_named) {
            let glob = x.as_str().ok_or(format!("{k}: a pattern"))?;
            conditions.push(Condition::like(d, glob));
        } else if k == "tags" {
            let tags = x.as_object().ok_or("tags: an object of key → values ([] for any value)")?;
            for (key, values) in tags {
                conditions.push(Condition::Tag(key.clone(), strings(values, &format!("tags.{key}"))?));
            }
        } else if k == "tag_missing" {
            for key in strings(x, k)? {
                conditions.push(Condition::TagMissing(key));
            }
        } else if k == "records" {
            conditions.push(Condition::RecordIs(strings(x, k)?));
        } else {
            return Err(format!("match: unknown condition {k:?}"));
        }
    }
    Ok(Match(conditions))
}

fn pairs_json(p: &[(String, Decimal)]) -> Value {
    Value::Object(p.iter().map(|(k, v)| (k.clone(), Value::String(v.to_string()))).collect())
}

/// A match as the file writes it.
fn match_json(matcher: &Match) -> Map<String, Value> {
    let mut m = Map::new();
    let mut tags = Map::new();
    for c in &matcher.0 {
        match c {
            Condition::Is(d, values) => {
                m.insert(dim_name(*d).into(), json!(values));
            }
            Condition::Like(d, _) => {
                if let Some(glob) = matcher.glob_of(*d) {
                    m.insert(format!("{}_like", dim_name(*d)), json!(glob));
                }
            }
            Condition::Tag(k, values) => {
                tags.insert(k.clone(), json!(values));
            }
            Condition::TagMissing(k) => {
                let list = m.entry("tag_missing").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(k));
                }
            }
            Condition::RecordIs(ids) => {
                m.insert("records".into(), json!(ids));
            }
        }
    }
    if !tags.is_empty() {
        m.insert("tags".into(), Value::Object(tags));
    }
    m
}

/// Writes a rule set in the form [`parse`] reads.
pub fn export(rules: &[Rule]) -> String {
    let mut text = serde_json::to_string_pretty(&document(rules)).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes a rule set as YAML, in the form [`parse_yaml`] reads.
pub fn export_yaml(rules: &[Rule]) -> String {
    yaml_serde::to_string(&yaml_of(document(rules))).unwrap_or_default()
}

/// The same document as a YAML value: JSON numbers here hold their digits as text (exact
/// decimals), which YAML's serializer would otherwise write as a private map.
fn yaml_of(v: Value) -> yaml_serde::Value {
    use yaml_serde::Value as Y;
    match v {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Y::Number(i.into()),
            None => Y::String(n.to_string()),
        },
        Value::String(s) => Y::String(s),
        Value::Array(a) => Y::Sequence(a.into_iter().map(yaml_of).collect()),
        Value::Object(o) => Y::Mapping(o.into_iter().map(|(k, v)| (Y::String(k), yaml_of(v))).collect()),
    }
}

fn document(rules: &[Rule]) -> Value {
    json!({"version": 1, "rules": rules.iter().map(rule_json).collect::<Vec<_>>()})
}

/// How two rule sets differ, by rule id.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RuleSetDiff {
    /// Rules only in the new set.
    pub added: Vec<String>,
    /// Rules only in the old set.
    pub removed: Vec<String>,
    /// Rules in both, written differently.
    pub changed: Vec<String>,
}

impl RuleSetDiff {
    /// Whether the sets are the same.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What changed from `old` to `new`.
pub fn diff(old: &[Rule], new: &[Rule]) -> RuleSetDiff {
    let old: BTreeMap<&str, Value> = old.iter().map(|r| (r.id.as_str(), rule_json(r))).collect();
    let new: BTreeMap<&str, Value> = new.iter().map(|r| (r.id.as_str(), rule_json(r))).collect();
    let mut d = RuleSetDiff::default();
    for (id, v) in &new {
        match old.get(id) {
            None => d.added.push(id.to_string()),
            Some(o) if o != v => d.changed.push(id.to_string()),
            Some(_) => {}
        }
    }
    d.removed = old.keys().filter(|id| !new.contains_key(*id)).map(|id| id.to_string()).collect();
    d
}

fn rule_json(r: &Rule) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(r.id));
    o.insert("priority".into(), json!(r.priority));
    if let Some(d) = &r.description {
        o.insert("description".into(), json!(d));
    }
    let m = match_json(&r.matcher);
    if !m.is_empty() {
        o.insert("match".into(), Value::Object(m));
    }
    match &r.method {
        Method::Owner(sources) => {
            let s: Vec<Value> = sources
                .iter()
                .map(|s| match s {
                    OwnerSource::Tag(k) => json!(format!("tag:{k}")),
                    OwnerSource::Dim(d) => json!(dim_name(*d)),
                    OwnerSource::Table(d, map) => json!({"table": dim_name(*d), "map": map}),
                })
                .collect();
            o.insert("owner".into(), Value::Array(s));
        }
        Method::Override(t) => {
            o.insert("override".into(), json!(t));
        }
        Method::Percentages(p) => {
            o.insert("percentages".into(), pairs_json(p));
        }
        Method::ProportionalToDirect(t) => {
            o.insert("proportional_to_direct".into(), json!(t));
        }
        Method::ProportionalToUsage(u) => {
            let mut m = match pairs_json(&u.any_period) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            for (period, p) in &u.periods {
                m.insert(period.clone(), pairs_json(p));
            }
            o.insert("usage".into(), Value::Object(m));
        }
        Method::ProportionalToQuantity { targets, of } => {
            o.insert("proportional_to_quantity".into(), json!({"targets": targets, "of": match_json(of)}));
        }
        Method::Even(t) => {
            o.insert("even".into(), json!(t));
        }
        Method::Fixed { amounts, remainder } => {
            o.insert("fixed".into(), pairs_json(amounts));
            o.insert("remainder".into(), json!(remainder));
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"version": 1, "rules": [
      {"id": "owner", "priority": 10, "owner": ["tag:team", "tag:owner", {"table": "account", "map": {"111122223333": "Data"}}]},
      {"id": "nat", "priority": 20, "match": {"service": ["NAT Gateway"]}, "percentages": {"A": 60, "B": 40}},
      {"id": "support", "priority": 30, "match": {"service": "Support"}, "proportional_to_direct": ["A", "B"]},
      {"id": "lb", "priority": 40, "match": {"resource_like": "arn:aws:elasticloadbalancing:*"}, "usage": {"A": 750000, "B": "250000.5"}},
      {"id": "tools", "priority": 50, "match": {"tags": {"env": ["shared"]}, "tag_missing": ["team"]}, "even": ["A", "B", "C"]},
      {"id": "fees", "priority": 60, "match": {"charge_category": ["Tax"]}, "fixed": {"A": "300.00"}, "remainder": "Finance"},
      {"id": "fix-1", "match": {"records": ["3f2a-20261004"]}, "override": "Platform"}
    ]}"#;

    #[test]
    fn the_documented_example_reads_and_round_trips() {
        let rules = parse("rules.json", EXAMPLE).unwrap();
        assert_eq!(rules.len(), 7);
        assert_eq!(rules[6].priority, 100);
        assert!(
            matches!(&rules[3].method, Method::ProportionalToUsage(p) if p.any_period[1].1 == Decimal::from_str("250000.5").unwrap())
        );
        let again = parse("exported.json", &export(&rules)).unwrap();
        assert_eq!(export(&again), export(&rules));
        assert_eq!(again.len(), rules.len());
        for (a, b) in again.iter().zip(&rules) {
            assert_eq!((&a.id, a.priority, &a.method), (&b.id, b.priority, &b.method));
            assert_eq!(a.matcher.0.len(), b.matcher.0.len());
        }
    }

    const YAML: &str = "version: 1
rules:
  - id: owner
    priority: 10
    description: Teams own what they tag
    owner: [\"tag:team\", {table: sub_account, map: {\"222233334444\": search}}]
  - id: nat
    match: {service: NAT Gateway}
    proportional_to_quantity: {targets: [A, B], of: {usage_type_like: \"*DataTransfer-Out*\"}}
  - id: lb
    match: {service: ELB}
    usage: {A: 1, B: 1, 2026-11: {A: 3, B: \"1.25\"}}
";

    #[test]
    fn yaml_reads_the_same_rules_and_round_trips_through_both_forms() {
        let rules = parse_any("rules.yaml", YAML).unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].description.as_deref(), Some("Teams own what they tag"));
        let Method::ProportionalToUsage(u) = &rules[2].method else { panic!("{:?}", rules[2].method) };
        assert_eq!(u.for_period("2026-11").unwrap()[1].1, Decimal::from_str("1.25").unwrap());
        assert_eq!(u.for_period("2026-10").unwrap()[0].1, Decimal::ONE);
        assert!(
            matches!(&rules[1].method, Method::ProportionalToQuantity { targets, of } if targets.len() == 2 && of.0.len() == 1)
        );
        let json = export(&rules);
        let from_json = parse_any("exported.json", &json).unwrap();
        let yaml = export_yaml(&rules);
        assert!(yaml.starts_with("version: 1\nrules:\n- id: owner\n  priority: 10\n"), "{yaml}");
        let from_yaml = parse_any("exported.yml", &yaml).unwrap();
        assert_eq!(export(&from_json), json);
        assert_eq!(export(&from_yaml), json);
        assert!(diff(&rules, &from_yaml).is_empty());
        let e = parse_any("bad.yaml", "version: 1\nrules: [\n").unwrap_err().to_string();
        assert!(e.starts_with("bad.yaml: line "), "{e}");
        let e = parse_any("bad.yaml", "version: 1\nrules:\n  - id: lb\n    usage: {2026-13: {A: 1}}\n").unwrap_err();
        assert_eq!(e.to_string(), "bad.yaml: rules[0] (lb): usage.2026-13: a period is written YYYY-MM");
    }

    #[test]
    fn diffs_name_added_removed_and_changed_rules() {
        let old = parse("old.json", EXAMPLE).unwrap();
        let mut new = old.clone();
        new.retain(|r| r.id != "fix-1");
        new[1].method = Method::Percentages(vec![("A".into(), Decimal::from(50)), ("B".into(), Decimal::from(50))]);
        new.push(Rule { id: "extra".into(), ..new[4].clone() });
        let d = diff(&old, &new);
        assert_eq!(
            (d.added, d.removed, d.changed),
            (vec!["extra".to_string()], vec!["fix-1".to_string()], vec!["nat".to_string()])
        );
    }

    #[test]
    fn mistakes_name_the_file_the_rule_and_the_field() {
        let err = |text: &str| parse("team-rules.json", text).unwrap_err().to_string();
        assert!(err("{").starts_with("team-rules.json: line 1: not JSON"), "{}", err("{"));
        assert!(err(r#"{"rules": []}"#).contains("version: missing"));
        let e = err(
            r#"{"version": 1, "rules": [{"id": "ok", "even": ["A"]}, {"id": "nat", "percentages": {"A": 60, "B": 30}}]}"#,
        );
        assert_eq!(e, "team-rules.json: rules[1] (nat): rule nat: percentages add up to 90, not 100");
        let e = err(r#"{"version": 1, "rules": [{"id": "x", "even": ["A"], "fixed": {"A": 1}}]}"#);
        assert!(e.contains("rules[0] (x): needs exactly one of"), "{e}");
        let e = err(r#"{"version": 1, "rules": [{"id": "x", "match": {"colour": ["red"]}, "even": ["A"]}]}"#);
        assert!(e.contains("unknown condition \"colour\""), "{e}");
        let e = err(r#"{"version": 1, "rules": [{"id": "x", "usage": {"A": "lots"}}]}"#);
        assert!(e.contains("usage.A: \"lots\" is not a decimal number"), "{e}");
        let e = err(r#"{"version": 1, "rules": [{"id": "x", "even": ["A"]}, {"id": "x", "even": ["B"]}]}"#);
        assert!(e.contains("rules[1] (x): two rules are named x"), "{e}");
        let e = err(r#"{"version": 1, "rules": [{"id": "x", "fixed": {"A": 1}}]}"#);
        assert!(e.contains("fixed needs a remainder target"), "{e}");
        assert!(err(r#"{"version": 2, "rules": []}"#).contains("not a version this valdrix reads"));
    }
}
