#!/usr/bin/env python3
"""Independent oracle for billing totals.

Reads raw billing files with Python's csv, json and pyarrow modules and prints, per file, the
BilledCost and EffectiveCost totals per currency as exact decimals. It shares no code with
Valdrix: the rules below are the providers' published definitions (see
shared/reference/BILLING_FORMATS.md), written out again so that the Rust test compares two
independent computations.

Usage: billing_totals.py FILE... > totals.json
"""
import ast
import csv
import gzip
import io
import json
import re
import sys
from decimal import Decimal, getcontext

getcontext().prec = 60  # far beyond any billing file: sums are exact


def dec(text):
    if text is None:
        return None
    if isinstance(text, float):
        return Decimal(repr(text))
    if isinstance(text, int):
        return Decimal(text)
    t = str(text).strip()
    if t == "" or t.upper() == "NULL":
        return None
    return Decimal(t)


def rows_of(path):
    """Yields dict rows (header name -> raw value) from CSV, gzip CSV, Parquet or JSON lines."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PAR1":
        import pyarrow.parquet as pq

        # Only the columns the rules below read: the rest would only slow the oracle down.
        names = pq.ParquetFile(path).schema_arrow.names
        wanted = [n for n in names if athena(n) in AWS_COLUMNS or norm_key(n) in OTHER_COLUMNS]
        table = pq.read_table(path, columns=wanted)
        cols = table.column_names
        for batch in table.to_batches():
            data = batch.to_pydict()
            for i in range(batch.num_rows):
                row = {}
                for c in cols:
                    v = data[c][i]
                    if isinstance(v, list) and v and isinstance(v[0], tuple):
                        v = dict(v)  # map column
                    row[c] = v
                yield row
        return
    opener = gzip.open if head[:2] == b"\x1f\x8b" else open
    if path.endswith(".jsonl") or path.endswith(".jsonl.gz"):
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line, parse_float=Decimal)
        return
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            yield row


AWS_COLUMNS = {
    "line_item_line_item_type", "line_item_unblended_cost", "line_item_currency_code",
    "reservation_reservation_a_r_n", "reservation_effective_cost", "reservation_net_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_net_unused_amortized_upfront_fee_for_billing_period", "reservation_unused_recurring_fee",
    "reservation_net_unused_recurring_fee", "savings_plan_savings_plan_effective_cost",
    "savings_plan_net_savings_plan_effective_cost", "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
}
OTHER_COLUMNS = {"billedcost", "effectivecost", "amortizedcost", "billingcurrency", "billedcurrency", "cost",
                 "currency", "credits", "billing_account_id"}


def norm_key(k):
    k = k.strip()
    m = re.search(r"\(([^)]*)\)\s*$", k)
    if m and m.start() > 0:
        k = m.group(1)
    return k.strip().lower()


def getter(row):
    lower = {}
    for k, v in row.items():
        if k is None:
            continue
        lower.setdefault(norm_key(k), v)

    def get(*names):
        for n in names:
            v = lower.get(n.lower())
            if v is not None and not (isinstance(v, str) and v.strip() in ("", "NULL")):
                return v
        return None

    return get


def athena(name):
    out = []
    for part in name.split("/"):
        s = ""
        for i, ch in enumerate(part):
            if ch.isupper():
                if i > 0 and not s.endswith("_"):
                    s += "_"
                s += ch.lower()
            else:
                s += ch
        out.append(s)
    return "_".join(out)


def kind_of(first_row):
    keys = {norm_key(k) for k in first_row if k}
    akeys = {athena(k) for k in first_row if k}
    if "billedcost" in keys:
        return "focus"
    if "line_item_unblended_cost" in akeys:
        return "aws"
    if "billing_account_id" in keys and "cost" in keys:
        return "gcp"
    return "azure"


def aws(row):
    r = {athena(k): v for k, v in row.items() if k}
    g = lambda n: dec(r.get(n))
    z = lambda n: g(n) or Decimal(0)
    net = lambda a, b: g(a) if g(a) is not None else z(b)
    t = (r.get("line_item_line_item_type") or "Usage").strip()
    billed = z("line_item_unblended_cost")
    if t == "SavingsPlanCoveredUsage":
        eff = net("savings_plan_net_savings_plan_effective_cost", "savings_plan_savings_plan_effective_cost")
    elif t == "DiscountedUsage":
        eff = net("reservation_net_effective_cost", "reservation_effective_cost")
    elif t == "RIFee":
        eff = net("reservation_net_unused_amortized_upfront_fee_for_billing_period",
                  "reservation_unused_amortized_upfront_fee_for_billing_period") + net(
            "reservation_net_unused_recurring_fee", "reservation_unused_recurring_fee")
    elif t == "SavingsPlanRecurringFee":
        eff = z("savings_plan_total_commitment_to_date") - z("savings_plan_used_commitment")
    elif t in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        eff = Decimal(0)
    elif t == "Fee" and (r.get("reservation_reservation_a_r_n") or "").strip():
        eff = Decimal(0)
    else:
        eff = billed
    cur = (r.get("line_item_currency_code") or "").strip() or "USD"
    return [(cur, billed, eff)]


def azure(row):
    get = getter(row)
    cost = dec(get("CostInBillingCurrency", "Cost", "PreTaxCost")) or Decimal(0)
    cur = (get("BillingCurrency", "BillingCurrencyCode", "Currency") or "USD").strip()
    charge = (get("ChargeType") or "Usage").strip().lower()
    model = (get("PricingModel") or "").strip().lower()
    benefit = (get("benefitId", "ReservationId") or "").lower()
    commitment = model in ("reservation", "savingsplan") or "microsoft.capacity" in benefit or "microsoft.billingbenefits" in benefit
    unused = charge in ("unusedreservation", "unusedsavingsplan")
    covered = (charge == "usage" and commitment) or unused
    purchase = charge in ("purchase", "refund") and commitment
    return [(cur, Decimal(0) if covered else cost, Decimal(0) if purchase else cost)]


def gcp(row):
    get = getter(row)
    cost = dec(get("cost")) or Decimal(0)
    credits = row.get("credits")
    if isinstance(credits, str):
        credits = ast.literal_eval(credits) if credits.strip() else []
    total = cost + sum((dec(c.get("amount")) or Decimal(0)) for c in (credits or []))
    cur = (get("currency") or "USD").strip()
    return [(cur, total, total)]


def focus(row):
    get = getter(row)
    billed = dec(get("BilledCost")) or Decimal(0)
    eff = dec(get("EffectiveCost", "AmortizedCost"))
    cur = (get("BillingCurrency", "BilledCurrency") or "USD").strip()
    return [(cur, billed, billed if eff is None else eff)]


def totals(path):
    out = {}
    rule = None
    for row in rows_of(path):
        if rule is None:
            rule = {"aws": aws, "azure": azure, "gcp": gcp, "focus": focus}[kind_of(row)]
        for cur, billed, eff in rule(row):
            t = out.setdefault(cur, [Decimal(0), Decimal(0)])
            t[0] += billed
            t[1] += eff
    plain = lambda d: format(d.normalize(), "f") if d else "0"
    return {c: {"billed": plain(v[0]), "effective": plain(v[1])} for c, v in out.items()}


if __name__ == "__main__":
    json.dump({p: totals(p) for p in sys.argv[1:]}, sys.stdout, indent=1, sort_keys=True)
