//! Every file of the bad-input corpus is rejected with an error naming the file, row and column,
//! a non-zero exit, and a store left exactly as it was.

mod common;

use std::path::PathBuf;

fn corpus() -> PathBuf {
    common::repo_root().join("tests/bad_input")
}

/// File, then the texts its error must contain.
const CASES: &[(&str, &[&str])] = &[
    ("truncated.parquet", &["corrupt or truncated Parquet"]),
    ("corrupt_page.parquet", &["row group 0", "Parquet"]),
    ("unknown_schema.csv", &["unknown billing format", "date, amount, team"]),
    ("unbalanced_quotes.csv", &["row 2", "lineItem/LineItemDescription", "unbalanced quote"]),
    ("invalid_utf8.csv", &["row 2", "MeterCategory", "UTF-8"]),
    ("nan_cost.csv", &["row 2", "\"BilledCost\"", "NaN"]),
    ("non_numeric_cost.csv", &["row 3", "\"EffectiveCost\"", "12abc"]),
    ("impossible_date.csv", &["row 2", "\"ChargePeriodStart\"", "2023-02-30"]),
    ("duplicate_headers.csv", &["\"BilledCost\"", "duplicate column"]),
    ("empty.csv", &["empty file"]),
    ("enormous_tag.csv", &["row 2", "\"Tags\"", "team", "4096-byte limit"]),
    ("truncated.csv.gz", &["compressed data"]),
    ("broken_line.jsonl", &["row 2", "invalid JSON"]),
    ("short_row.csv", &["row 2", "\"EffectiveCost\"", "9 fields but the header has 11", "--pad-short-rows"]),
    ("empty_cost.csv", &["row 2", "\"BilledCost\"", "the cost is empty"]),
    ("empty_date.csv", &["row 2", "\"ChargePeriodStart\"", "missing ChargePeriodStart"]),
    ("year_1.csv", &["row 2", "\"ChargePeriodStart\"", "0001-01-01", "outside the plausible billing dates"]),
    ("year_1900.csv", &["row 2", "\"ChargePeriodStart\"", "1900-01-02", "outside the plausible billing dates"]),
    ("year_9999.csv", &["row 2", "\"ChargePeriodStart\"", "9999-12-30", "outside the plausible billing dates"]),
    ("charge_period_reversed.csv", &["row 2", "\"ChargePeriodEnd\"", "ends", "before it starts"]),
    ("billing_period_reversed.csv", &["row 2", "\"BillingPeriodEnd\"", "before it starts"]),
    ("nul_byte.csv", &["row 2", "\"ServiceName\"", "U+0000"]),
    ("bad_currency.csv", &["row 2", "\"BillingCurrency\"", "\"US$\"", "ISO 4217"]),
];

/// A new store in a temporary folder holding one good FOCUS file, and what it holds.
fn store_with_a_good_file() -> (tempfile::TempDir, std::path::PathBuf, common::Dump) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let good = common::samples().join("focus/focus-1.0-sample/focus_sample_1000.csv");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", good.to_str().unwrap()]);
    assert!(ok, "{err}");
    let before = common::dump(&db);
    (dir, db, before)
}

#[test]
fn every_bad_file_is_rejected_and_the_store_is_untouched() {
    let (_dir, db, before) = store_with_a_good_file();
    assert_eq!(before.0.len(), 1);
    let listed: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    assert_eq!(listed.len(), CASES.len(), "every corpus file has a case: {listed:?}");
    for (file, expected) in CASES {
        assert_refused(&db, &corpus().join(file), expected, &before);
    }
}

/// Ingesting `path` fails with an error naming the file and holding every text of `expected`,
/// and the store is still `before` (on SQLite, byte for byte).
fn assert_refused(db: &std::path::Path, path: &std::path::Path, expected: &[&str], before: &common::Dump) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    // On SQLite the file itself: byte for byte as it was.
    let bytes = (!common::on_postgres()).then(|| std::fs::read(db).unwrap());
    let (ok, _, err) = common::valdrix(db, &["ingest", "--quiet", path.to_str().unwrap()]);
    assert!(!ok, "{name} was accepted");
    assert!(err.contains(&name), "{name}: the error does not name the file: {err}");
    for e in expected {
        assert!(err.contains(e), "{name}: expected {e:?} in: {err}");
    }
    assert_eq!(&common::dump(db), before, "{name} changed the store");
    if let Some(bytes) = bytes {
        assert!(std::fs::read(db).unwrap() == bytes, "{name} changed the store's file");
    }
}

#[test]
fn a_bad_file_after_good_ones_writes_nothing_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let good = common::samples().join("azure-cost-details/finops-toolkit/EA_AmortizedCost_Small.csv");
    let other = common::samples().join("gcp-bigquery-export");
    let bad = corpus().join("nan_cost.csv");
    let args = ["ingest", "--quiet", good.to_str().unwrap(), other.to_str().unwrap(), bad.to_str().unwrap()];
    let (ok, _, err) = common::valdrix(&db, &args);
    assert!(!ok);
    assert!(err.contains("nan_cost.csv"), "{err}");
    let (runs, records) = common::dump(&db);
    assert!(runs.is_empty() && records.is_empty(), "the good files before the bad one were written");
}

/// Files too large to keep in the corpus, made for the test: each is refused like the corpus
/// files, naming the file (and row and column where there is one), with the store unchanged.
#[test]
fn generated_bad_files_are_rejected_and_the_store_is_untouched() {
    use std::io::Write;
    let (dir, db, before) = store_with_a_good_file();
    let header =
        "BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,\
                  ChargeCategory,ServiceName,BilledCost,EffectiveCost,Tags";
    let row = |service: &str| {
        format!(
            "123,USD,2024-09-01T00:00:00Z,2024-10-01T00:00:00Z,2024-09-02T00:00:00Z,2024-09-03T00:00:00Z,Usage,{service},1.50,1.50,{{}}"
        )
    };

    // A 1 MB field.
    let huge = dir.path().join("huge_field.csv");
    std::fs::write(&huge, format!("{header}\n{}\n{}\n", row("Compute"), row(&"x".repeat(1 << 20)))).unwrap();
    // A gzip bomb: 1 GiB of blank lines (each skipped, as a blank line is no row) from a few
    // MB of gzip, a 16 MiB member written 64 times (gzip readers read concatenated members).
    let bomb = dir.path().join("bomb.csv.gz");
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&vec![b'\n'; 16 << 20]).unwrap();
    let member = member.finish().unwrap();
    let mut file = std::fs::File::create(&bomb).unwrap();
    let mut head = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    head.write_all(format!("{header}\n").as_bytes()).unwrap();
    file.write_all(&head.finish().unwrap()).unwrap();
    for _ in 0..64 {
        file.write_all(&member).unwrap();
    }
    drop(file);
    let cases: [(&std::path::Path, &[&str]); 2] = [
        (&huge, &["row 2", "\"ServiceName\"", "over the 65536-byte limit"]),
        (&bomb, &["expands more than 250 times", "decompression bomb"]),
    ];
    for (path, expected) in cases {
        assert_refused(&db, path, expected, &before);
    }
}

/// A delivery with no billing rows (a CSV header alone, a Parquet file of no rows) is said to be
/// empty and writes nothing; --allow-empty records it.
#[test]
fn an_empty_delivery_is_said_to_be_empty_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let header_only = dir.path().join("header_only.csv");
    std::fs::write(
        &header_only,
        "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ServiceName,BilledCost\n",
    )
    .unwrap();
    // A Parquet file of no rows: the FOCUS export of an empty store.
    let zero_rows = dir.path().join("zero_rows.parquet");
    let empty_db = dir.path().join("empty.sqlite");
    let (ok, _, err) = common::valdrix(&empty_db, &["export", "focus", "--out", zero_rows.to_str().unwrap()]);
    assert!(ok, "{err}");
    for file in [&header_only, &zero_rows] {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (ok, out, err) = common::valdrix(&db, &["ingest", "--quiet", file.to_str().unwrap()]);
        assert!(ok, "{name}: {err}");
        assert!(err.contains(&format!("{name} holds no billing rows; nothing written")), "{name}: {err}");
        assert!(out.contains("empty: no billing rows"), "{name}: {out}");
        let (runs, records) = common::dump(&db);
        assert!(runs.is_empty() && records.is_empty(), "{name} was recorded as a delivery");
    }
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", "--allow-empty", header_only.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(common::dump(&db).0.len(), 1, "--allow-empty records the delivery");
}

/// Short rows are refused by default (a truncated row looks the same) and read padded with
/// --pad-short-rows, for exporters that leave trailing empty fields out (the OpenCost sample).
#[test]
fn short_rows_are_read_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let file = common::samples().join("azure-cost-details/opencost/values/Template.csv");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", file.to_str().unwrap()]);
    assert!(!ok, "short rows were accepted");
    assert!(err.contains("Template.csv") && err.contains("row 1") && err.contains("--pad-short-rows"), "{err}");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", "--pad-short-rows", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(!common::dump(&db).1.is_empty());
}

/// Text that once broke queries or spreadsheets: a tag key with a backslash and a quote groups
/// and filters like any other (it made SQLite's JSON path fail), and cells that a spreadsheet
/// would run as formulas are written neutralised in every CSV Valdrix writes, numbers kept.
#[test]
fn hostile_text_in_a_bill_is_kept_and_written_safely() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let file = dir.path().join("hostile.csv");
    let mut w = csv::Writer::from_path(&file).unwrap();
    w.write_record([
        "BillingAccountId",
        "BillingCurrency",
        "BillingPeriodStart",
        "ChargePeriodStart",
        "ServiceName",
        "BilledCost",
        "Tags",
    ])
    .unwrap();
    w.write_record([
        "123",
        "USD",
        "2024-09-01",
        "2024-09-02",
        "=HYPERLINK(\"http://x\",\"y\")",
        "-1.50",
        r#"{"we\\ird\"key": "@SUM(1+1)"}"#,
    ])
    .unwrap();
    w.write_record(["123", "USD", "2024-09-01", "2024-09-03", "Compute", "4.00", "{}"]).unwrap();
    w.flush().unwrap();
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", file.to_str().unwrap()]);
    assert!(ok, "{err}");

    let key = r#"tag:we\ird"key"#;
    let (ok, out, err) = common::valdrix(&db, &["costs", "-g", key, "--format", "csv"]);
    assert!(ok, "{err}");
    assert!(out.contains("'@SUM(1+1),USD,-1.5,"), "{out}");
    let filter = format!("{key}=@SUM(1+1)");
    let (ok, out, err) = common::valdrix(&db, &["costs", "--filter", &filter, "--format", "json"]);
    assert!(ok, "{err}");
    assert!(out.contains("-1.5"), "{out}");
    let (ok, out, err) = common::valdrix(&db, &["costs", "-g", "service", "--format", "csv"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",USD,-1.5,"), "{out}");
    assert!(out.contains("Compute,USD,4,"), "{out}");

    let export = dir.path().join("focus.csv");
    let (ok, _, err) = common::valdrix(&db, &["export", "focus", "--out", export.to_str().unwrap()]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(text.contains("'=HYPERLINK(") && !text.contains(",=HYPERLINK("), "{text}");
    assert!(text.contains(",-1.5") && !text.contains("'-1.5"), "amounts stay numbers: {text}");
}

/// A small legacy CUR in Parquet (Athena's snake_case), read by the columnar reader: the first
/// row is a good line; the second is `bad` applied to a good one.
fn cur_parquet(path: &std::path::Path, bad: &str) {
    use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
    use std::sync::Arc;
    let day = |d: &str| chrono::DateTime::parse_from_rfc3339(d).unwrap().timestamp_millis();
    let mut start = vec![day("2024-09-02T00:00:00Z"); 2];
    let mut end = vec![day("2024-09-02T01:00:00Z"); 2];
    let mut currency = vec!["USD"; 2];
    let mut usage_type = vec!["BoxUsage:m5.large"; 2];
    match bad {
        "year 9999" => {
            start[1] = day("9999-12-30T00:00:00Z");
            end[1] = day("9999-12-30T01:00:00Z");
        }
        "reversed" => start[1] = day("2024-09-05T00:00:00Z"),
        "currency" => currency[1] = "DOLLARS",
        "nul" => usage_type[1] = "Box\u{0}Usage",
        _ => {}
    }
    let utc = |v: Vec<i64>| Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC")) as ArrayRef;
    let text = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("bill_payer_account_id", text(vec!["111122223333"; 2])),
        ("bill_billing_period_start_date", utc(vec![day("2024-09-01T00:00:00Z"); 2])),
        ("line_item_line_item_type", text(vec!["Usage"; 2])),
        ("line_item_usage_start_date", utc(start)),
        ("line_item_usage_end_date", utc(end)),
        ("line_item_product_code", text(vec!["AmazonEC2"; 2])),
        ("line_item_usage_type", text(usage_type)),
        ("line_item_currency_code", text(currency)),
        ("line_item_unblended_cost", Arc::new(Float64Array::from(vec![1.5, 2.25])) as ArrayRef),
    ])
    .unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The columnar Parquet reader refuses what the row reader refuses, naming the source column.
#[test]
fn the_columnar_reader_refuses_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let good = dir.path().join("good.parquet");
    cur_parquet(&good, "");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", good.to_str().unwrap()]);
    assert!(ok, "{err}");
    let before = common::dump(&db);
    assert_eq!(before.1.len(), 1);
    let cases: [(&str, &[&str]); 4] = [
        (
            "year 9999",
            &["row 2", "\"line_item_usage_start_date\"", "9999-12-30", "outside the plausible billing dates"],
        ),
        ("reversed", &["row 2", "\"line_item_usage_end_date\"", "before it starts"]),
        ("currency", &["row 2", "\"line_item_currency_code\"", "\"DOLLARS\"", "ISO 4217"]),
        ("nul", &["row 2", "\"line_item_usage_type\"", "U+0000"]),
    ];
    for (bad, expected) in cases {
        let path = dir.path().join(format!("{}.parquet", bad.replace(' ', "-")));
        cur_parquet(&path, bad);
        assert_refused(&db, &path, expected, &before);
    }
}
