//! `gen-cur2 OUT.parquet [ROWS] [SEED]`: writes a CUR 2.0 Parquet file (10 million rows by default).

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or_else(|| anyhow::anyhow!("usage: gen-cur2 OUT.parquet [ROWS] [SEED]"))?;
    let rows: u64 = args.next().map(|s| s.replace('_', "").parse()).transpose()?.unwrap_or(10_000_000);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let t0 = std::time::Instant::now();
    let n = valdrix_bench::generate_cur2(std::path::Path::new(&out), rows, seed)?;
    eprintln!("wrote {n} rows to {out} in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
