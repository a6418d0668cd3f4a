"""`msb stream --master k8s://...`: the command-line flags that name Spark-on-Kubernetes settings.

In a deployment the chart renders every Spark setting into spark-defaults.conf (a ConfigMap at
SPARK_CONF_DIR), which Spark reads itself when the session starts: that file is the one owner of
the settings, and ``msb scale`` edits it. These flags only set what a user types, for running the
driver by hand; a flag overrides the file.
"""

from __future__ import annotations

from typing import Any

# StreamConfig field (its flag) -> Spark key
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


def flag_conf(args: Any) -> dict[str, str]:
    """The Spark settings of the flags given (none for flags left out); ``args`` is the StreamConfig."""
    conf = {key: str(getattr(args, dest)) for dest, key in FLAG_KEYS.items() if getattr(args, dest) is not None}
    if args.dynamic_allocation:
        conf["spark.dynamicAllocation.enabled"] = "true"
        # No external shuffle service on Kubernetes: track shuffle files instead.
        conf["spark.dynamicAllocation.shuffleTracking.enabled"] = "true"
        if args.executors is not None:
            conf["spark.dynamicAllocation.initialExecutors"] = str(args.executors)
    return conf
