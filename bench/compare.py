#!/usr/bin/env python3
"""Times valdrix and DuckDB on the same CUR 2.0 Parquet file and reports rows/s, peak memory and
ratios. Each measurement runs in its own process so that peak memory (ru_maxrss) is its own.

Stages compared:
  parse+rollup  valdrix ingest --dry-run          vs  DuckDB GROUP BY into an in-memory table
  end-to-end    valdrix ingest into a new SQLite  vs  DuckDB GROUP BY into a new database file
DuckDB sums as DECIMAL(38,12), exact like valdrix, over the same grain and the same amortisation.
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time

GRAIN_SQL = """
SELECT bill_payer_account_id, line_item_usage_account_id,
       CAST(line_item_usage_start_date AS DATE) AS charge_day,
       CAST(bill_billing_period_start_date AS DATE) AS billing_period,
       coalesce(product['product_name'], line_item_product_code) AS service,
       coalesce(product_region_code, product['region']) AS region,
       line_item_resource_id, line_item_usage_type, line_item_line_item_type, pricing_term,
       coalesce(reservation_reservation_a_r_n, savings_plan_savings_plan_a_r_n) AS commitment,
       CAST(resource_tags AS VARCHAR) AS tags, line_item_currency_code,
       SUM(CAST(line_item_unblended_cost AS DECIMAL(38,12))) AS billed_cost,
       SUM(CAST(CASE line_item_line_item_type
             WHEN 'DiscountedUsage' THEN reservation_effective_cost
             WHEN 'SavingsPlanCoveredUsage' THEN savings_plan_savings_plan_effective_cost
             WHEN 'SavingsPlanNegation' THEN 0
             WHEN 'RIFee' THEN coalesce(reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                             + coalesce(reservation_unused_recurring_fee, 0)
             ELSE line_item_unblended_cost END AS DECIMAL(38,12))) AS effective_cost,
       SUM(CAST(pricing_public_on_demand_cost AS DECIMAL(38,12))) AS list_cost,
       SUM(CAST(line_item_usage_amount AS DECIMAL(38,12))) AS usage_amount,
       COUNT(*) AS line_count
FROM read_parquet('{file}')
GROUP BY ALL
"""

DUCKDB_CHILD = r"""
import duckdb, sys, time
mode, file, threads, db = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
con = duckdb.connect(db if mode == "ingest" else ":memory:")
con.execute(f"SET threads TO {threads}")
con.execute("SET preserve_insertion_order = false")
sql = open(sys.argv[5]).read().format(file=file)
con.execute(f"CREATE TABLE rollup AS {sql}")
groups = con.execute("SELECT count(*) FROM rollup").fetchone()[0]
con.close()
print(groups)
"""


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    out, err = p.stdout.read().decode(), p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0, out


def best_pair(n, ours, theirs):
    """Best of n runs of each tool, alternating them: this machine's speed drifts by 10-20 % over
    minutes, and alternating lets both tools see the same drift."""
    a, b = [], []
    for _ in range(n):
        a.append(ours())
        b.append(theirs())
    return min(a, key=lambda r: r[0]), min(b, key=lambda r: r[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--valdrix", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="valdrix-bench-")
    sql_file = os.path.join(work, "rollup.sql")
    open(sql_file, "w").write(GRAIN_SQL)
    child = os.path.join(work, "duckdb_child.py")
    open(child, "w").write(DUCKDB_CHILD)
    py = sys.executable
    results = {}

    def valdrix_dry(threads):
        env = dict(os.environ, VALDRIX_THREADS=str(threads))
        return lambda: run([a.valdrix, "ingest", "--dry-run", "--quiet", "--output", "json", a.file], env)

    def valdrix_ingest(threads):
        def go():
            db = os.path.join(work, f"v-{time.time_ns()}.sqlite")
            env = dict(os.environ, VALDRIX_THREADS=str(threads))
            return run([a.valdrix, "--database-url", db, "ingest", "--quiet", "--output", "json", a.file], env)
        return go

    def duck(mode, threads):
        def go():
            db = os.path.join(work, f"d-{time.time_ns()}.duckdb")
            return run([py, child, mode, a.file, str(threads), db, sql_file])
        return go

    plural = lambda t: f"{t} thread{'s' if t > 1 else ''}"
    for t in (1, 2):
        r, d = best_pair(a.repeat, valdrix_dry(t), duck("rollup", t))
        records = json.loads(r[2])[0]["records"]
        results[f"valdrix parse+rollup ({plural(t)})"] = r
        results[f"DuckDB parse+rollup ({plural(t)})"] = d
    for t in (1, 2):
        r, d = best_pair(a.repeat, valdrix_ingest(t), duck("ingest", t))
        results[f"valdrix ingest end-to-end ({plural(t)}, SQLite)"] = r
        results[f"DuckDB ingest end-to-end ({plural(t)}, DuckDB file)"] = d
    duck_groups = int(results["DuckDB parse+rollup (1 thread)"][2].strip())

    size = os.path.getsize(a.file)
    print(f"\nInput: {a.file}: {a.rows:,} rows, {size / 2**20:.0f} MiB; valdrix records {records}, DuckDB groups {duck_groups:,}")
    print(f"Machine: {os.cpu_count()} cores, {platform.platform()}; best of {a.repeat}, the two tools alternating\n")
    print("| stage | tool | wall s | rows/s | peak MiB |")
    print("|---|---|---:|---:|---:|")
    for name, (wall, rss, _) in results.items():
        print(f"| {name.split(' (')[0].split(' ', 1)[1]} | {name} | {wall:.2f} | {a.rows / wall:,.0f} | {rss:,.0f} |")
    ratios = {}
    for t in (1, 2):
        n = plural(t)
        ratios[f"parse+rollup at {n}: DuckDB time / valdrix time"] = (
            results[f"DuckDB parse+rollup ({n})"][0] / results[f"valdrix parse+rollup ({n})"][0])
        ratios[f"end-to-end at {n}: valdrix time / DuckDB time"] = (
            results[f"valdrix ingest end-to-end ({n}, SQLite)"][0] / results[f"DuckDB ingest end-to-end ({n}, DuckDB file)"][0])
    print()
    for k, v in ratios.items():
        print(f"- {k}: {v:.2f}")
    json.dump({"rows": a.rows, "file_bytes": size, "valdrix_records": records, "duckdb_groups": duck_groups,
               "results": {k: {"wall_s": w, "peak_mib": m} for k, (w, m, _) in results.items()}, "ratios": ratios},
              open(os.path.join(os.path.dirname(a.file), "results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
