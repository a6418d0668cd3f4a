"""Spark settings for Kubernetes (``--master k8s://https://...``), from flags or environment.

Client mode: the driver is the pod running ``msb stream`` (a Deployment in the chart); Spark
creates executor pods itself. Every setting has an ``MSB_SPARK_*`` environment variable so a
chart can set it without changing the command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass
class K8sSettings:
    image: str = _env("MSB_SPARK_IMAGE", "msb-spark:latest")
    namespace: str = _env("MSB_SPARK_NAMESPACE", "msb")
    service_account: str = _env("MSB_SPARK_SERVICE_ACCOUNT", "msb-spark")
    executors: int = int(_env("MSB_SPARK_EXECUTORS", "2"))
    executor_cores: int = int(_env("MSB_SPARK_EXECUTOR_CORES", "1"))
    executor_memory: str = _env("MSB_SPARK_EXECUTOR_MEMORY", "2g")
    driver_memory: str = _env("MSB_SPARK_DRIVER_MEMORY", "2g")
    dynamic_allocation: bool = _env("MSB_SPARK_DYNAMIC_ALLOCATION", "false").lower() in ("1", "true", "yes")
    min_executors: int = int(_env("MSB_SPARK_MIN_EXECUTORS", "1"))
    max_executors: int = int(_env("MSB_SPARK_MAX_EXECUTORS", "4"))
    driver_host: str | None = os.environ.get("MSB_SPARK_DRIVER_HOST")  # the driver pod's headless service

    def conf(self) -> dict[str, str]:
        c = {
            "spark.kubernetes.container.image": self.image,
            "spark.kubernetes.namespace": self.namespace,
            "spark.kubernetes.authenticate.driver.serviceAccountName": self.service_account,
            "spark.kubernetes.authenticate.serviceAccountName": self.service_account,
            "spark.executor.instances": str(self.executors),
            "spark.executor.cores": str(self.executor_cores),
            "spark.executor.memory": self.executor_memory,
            "spark.driver.memory": self.driver_memory,
            "spark.kubernetes.executor.deleteOnTermination": "true",
            # Spark's own metrics for Prometheus: /metrics/prometheus on the driver UI port,
            # executors' metrics through the driver (/metrics/executors/prometheus).
            "spark.ui.prometheus.enabled": "true",
            "spark.metrics.conf.*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet",
            "spark.metrics.conf.*.sink.prometheusServlet.path": "/metrics/prometheus",
            "spark.metrics.appStatusSource.enabled": "true",
            "spark.sql.streaming.metricsEnabled": "true",
        }
        if self.dynamic_allocation:
            c.update({
                "spark.dynamicAllocation.enabled": "true",
                # No external shuffle service on Kubernetes: track shuffle files instead.
                "spark.dynamicAllocation.shuffleTracking.enabled": "true",
                "spark.dynamicAllocation.minExecutors": str(self.min_executors),
                "spark.dynamicAllocation.maxExecutors": str(self.max_executors),
                "spark.dynamicAllocation.initialExecutors": str(self.executors),
            })
        if self.driver_host:
            c["spark.driver.host"] = self.driver_host
            c["spark.driver.bindAddress"] = "0.0.0.0"
        return c
