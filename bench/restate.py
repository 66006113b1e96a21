#!/usr/bin/env python3
"""Times re-ingesting a billing period whose records are partly restated, against the first
ingest of the same period, for valdrix and for DuckDB doing the same work, in one run.

valdrix:  ingest --stream bench BASE (first), then ingest --stream bench RESTATED into the same
          store: compares record by record, writes the audit entries and alerts.
DuckDB:   the same daily rollup of BASE into a table (first), then the rollup of RESTATED, a full
          outer join of old and new records keeping those whose BilledCost or EffectiveCost
          moved (the audit), and the new table in place of the old.
Each measurement runs in its own process (peak memory is its own); the two tools alternate.
"""
import argparse, json, os, platform, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import GRAIN_SQL, run  # noqa: E402

KEY = ("bill_payer_account_id, line_item_usage_account_id, charge_day, billing_period, service, region, "
       "line_item_resource_id, line_item_usage_type, line_item_line_item_type, pricing_term, commitment, tags, "
       "line_item_currency_code")

DUCKDB_CHILD = r"""
import duckdb, sys
mode, file, threads, db, sql_file, key = sys.argv[1:7]
con = duckdb.connect(db)
con.execute(f"SET threads TO {threads}")
con.execute("SET preserve_insertion_order = false")
sql = open(sql_file).read().format(file=file)
keyed = f"SELECT hash({key}) AS k, billed_cost, effective_cost, * EXCLUDE (billed_cost, effective_cost) FROM ({sql})"
if mode == "first":
    con.execute(f"CREATE TABLE rollup AS {keyed}")
    print(con.execute("SELECT count(*) FROM rollup").fetchone()[0])
else:
    con.execute(f"CREATE TABLE fresh AS {keyed}")
    con.execute(
        "CREATE TABLE audit AS SELECT coalesce(o.k, n.k) AS k, o.billed_cost AS old_billed, n.billed_cost AS new_billed, "
        "o.effective_cost AS old_effective, n.effective_cost AS new_effective "
        "FROM rollup o FULL OUTER JOIN fresh n ON o.k = n.k "
        "WHERE o.billed_cost IS DISTINCT FROM n.billed_cost OR o.effective_cost IS DISTINCT FROM n.effective_cost")
    con.execute("DROP TABLE rollup")
    con.execute("ALTER TABLE fresh RENAME TO rollup")
    print(con.execute("SELECT count(*) FROM audit").fetchone()[0])
con.close()
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--restated", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--valdrix", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="valdrix-restate-")
    sql_file = os.path.join(work, "rollup.sql")
    open(sql_file, "w").write(GRAIN_SQL)
    child = os.path.join(work, "duckdb_child.py")
    open(child, "w").write(DUCKDB_CHILD)
    env = dict(os.environ, VALDRIX_THREADS=str(a.threads))

    def valdrix_pair():
        db = os.path.join(work, f"v-{time.time_ns()}.sqlite")
        cmd = [a.valdrix, "--database-url", db, "ingest", "--quiet", "--output", "json", "--stream", "bench"]
        first = run(cmd + [a.base], env)
        again = run(cmd + [a.restated], env)
        os.remove(db)
        return first, again

    def duck_pair():
        db = os.path.join(work, f"d-{time.time_ns()}.duckdb")
        args = lambda mode, f: [sys.executable, child, mode, f, str(a.threads), db, sql_file, KEY]
        first = run(args("first", a.base))
        again = run(args("restate", a.restated))
        os.remove(db)
        return first, again

    v, d = [], []
    for _ in range(a.repeat):
        v.append(valdrix_pair())
        d.append(duck_pair())
    best = lambda pairs, i: min((p[i] for p in pairs), key=lambda r: r[0])
    vf, va, df, da = best(v, 0), best(v, 1), best(d, 0), best(d, 1)
    first_run = json.loads(vf[2])[0]
    again_run = json.loads(va[2])[0]
    records = int(first_run["records"])
    restated = int(again_run["restated"])
    duck_changed = int(da[2].strip())

    print(f"\nInput: {a.base} and {a.restated}: {a.rows:,} rows each; {records:,} daily records, "
          f"{restated:,} restated ({100.0 * restated / max(records, 1):.2f} %); DuckDB found {duck_changed:,} changed groups")
    print(f"Machine: {os.cpu_count()} cores, {platform.platform()}; {a.threads} threads; best of {a.repeat}, "
          "the two tools alternating\n")
    print("| tool | first ingest s | re-ingest (restated) s | re-ingest / first | peak MiB (re-ingest) |")
    print("|---|---:|---:|---:|---:|")
    for name, f, g in (("valdrix (SQLite, audit + alerts)", vf, va), ("DuckDB (rollup + diff + replace)", df, da)):
        print(f"| {name} | {f[0]:.2f} | {g[0]:.2f} | {g[0] / f[0]:.2f} | {g[1]:,.0f} |")
    print(f"\n- valdrix re-ingest / first ingest: {va[0] / vf[0]:.2f} (target: at most 1.5)")
    print(f"- valdrix re-ingest / DuckDB re-ingest: {va[0] / da[0]:.2f}")
    json.dump({"rows": a.rows, "records": records, "restated": restated, "duckdb_changed": duck_changed,
               "valdrix": {"first_s": vf[0], "reingest_s": va[0], "reingest_peak_mib": va[1]},
               "duckdb": {"first_s": df[0], "reingest_s": da[0], "reingest_peak_mib": da[1]}},
              open(os.path.join(os.path.dirname(a.base), "restate-results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
