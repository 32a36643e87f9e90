"""The demo's AWS side, run by scripts/demo against the local emulator (AWS_ENDPOINT_URL).

    prepare   create the `orders` Aurora cluster of events/spike/topology.json in RDS
    timeline  print the 10-second averages CloudWatch holds for the replayed spike
"""
import json
import os
import sys
from datetime import datetime, timedelta, timezone

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prepare():
    rds = boto3.client("rds")
    with open(os.path.join(ROOT, "events", "spike", "topology.json")) as f:
        topology = json.load(f)
    cluster = "orders"
    rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-mysql",
                          MasterUsername="spillway", MasterUserPassword="not-a-secret-1",
                          ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16})
    writer = next(m["instance"] for c in topology["clusters"] if c["id"] == cluster
                  for m in c["members"] if m["writer"])
    ordered = sorted((i for i in topology["instances"] if i["cluster"] == cluster),
                     key=lambda i: i["id"] != writer)  # the writer first
    for i in ordered:
        rds.create_db_instance(DBInstanceIdentifier=i["id"], DBClusterIdentifier=cluster,
                               Engine="aurora-mysql", DBInstanceClass=i["class"])
        print(f"  created {i['id']:<20} {i['class']:<14} {'writer' if i['id'] == writer else 'reader'}")


def timeline(namespace, minutes):
    cw = boto3.client("cloudwatch")
    end = datetime.now(timezone.utc) + timedelta(seconds=10)
    start = end - timedelta(minutes=minutes)
    series = {}
    for role in ("provisioned-reader", "serverless-reader", "writer"):
        points = cw.get_metric_statistics(
            Namespace=namespace, MetricName="CPUUtilization",
            Dimensions=[{"Name": "DBClusterIdentifier", "Value": "orders"},
                        {"Name": "Role", "Value": role}],
            StartTime=start, EndTime=end, Period=10, Statistics=["Average", "SampleCount"],
        )["Datapoints"]
        for p in points:
            series.setdefault(p["Timestamp"], {})[role] = p
    print(f"{'time (UTC)':<10} {'provisioned readers':>20} {'serverless reader':>18} {'writer':>8}   10-s average CPU")
    for ts in sorted(series):
        row = series[ts]
        cell = lambda r: f"{row[r]['Average']:5.1f} %" if r in row else "    -  "
        prov = row.get("provisioned-reader", {}).get("Average", 0.0)
        bar = "#" * int(prov / 4)
        print(f"{ts.strftime('%H:%M:%S'):<10} {cell('provisioned-reader'):>20} "
              f"{cell('serverless-reader'):>18} {cell('writer'):>8}   {bar}")
    if not series:
        sys.exit("no data points found in CloudWatch: the replay published nothing")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare()
    else:
        timeline(sys.argv[2], int(sys.argv[3]))
