//! `gen-cur2 OUT.parquet [ROWS] [SEED] [RESTATED_PER_MILLE] [YYYY-MM]`: writes a CUR 2.0 Parquet
//! file (10 million rows by default, for October 2018 unless a month is given); with
//! RESTATED_PER_MILLE, the same file as a later delivery that restates that many in 1000 of its
//! daily records (3 % dearer).

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: gen-cur2 OUT.parquet [ROWS] [SEED] [RESTATED_PER_MILLE] [YYYY-MM]"))?;
    let rows: u64 = args.next().map(|s| s.replace('_', "").parse()).transpose()?.unwrap_or(10_000_000);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let per_mille: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let month = match args.next() {
        None => valdrix_bench::BillMonth::new(2018, 10),
        Some(m) => {
            let (y, mo) = m.split_once('-').ok_or_else(|| anyhow::anyhow!("month {m:?}: YYYY-MM"))?;
            valdrix_bench::BillMonth::new(y.parse()?, mo.parse()?)
        }
    };
    let t0 = std::time::Instant::now();
    let n = valdrix_bench::generate_cur2_month(std::path::Path::new(&out), rows, seed, 1 << 20, per_mille, &month)?;
    eprintln!("wrote {n} rows to {out} in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
