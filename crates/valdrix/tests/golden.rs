//! The demo's command-line answers, byte for byte: cost tables by service, by day and by month
//! (for people, as CSV and as JSON), the allocation of October, the audit of every delivery, the
//! restatement alerts, the forecast, the anomalies and the zombie rules. The files under
//! `tests/golden/` are what these commands printed before the application layer was moved out of
//! the command line; a refactoring must leave them as they are.
//!
//! Only what changes from run to run is masked: the demo's temporary folder, the instants at
//! which the runs were made (they are printed as `YYYY-MM-DD HH:MM:SS` or RFC 3339), and the
//! width of table columns that hold the folder.
//! `VALDRIX_BLESS=1 cargo test --test golden` writes the files anew, for a change of output that
//! is meant.

mod common;

use common::valdrix;
use std::path::Path;

/// Each golden file and the arguments that print it.
const CASES: &[(&str, &[&str])] = &[
    ("costs-by-service", &["costs", "--group-by", "service"]),
    ("costs-by-day", &["costs", "--group-by", "day", "--from", "2026-10-20", "--to", "2026-11-25"]),
    ("costs-by-provider-service-csv", &["costs", "--group-by", "provider,service", "--format", "csv"]),
    ("costs-by-month-json", &["costs", "--group-by", "month", "--metric", "effective", "--format", "json"]),
    (
        "costs-untagged-by-sub-account",
        &["costs", "--group-by", "sub-account", "--filter", "tag:team=", "--limit", "10"],
    ),
    ("allocate-month", &["allocate", "--month", "2026-10"]),
    ("allocate-month-csv", &["allocate", "--month", "2026-10", "--format", "csv"]),
    ("audit", &["audit"]),
    ("alerts", &["alerts"]),
    ("period-list", &["period", "list"]),
    ("forecast", &["forecast"]),
    ("forecast-months", &["forecast", "--months", "3"]),
    ("anomalies", &["anomalies", "--from", "2026-06-01", "--by", "service"]),
    ("zombies-rules", &["zombies", "rules"]),
];

/// Masks what differs between two runs of the same demo: the folder, and the instants runs were
/// made at (a date followed by a time of day; a date alone is the bill's and is kept).
fn mask(text: &str, dir: &Path) -> String {
    let out = text.replace(&dir.display().to_string(), "<dir>");
    // `YYYY-MM-DD HH:MM:SS` or RFC 3339 (with fractions and a zone).
    let bytes = out.clone().into_bytes();
    let mut masked = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let date_then_time = i + 19 <= bytes.len()
            && bytes[i..i + 4].iter().all(u8::is_ascii_digit)
            && bytes[i + 4] == b'-'
            && bytes[i + 7] == b'-'
            && (bytes[i + 10] == b' ' || bytes[i + 10] == b'T')
            && bytes[i + 13] == b':'
            && bytes[i + 16] == b':';
        if date_then_time {
            masked.push_str("<timestamp>");
            i += 19;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || matches!(bytes[i], b'.' | b'Z' | b'+' | b':')) {
                i += 1;
            }
        } else {
            let c = out[i..].chars().next().unwrap_or(' ');
            masked.push(c);
            i += c.len_utf8();
        }
    }
    // Column widths follow the longest cell, so the folder's length would move every table
    // border: runs of padding and of border lines count as one.
    let mut squeezed = String::with_capacity(masked.len());
    for c in masked.chars() {
        if matches!(c, ' ' | '─' | '═') && squeezed.ends_with(c) {
            continue;
        }
        squeezed.push(c);
    }
    squeezed
}

#[test]
fn the_demo_answers_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("valdrix-demo.sqlite");
    let (ok, _, err) = valdrix(&db, &["demo", "--no-serve", "--dir", dir.path().to_str().unwrap()]);
    assert!(ok, "{err}");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("VALDRIX_BLESS").is_some();
    let mut differ = Vec::new();
    for (name, args) in CASES {
        let (ok, out, err) = valdrix(&db, args);
        assert!(ok, "valdrix {}: {err}", args.join(" "));
        let got = mask(&out, dir.path());
        let file = golden.join(format!("{name}.txt"));
        if bless {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if got != want {
            let line = got.lines().zip(want.lines()).position(|(g, w)| g != w).unwrap_or(0);
            differ.push(format!(
                "valdrix {} differs from {} at line {}:\n  now:    {}\n  before: {}",
                args.join(" "),
                file.display(),
                line + 1,
                got.lines().nth(line).unwrap_or("<end>"),
                want.lines().nth(line).unwrap_or("<end>")
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn masking_keeps_dates_and_hides_times() {
    let dir = Path::new("/tmp/x");
    assert_eq!(
        mask("run 3 at 2026-12-07 13:49:05 from /tmp/x/exports, day 2026-11-20", dir),
        "run 3 at <timestamp> from <dir>/exports, day 2026-11-20"
    );
    assert_eq!(mask("2026-12-07T13:49:05.123+00:00 ok", dir), "<timestamp> ok");
    assert_eq!(mask("│ a    ┆ b │\n╞════╪═══╡", dir), "│ a ┆ b │\n╞═╪═╡");
}
