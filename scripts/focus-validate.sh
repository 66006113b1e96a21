#!/usr/bin/env bash
# Validates FOCUS files with focus-validator 2.2.1 (FOCUS 1.2 rules) and fails unless every rule
# that ran passed. The validator exits 0 even when rules fail, so its JUnit report is read instead.
# A failed rule that is only one alternative of an OR composite that passed is listed, not counted.
# Usage: scripts/focus-validate.sh FILE.csv|FILE.parquet...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup-test-tools.sh" >/dev/null
validator="$root/.tools/validator/bin/focus-validator"
vpy="$root/.tools/validator/bin/python"
status=0
for f in "$@"; do
  file=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
  work=$(mktemp -d)
  # The validator reads focus_validator/rules/currency_codes.csv relative to the working directory.
  mkdir -p "$work/focus_validator/rules"
  ln -s "$("$vpy" -c 'import focus_validator, os; print(os.path.dirname(focus_validator.__file__))')/rules/currency_codes.csv" \
    "$work/focus_validator/rules/currency_codes.csv"
  (cd "$work" && "$validator" --data-file "$file" --block-download --output-type unittest --output-destination report.xml >validator.out 2>&1) || {
    echo "focus-validate: $f: the validator itself failed:" >&2; tail -20 "$work/validator.out" >&2; status=1; rm -rf "$work"; continue; }
  if ! "$vpy" - "$work/report.xml" "$f" <<'PY'
import glob, json, os, sys, xml.etree.ElementTree as ET
import focus_validator
report, name = sys.argv[1], sys.argv[2]
cases = list(ET.parse(report).getroot().iter("testcase"))
rule = lambda c: (c.get("name") or "").split(" ::")[0].strip()
status = {}
for c in cases:
    if c.find("failure") is not None or c.find("error") is not None:
        status[rule(c)] = "failed"
    elif c.find("skipped") is not None:
        status[rule(c)] = "skipped"
    else:
        status[rule(c)] = "passed"
# The rule model says which composites are ORs of alternative rules. A leaf that failed is only an
# alternative not taken when every composite that lists it is an OR that passed (in 1.2.0.1:
# InvoiceId-C-004-C "MUST be null" and -C-005-C "MUST NOT be null", with no condition, under the
# OR InvoiceId-C-003-C: one of the two fails for any dataset that has rows).
model_file = glob.glob(os.path.join(os.path.dirname(focus_validator.__file__), "rules", "model-*.json"))[0]
model = json.load(open(model_file))
parents = {}
def walk(o):
    if isinstance(o, dict):
        for rid, r in o.items():
            if isinstance(r, dict) and r.get("Function") == "Composite":
                req = r.get("ValidationCriteria", {}).get("Requirement", {})
                for item in req.get("Items", []):
                    if item.get("CheckFunction") == "CheckModelRule":
                        parents.setdefault(item["ModelRuleId"], []).append((rid, req.get("CheckFunction")))
            walk(r)
    elif isinstance(o, list):
        for x in o:
            walk(x)
walk(model)
failed, excused = [], []
for rid, st in status.items():
    if st != "failed":
        continue
    ps = parents.get(rid, [])
    if ps and all(kind == "OR" and status.get(p) == "passed" for p, kind in ps):
        excused.append((rid, [p for p, _ in ps]))
    else:
        failed.append(rid)
passed = sum(1 for s in status.values() if s == "passed")
skipped = sum(1 for s in status.values() if s == "skipped")
print(f"{name}: {len(status)} rules, {passed} passed, {len(failed)} failed, {skipped} skipped")
for rid, ps in excused:
    print(f"  alternative not taken: {rid} (its OR composite {', '.join(ps)} passed)")
for rid in failed:
    print(f"  FAILED {rid}")
if passed == 0:
    print("  no rule ran: the report is empty")
    sys.exit(1)
sys.exit(1 if failed else 0)
PY
  then status=1; fi
  rm -rf "$work"
done
exit $status
