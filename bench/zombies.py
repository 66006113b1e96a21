"""Zombie scan benchmark: valdrix against Cloud Custodian (c7n) on the same moto account, in one run.

Builds a fake AWS account in a moto server it starts (4 regions, RESOURCES resources in all:
instances running idle, running busy and stopped, their root volumes, unattached volumes, snapshots
orphaned or behind an AMI, Elastic IPs associated or not, with hourly CPU data for the running
instances), then times each tool scanning it with equivalent policies:

  rule (valdrix)              c7n policy
  aws.ebs.unattached          ebs, State = available, no VolumeReadOps or VolumeWriteOps in 7 days
  aws.ebs.snapshot-orphaned   ebs-snapshot (own), unused (no AMI, launch template or configuration)
  aws.ec2.eip-unassociated    network-addr, AssociationId empty
  aws.ec2.idle                ec2 running, CPUUtilization average below 2 over 14 days
  aws.ec2.stopped             ec2 stopped, no CPUUtilization in 30 days

Both valdrix rules with a metric confirmation (no I/O on an unattached volume, no CPU on a stopped
instance) get the same metrics filters in c7n, so that both tools decide on the same evidence.
c7n is also timed once without those two filters (`c7n, attributes only`), for reference.

moto stamps resources with the real clock, so age thresholds are set to 0 on both sides
(valdrix's policy file; no age filter in c7n): the comparison is of the work, not of the clock.

moto answers GetMetricData in time proportional to (periods asked) x (points stored in the
region) for every query, so hourly CPU data for 14 days made one scan take more than 14 minutes
of moto's time. The account therefore stores one CPU point per instance per day, and valdrix's
policy reads daily periods (one point a day is then enough data); c7n's metrics filter reads one
period over the whole window, as it always does. Real CloudWatch has no such cost.
Each tool runs REPEAT times, alternating; the best time of each is reported, with the ratio, and
the findings of the two are compared rule by rule (they must be the same sets of ids).

Usage: zombies.py --valdrix BIN --custodian BIN [--resources 5000] [--repeat 3] [--out DIR]
"""

import argparse
import datetime as dt
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
RULES = {
    "aws.ebs.unattached": "ebs-unattached",
    "aws.ebs.snapshot-orphaned": "snapshot-orphaned",
    "aws.ec2.eip-unassociated": "eip-unassociated",
    "aws.ec2.idle": "ec2-idle",
    "aws.ec2.stopped": "ec2-stopped",
}

VALDRIX_POLICY = """
[rules."aws.ebs.unattached"]
min_age_days = 0
[rules."aws.ebs.snapshot-orphaned"]
min_age_days = 0
[rules."aws.ec2.idle"]
min_age_days = 0
period_secs = 86400
min_points_per_day = 1
[rules."aws.ec2.stopped"]
min_age_days = 0
"""

C7N_POLICIES = """
policies:
  - name: ebs-unattached
    resource: ebs
    filters:
      - State: available
      - type: metrics
        namespace: AWS/EBS
        name: VolumeReadOps
        statistics: Sum
        days: 7
        value: 0
        op: eq
        missing-value: 0
      - type: metrics
        namespace: AWS/EBS
        name: VolumeWriteOps
        statistics: Sum
        days: 7
        value: 0
        op: eq
        missing-value: 0
  - name: snapshot-orphaned
    resource: ebs-snapshot
    filters:
      - type: unused
        value: true
  - name: eip-unassociated
    resource: network-addr
    filters:
      - type: value
        key: AssociationId
        value: empty
  - name: ec2-idle
    resource: ec2
    filters:
      - "State.Name": running
      - type: metrics
        name: CPUUtilization
        days: 14
        value: 2
        op: less-than
  - name: ec2-stopped
    resource: ec2
    filters:
      - "State.Name": stopped
      - type: metrics
        name: CPUUtilization
        statistics: Maximum
        days: 30
        value: 0
        op: eq
        missing-value: 0
"""

def attributes_only(policies):
    """The c7n policies without the metrics filters of ebs-unattached and ec2-stopped."""
    out, skip = [], False
    policy = None
    for line in policies.splitlines():
        if line.startswith("  - name: "):
            policy = line.split(": ", 1)[1]
        if line.startswith("      - type: metrics") and policy in ("ebs-unattached", "ec2-stopped"):
            skip = True
            continue
        if skip and line.startswith("        "):
            continue
        skip = False
        out.append(line)
    return "\n".join(out) + "\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(service, region, endpoint):
    cfg = Config(disable_request_compression=True, retries={"max_attempts": 3})
    return boto3.client(service, region_name=region, endpoint_url=endpoint, config=cfg)


def populate(endpoint, per_region):
    """Builds one region's share of the account; returns the number of resources made."""
    # The mix of one region (about 1,250 resources for 5,000 in all): instances with their root
    # volumes, unattached volumes, snapshots, addresses.
    unit = per_region / 1250
    n_idle, n_busy, n_stopped = int(50 * unit), int(50 * unit), int(50 * unit)
    n_loose_volumes, n_snapshots, n_eips, n_eips_used = int(450 * unit), int(400 * unit), int(100 * unit), int(30 * unit)
    made = 0
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    for region in REGIONS:
        ec2 = client("ec2", region, endpoint)
        cw = client("cloudwatch", region, endpoint)
        az = region + "a"
        base = ec2.create_volume(AvailabilityZone=az, Size=8, VolumeType="gp3")["VolumeId"]
        snap = ec2.create_snapshot(VolumeId=base)["SnapshotId"]
        ami = ec2.register_image(
            Name="base",
            RootDeviceName="/dev/sda1",
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap}}],
        )["ImageId"]
        ec2.delete_snapshot(SnapshotId=snap)
        ec2.delete_volume(VolumeId=base)
        made += 2  # the image and the snapshot behind it

        def run(count, itype="t3.micro"):
            ids = []
            while count > 0:
                n = min(count, 50)
                r = ec2.run_instances(
                    ImageId=ami,
                    MinCount=n,
                    MaxCount=n,
                    InstanceType=itype,
                    BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
                )
                ids += [i["InstanceId"] for i in r["Instances"]]
                count -= n
            return ids

        idle, busy, stopped = run(n_idle), run(n_busy), run(n_stopped)
        ec2.stop_instances(InstanceIds=stopped)
        made += 2 * (n_idle + n_busy + n_stopped)  # instances and their root volumes
        data = []
        for iid, value in [(i, 0.5) for i in idle] + [(i, 40.0) for i in busy]:
            for back in range(1, 15):
                data.append(
                    {
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "InstanceId", "Value": iid}],
                        "Timestamp": today - dt.timedelta(days=back) + dt.timedelta(hours=12),
                        "Value": value,
                    }
                )
        for i in range(0, len(data), 1000):
            cw.put_metric_data(Namespace="AWS/EC2", MetricData=data[i : i + 1000])
        loose = [ec2.create_volume(AvailabilityZone=az, Size=20, VolumeType="gp3")["VolumeId"] for _ in range(n_loose_volumes)]
        made += len(loose)
        for i in range(n_snapshots):
            ec2.create_snapshot(VolumeId=loose[i % len(loose)])
        made += n_snapshots
        for i in range(n_eips):
            alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
            if i < n_eips_used:
                ec2.associate_address(AllocationId=alloc, InstanceId=busy[i % len(busy)])
        made += n_eips
    return made


def timed(cmd, env):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return elapsed, out.stdout


def valdrix_findings(report):
    found = {rule: set() for rule in RULES}
    for f in report["findings"]:
        if f["rule"] in found:
            found[f["rule"]].add(f["resource_id"])
    bad = [r for r in report["regions"] + report["rules"] if r["status"] != "ok"]
    if bad:
        sys.exit(f"valdrix scan incomplete: {bad}")
    return found


def c7n_findings(out_dir):
    ids = {
        "ebs-unattached": "VolumeId",
        "snapshot-orphaned": "SnapshotId",
        "eip-unassociated": "AllocationId",
        "ec2-idle": "InstanceId",
        "ec2-stopped": "InstanceId",
    }
    found = {rule: set() for rule in RULES}
    for rule, policy in RULES.items():
        for path in glob.glob(os.path.join(out_dir, "**", policy, "resources.json"), recursive=True):
            with open(path) as f:
                found[rule].update(r[ids[policy]] for r in json.load(f))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--valdrix", required=True)
    ap.add_argument("--custodian", required=True)
    ap.add_argument("--moto", required=True, help="moto_server")
    ap.add_argument("--resources", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="bench/out")
    a = ap.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    )
    os.environ.update(env)
    server = subprocess.Popen(
        [a.moto, "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        t0 = time.perf_counter()
        made = populate(endpoint, a.resources / len(REGIONS))
        print(f"account: {made} resources in {len(REGIONS)} regions, built in {time.perf_counter() - t0:.0f} s", flush=True)

        work = tempfile.mkdtemp(prefix="valdrix-zombie-bench-")
        policy = os.path.join(work, "policy.toml")
        with open(policy, "w") as f:
            f.write(VALDRIX_POLICY)
        c7n_policy = os.path.join(work, "policies.yml")
        with open(c7n_policy, "w") as f:
            f.write(C7N_POLICIES)
        c7n_light = os.path.join(work, "attributes-only.yml")
        with open(c7n_light, "w") as f:
            f.write(attributes_only(C7N_POLICIES))
        valdrix_cmd = [a.valdrix, "--database-url", os.path.join(work, "v.sqlite"), "zombies", "scan", "--policy", policy]
        valdrix_cmd += [x for r in REGIONS for x in ("--region", r)]
        valdrix_cmd += [x for r in RULES for x in ("--rule", r)]
        # moto answers GetMetricData far slower than CloudWatch (it scans every stored point
        # for every period of every query): the default per-rule bound of 60 s may be short.
        valdrix_cmd += ["--rule-timeout", "900", "--timeout", "1800", "--format", "json", "--no-record"]

        times = {"valdrix": [], "c7n": []}
        found = {}
        for i in range(a.repeat):
            elapsed, out = timed(valdrix_cmd, env)
            times["valdrix"].append(elapsed)
            found["valdrix"] = valdrix_findings(json.loads(out))
            c7n_out = os.path.join(work, f"c7n-{i}")
            cmd = [a.custodian, "run", "--cache-period", "0", "-s", c7n_out, c7n_policy]
            cmd += [x for r in REGIONS for x in ("--region", r)]
            elapsed, _ = timed(cmd, env)
            times["c7n"].append(elapsed)
            found["c7n"] = c7n_findings(c7n_out)
            print(f"run {i + 1}: valdrix {times['valdrix'][-1]:.2f} s, c7n {times['c7n'][-1]:.2f} s", flush=True)
        light_out = os.path.join(work, "c7n-light")
        cmd = [a.custodian, "run", "--cache-period", "0", "-s", light_out, c7n_light]
        cmd += [x for r in REGIONS for x in ("--region", r)]
        light_seconds, _ = timed(cmd, env)
        light_same = c7n_findings(light_out) == found["c7n"]
        print(f"c7n without the two metric confirmations: {light_seconds:.2f} s (same findings: {light_same})")
        shutil.rmtree(work, ignore_errors=True)
    finally:
        server.terminate()
        server.wait()

    same = all(found["valdrix"][r] == found["c7n"][r] for r in RULES)
    best = {k: min(v) for k, v in times.items()}
    result = {
        "resources": made,
        "regions": REGIONS,
        "runs": a.repeat,
        "seconds": times,
        "best": best,
        "ratio": best["c7n"] / best["valdrix"],
        "findings": {r: {"valdrix": len(found["valdrix"][r]), "c7n": len(found["c7n"][r])} for r in RULES},
        "same_findings": same,
        "c7n_attributes_only": {"seconds": light_seconds, "same_findings": light_same},
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "zombies.json"), "w") as f:
        json.dump(result, f, indent=2)
    print()
    print("| rule | valdrix findings | c7n findings | same ids |")
    print("|---|---:|---:|---|")
    for r in RULES:
        v, c = found["valdrix"][r], found["c7n"][r]
        print(f"| `{r}` | {len(v)} | {len(c)} | {'yes' if v == c else 'NO'} |")
    print()
    print(f"| tool | best of {a.repeat} (s) | all runs (s) |")
    print("|---|---:|---|")
    for k in ("valdrix", "c7n"):
        print(f"| {k} | {best[k]:.2f} | {', '.join(f'{t:.2f}' for t in times[k])} |")
    print(f"| c7n, attributes only (once) | {light_seconds:.2f} | {light_seconds:.2f} |")
    print(f"\nvaldrix is {result['ratio']:.1f}x faster; same findings: {same}")
    if not same:
        for r in RULES:
            v, c = found["valdrix"][r], found["c7n"][r]
            if v != c:
                print(f"{r}: only valdrix {sorted(v - c)[:5]}; only c7n {sorted(c - v)[:5]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
