//! The columnar reader of AWS Parquet batches and the row reader produce the same records: same
//! grain, same attributes, same exact sums, in the same order.

mod common;

use std::path::Path;

use valdrix_core::CostRecord;
use valdrix_ingest::{read_file_with, ReadOptions, Rollup};

fn records(path: &Path, columnar: bool) -> (u64, Vec<CostRecord>) {
    let mut rollup = Rollup::new();
    let options = ReadOptions { columnar, ..ReadOptions::default() };
    let info = read_file_with(path, &path.display().to_string(), &options, &mut rollup, &mut |_| {})
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected = if columnar { info.rows } else { 0 };
    assert_eq!(info.columnar_rows, expected, "{}: rows read by the columnar reader", path.display());
    (info.rows, rollup.finish().unwrap())
}

fn assert_same(path: &Path) {
    let (rows_a, by_column) = records(path, true);
    let (rows_b, by_row) = records(path, false);
    assert_eq!(rows_a, rows_b);
    assert!(!by_row.is_empty(), "{}: no records", path.display());
    assert_eq!(by_column.len(), by_row.len(), "{}: record counts differ", path.display());
    for (a, b) in by_column.iter().zip(&by_row) {
        assert_eq!(a, b, "{}: records differ", path.display());
    }
}

#[test]
fn every_aws_parquet_sample_reads_the_same_both_ways() {
    let samples = common::samples();
    let files = [
        "aws-cur2-derived/parquet/cur2-derived-2018-10.snappy.parquet",
        "aws-cur-legacy-parquet/workshop-cur-2018/year=2018/month=10/Oct2018-WorkshopCUR-00001.snappy.parquet",
        "aws-cur-legacy-parquet/workshop-cur-2018/year=2018/month=11/Nov2018-WorkshopCUR-00001.snappy.parquet",
        "aws-cur-legacy-parquet/workshop-cur-2018/year=2018/month=12/Dec2018-WorkshopCUR-00001.snappy.parquet",
    ];
    for f in files {
        assert_same(&samples.join(f));
    }
}

#[test]
fn the_benchmark_input_reads_the_same_both_ways() {
    // Reservation fees (split into purchase and unused share), covered usage, tags in a map.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cur2.parquet");
    valdrix_bench::generate_cur2_with_row_groups(&p, 120_000, 11, 50_000).unwrap();
    assert_same(&p);
}
