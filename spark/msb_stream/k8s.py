"""`msb stream --master k8s://...`: the command-line flags that name Spark-on-Kubernetes settings.

In a deployment the chart renders every Spark setting into spark-defaults.conf (a ConfigMap at
SPARK_CONF_DIR), which Spark reads itself when the session starts: that file is the one owner of
the settings, and ``msb scale`` edits it. These flags only set what a user types, for running the
driver by hand; a flag overrides the file.
"""

from __future__ import annotations

import argparse

# flag (argparse dest) -> Spark key
FLAG_KEYS = {
    "image": "spark.kubernetes.container.image",
    "namespace": "spark.kubernetes.namespace",
    "service_account": "spark.kubernetes.authenticate.driver.serviceAccountName",
    "executors": "spark.executor.instances",
    "executor_memory": "spark.executor.memory",
    "executor_cores": "spark.executor.cores",
    "min_executors": "spark.dynamicAllocation.minExecutors",
    "max_executors": "spark.dynamicAllocation.maxExecutors",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("kubernetes (with --master k8s://; each overrides $SPARK_CONF_DIR/spark-defaults.conf)")
    g.add_argument("--image", help="container image of the executors (e.g. msb-stream:dev)")
    g.add_argument("--namespace", help="namespace for executor pods")
    g.add_argument("--service-account", help="service account allowed to create pods")
    g.add_argument("--executors", type=int, help="executor count, initial count with dynamic allocation")
    g.add_argument("--executor-memory", help="e.g. 2g")
    g.add_argument("--executor-cores", type=int, help="cores per executor")
    g.add_argument("--dynamic-allocation", action="store_true", help="scale executors with the load")
    g.add_argument("--min-executors", type=int, help="dynamic allocation lower bound")
    g.add_argument("--max-executors", type=int, help="dynamic allocation upper bound")


def flag_conf(args: argparse.Namespace) -> dict[str, str]:
    """The Spark settings of the flags given (none for flags left out)."""
    conf = {key: str(getattr(args, dest)) for dest, key in FLAG_KEYS.items() if getattr(args, dest) is not None}
    if args.dynamic_allocation:
        conf["spark.dynamicAllocation.enabled"] = "true"
        # No external shuffle service on Kubernetes: track shuffle files instead.
        conf["spark.dynamicAllocation.shuffleTracking.enabled"] = "true"
        if args.executors is not None:
            conf["spark.dynamicAllocation.initialExecutors"] = str(args.executors)
    return conf
