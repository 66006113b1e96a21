#!/usr/bin/env python3
"""Allocation benchmark: one month of a large tenant (1.5 million daily records) split by 50
rules, by valdrix (valdrix-analytics' engine, through `alloc-bench run`) and by DuckDB running
the equivalent SQL, on the same Parquet file, in the same run.

The SQL is generated from the same rules.json: the direct phase as one CASE (overrides, then
owner rules by priority, each owner the first of its sources that has a value), the shared phase
as one CASE (the first shared rule by priority that matches an unowned record), pools per rule,
currency and month, and every split by exact largest remainders in integer micro-units
(HUGEINT), ties to the earlier target: what valdrix does. The run fails unless both give every
target the same direct and shared, billed and effective totals, to the last digit.

Both start from the records in memory (valdrix: a Vec of records; DuckDB: a table), and each
load is timed apart. DuckDB uses every core; valdrix's engine one.
"""
import argparse, json, os, platform, subprocess, sys, time
from decimal import Decimal

import duckdb

DIMS = {"service": "service", "sub_account": "sub_account", "region": "region", "resource": "resource",
        "usage_type": "usage_type", "charge_category": "charge_category"}
MICRO = 10 ** 6


def q(s):
    return "'" + str(s).replace("'", "''") + "'"


def listed(v):
    return v if isinstance(v, list) else [v]


def like(glob):
    out = ""
    for c in glob:
        out += {"*": "%", "?": "_"}.get(c, "\\" + c if c in "%_\\" else c)
    return f"{q(out)} ESCAPE '\\'"


def condition(m):
    parts = []
    for k, v in (m or {}).items():
        if k in DIMS:
            parts.append(f"{DIMS[k]} IN ({', '.join(q(x) for x in listed(v))})")
        elif k.endswith("_like") and k[:-5] in DIMS:
            parts.append(f"{DIMS[k[:-5]]} LIKE {like(v)}")
        elif k == "tags":
            for tk, tv in v.items():
                parts.append(f"tag_{tk} IS NOT NULL" if not tv else f"tag_{tk} IN ({', '.join(q(x) for x in listed(tv))})")
        elif k == "tag_missing":
            parts += [f"tag_{tk} IS NULL" for tk in listed(v)]
        elif k == "records":
            parts.append(f"id IN ({', '.join(q(x) for x in listed(v))})")
        else:
            raise SystemExit(f"the SQL translation has no condition {k!r}")
    return " AND ".join(f"({p})" for p in parts) or "TRUE"


def owner_expr(sources):
    exprs = []
    for s in sources:
        if isinstance(s, str) and s.startswith("tag:"):
            exprs.append(f"NULLIF(tag_{s[4:]}, '')")
        elif isinstance(s, str):
            exprs.append(f"NULLIF({DIMS[s]}, '')")
        else:
            whens = " ".join(f"WHEN {q(k)} THEN {q(v)}" for k, v in s["map"].items())
            exprs.append(f"CASE {DIMS[s['table']]} {whens} END")
    return exprs[0] if len(exprs) == 1 else f"COALESCE({', '.join(exprs)})"


def integer_weights(pairs):
    """(target, weight) pairs as whole numbers at the pairs' common scale, as valdrix splits."""
    ds = [Decimal(str(w)) for _, w in pairs]
    scale = max(max(-d.as_tuple().exponent, 0) for d in ds)
    return [(t, int(d.scaleb(scale))) for (t, _), d in zip(pairs, ds)]


def sql_for(rules):
    direct = [r for r in rules if "owner" in r or "override" in r]
    direct.sort(key=lambda r: ("override" not in r, r.get("priority", 100)))
    shared = sorted((r for r in rules if r not in direct), key=lambda r: r.get("priority", 100))
    owner_whens, rule_whens = [], []
    for r in direct:
        c = condition(r.get("match"))
        if "override" in r:
            owner_whens.append(f"WHEN {c} THEN {q(r['override'])}")
            rule_whens.append(f"WHEN {c} THEN {q(r['id'])}")
        else:
            o = owner_expr(r["owner"])
            owner_whens.append(f"WHEN {c} AND {o} IS NOT NULL THEN {o}")
            rule_whens.append(f"WHEN {c} AND {o} IS NOT NULL THEN {q(r['id'])}")
    shared_whens = [f"WHEN {condition(r.get('match'))} THEN {q(r['id'])}" for r in shared]
    static, by_direct, fixed = [], [], []
    for r in shared:
        if "percentages" in r:
            pairs = integer_weights(list(r["percentages"].items()))
        elif "usage" in r:
            pairs = integer_weights(list(r["usage"].items()))
        elif "even" in r:
            pairs = [(t, 1) for t in r["even"]]
        elif "proportional_to_direct" in r:
            by_direct += [(r["id"], i, t) for i, t in enumerate(r["proportional_to_direct"])]
            continue
        elif "fixed" in r:
            items = list(r["fixed"].items())
            fixed += [(r["id"], i, t, Decimal(str(a)), False) for i, (t, a) in enumerate(items)]
            fixed.append((r["id"], len(items), r["remainder"], Decimal(0), True))
            continue
        else:
            raise SystemExit(f"the SQL translation has no method for rule {r['id']}")
        static += [(r["id"], i, t, w) for i, (t, w) in enumerate(pairs)]
    values = lambda rows, f: ", ".join(f(x) for x in rows) or None
    static_v = values(static, lambda x: f"({q(x[0])}, {x[1]}, {q(x[2])}, CAST({x[3]} AS HUGEINT))")
    direct_v = values(by_direct, lambda x: f"({q(x[0])}, {x[1]}, {q(x[2])})")
    fixed_v = values(fixed, lambda x: f"({q(x[0])}, {x[1]}, {q(x[2])}, CAST({x[3]} AS DECIMAL(18,6)), {str(x[4]).upper()})")
    empty = lambda cols: f"SELECT {cols} WHERE FALSE"
    pool = "PARTITION BY srule, currency, period"

    def largest_remainder(col):
        return f"""
lr_{col}_a AS (SELECT srule, currency, period, idx, target, w, sum(w) OVER ({pool}) AS total_w,
                      CAST(abs({col}) * {MICRO} AS HUGEINT) AS u, sign({col}) AS sg FROM weighted),
lr_{col}_b AS (SELECT *, (u * w) // total_w AS base, (u * w) % total_w AS rem FROM lr_{col}_a WHERE total_w > 0),
lr_{col} AS (SELECT target, currency, sg * (base + CASE WHEN row_number() OVER ({pool} ORDER BY rem DESC, idx)
                    <= u - sum(base) OVER ({pool}) THEN 1 ELSE 0 END) AS units FROM lr_{col}_b)"""

    def fixed_parts(col):
        return f"""
fx_{col}_a AS (SELECT p.srule, p.currency, p.period, f.idx, f.target, f.is_rest, p.{col} AS pool,
                      CASE WHEN f.is_rest OR p.{col} < 0 THEN 0
                           ELSE least(f.amount, greatest(p.{col} - coalesce(sum(f.amount) OVER (
                                PARTITION BY p.srule, p.currency, p.period ORDER BY f.idx
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0)) END AS part
               FROM pools p JOIN fixed f ON f.rule = p.srule),
fx_{col} AS (SELECT target, currency, CASE WHEN is_rest THEN pool - sum(part) OVER ({pool}) ELSE part END AS amount
             FROM fx_{col}_a)"""

    return f"""
WITH t AS (
  SELECT currency, period, billed, effective,
         CASE {' '.join(owner_whens)} END AS owner,
         CASE {' '.join(shared_whens)} END AS srule
  FROM records),
direct AS (SELECT owner AS target, currency, period, sum(billed) AS b, sum(effective) AS e
           FROM t WHERE owner IS NOT NULL GROUP BY ALL),
pools AS (SELECT srule, currency, period, sum(billed) AS b, sum(effective) AS e
          FROM t WHERE owner IS NULL AND srule IS NOT NULL GROUP BY ALL),
bucket AS (SELECT currency, sum(billed) AS b, sum(effective) AS e FROM t WHERE owner IS NULL AND srule IS NULL GROUP BY ALL),
static_w(rule, idx, target, w) AS ({f"VALUES {static_v}" if static_v else empty("'' AS rule, 0 AS idx, '' AS target, CAST(0 AS HUGEINT) AS w")}),
direct_t(rule, idx, target) AS ({f"VALUES {direct_v}" if direct_v else empty("'' AS rule, 0 AS idx, '' AS target")}),
fixed(rule, idx, target, amount, is_rest) AS ({f"VALUES {fixed_v}" if fixed_v else empty("'' AS rule, 0 AS idx, '' AS target, CAST(0 AS DECIMAL(18,6)) AS amount, FALSE AS is_rest")}),
weighted AS (
  SELECT p.srule, p.currency, p.period, p.b, p.e, s.idx, s.target, s.w FROM pools p JOIN static_w s ON s.rule = p.srule
  UNION ALL
  SELECT p.srule, p.currency, p.period, p.b, p.e, d.idx, d.target,
         CAST(greatest(coalesce(x.e, 0), 0) * {MICRO} AS HUGEINT)
  FROM pools p JOIN direct_t d ON d.rule = p.srule
  LEFT JOIN (SELECT target, currency, period, sum(e) AS e FROM direct GROUP BY ALL) x
         ON x.target = d.target AND x.currency = p.currency AND x.period = p.period),
{largest_remainder('b')},
{largest_remainder('e')},
{fixed_parts('b')},
{fixed_parts('e')},
parts AS (
  SELECT target, currency, CAST(b * {MICRO} AS HUGEINT) AS db, CAST(e * {MICRO} AS HUGEINT) AS de,
         CAST(0 AS HUGEINT) AS sb, CAST(0 AS HUGEINT) AS se FROM direct
  UNION ALL SELECT 'Unallocated', currency, CAST(b * {MICRO} AS HUGEINT), CAST(e * {MICRO} AS HUGEINT), 0, 0 FROM bucket
  UNION ALL SELECT target, currency, 0, 0, units, 0 FROM lr_b
  UNION ALL SELECT target, currency, 0, 0, 0, units FROM lr_e
  UNION ALL SELECT target, currency, 0, 0, CAST(amount * {MICRO} AS HUGEINT), 0 FROM fx_b
  UNION ALL SELECT target, currency, 0, 0, 0, CAST(amount * {MICRO} AS HUGEINT) FROM fx_e)
SELECT target, currency, sum(db), sum(de), sum(sb), sum(se) FROM parts GROUP BY ALL ORDER BY ALL
"""


def micros(text):
    return int(Decimal(text) * MICRO)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--bench-bin", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    rules = json.load(open(os.path.join(args.dir, "rules.json")))["rules"]
    sql = sql_for(rules)
    with open(os.path.join(args.dir, "allocate.sql"), "w") as f:
        f.write(sql)

    runs = {"valdrix": [], "duckdb": []}
    loads = {"valdrix": [], "duckdb": []}
    answers = {}
    for _ in range(args.repeat):
        # valdrix: its own process, best of one allocation per round.
        out = subprocess.run([args.bench_bin, "run", args.dir, "1"], check=True, capture_output=True, text=True)
        v = json.loads(out.stdout)
        if v["unsplit"]:
            raise SystemExit(f"valdrix left pools unsplit: {v['unsplit']}")
        runs["valdrix"].append(v["allocate_seconds"])
        loads["valdrix"].append(v["load_seconds"])
        answers["valdrix"] = {(t["target"], t["currency"]): (micros(t["direct_billed"]), micros(t["direct_effective"]),
                                                             micros(t["shared_billed"]), micros(t["shared_effective"]))
                              for t in v["totals"]}
        records = v["records"]
        # DuckDB: in memory, the same file loaded into a table, then the SQL.
        con = duckdb.connect()
        con.execute(f"SET threads TO {args.threads}")
        t0 = time.perf_counter()
        con.execute(f"CREATE TABLE records AS SELECT * FROM read_parquet({q(os.path.join(args.dir, 'records.parquet'))})")
        loads["duckdb"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rows = con.execute(sql).fetchall()
        runs["duckdb"].append(time.perf_counter() - t0)
        answers["duckdb"] = {(r[0], r[1]): tuple(int(x) for x in r[2:]) for r in rows}
        con.close()

    if answers["valdrix"] != answers["duckdb"]:
        for k in sorted(set(answers["valdrix"]) | set(answers["duckdb"])):
            a, b = answers["valdrix"].get(k), answers["duckdb"].get(k)
            if a != b:
                print(f"  {k}: valdrix {a} duckdb {b}", file=sys.stderr)
        raise SystemExit("valdrix and DuckDB disagree (micro-units above)")

    best = {k: min(v) for k, v in runs.items()}
    result = {
        "records": records, "rules": len(rules), "targets": len(answers["valdrix"]), "repeat": args.repeat,
        "duckdb_version": duckdb.__version__, "duckdb_threads": args.threads, "machine": platform.machine(),
        "cpus": os.cpu_count(), "allocate_seconds": best, "allocate_all": runs,
        "load_seconds": {k: min(v) for k, v in loads.items()},
        "ratio_duckdb_over_valdrix": best["duckdb"] / best["valdrix"], "identical_totals": True,
    }
    os.makedirs("bench/out", exist_ok=True)
    with open("bench/out/allocate-results.json", "w") as f:
        json.dump(result, f, indent=2)
    print(f"| step | valdrix (s) | DuckDB {duckdb.__version__}, {args.threads} threads (s) |")
    print("|---|---:|---:|")
    print(f"| allocate {records:,} records by {len(rules)} rules (best of {args.repeat}) | "
          f"**{best['valdrix']:.2f}** | {best['duckdb']:.2f} |")
    print(f"| load the Parquet file into memory (best) | {result['load_seconds']['valdrix']:.2f} | "
          f"{result['load_seconds']['duckdb']:.2f} |")
    print(f"\nDuckDB / valdrix, allocation: {result['ratio_duckdb_over_valdrix']:.2f}x; "
          f"per-target totals identical to the micro-unit ({len(answers['valdrix'])} targets).")


if __name__ == "__main__":
    main()
