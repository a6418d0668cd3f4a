"""SparkSession construction: local mode for tests and laptops, Kubernetes settings from flags/env."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pyspark
from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from msb_stream.alert_source import MsbAlerts
from msb_stream.kafka_source import MsbKafka

LOCAL_LOG4J = Path(__file__).resolve().parent / "log4j2-local.properties"


def local_conf() -> dict[str, str]:
    """Small-machine settings: few shuffle partitions, no UI, Arrow on, quiet."""
    return {
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
        # One Python worker per core stays alive between batches (decoder caches survive).
        "spark.python.worker.reuse": "true",
        "spark.driver.memory": os.environ.get("MSB_SPARK_DRIVER_MEMORY", "2g"),
        "spark.sql.session.timeZone": "UTC",
        # The Python data source plans offsets in a Python worker; keep it and executors on our venv.
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.streaming.numRecentProgressUpdates": "20",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOCAL_LOG4J}",
    }


def defaults_file_keys() -> set[str]:
    """Keys of $SPARK_CONF_DIR/spark-defaults.conf, which Spark itself loads at start-up."""
    conf_dir = os.environ.get("SPARK_CONF_DIR")
    path = Path(conf_dir) / "spark-defaults.conf" if conf_dir else None
    if path is None or not path.is_file():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.add(line.split(None, 1)[0].split("=", 1)[0])
    return keys


class SparkStartError(RuntimeError):
    """The SparkContext did not start on the master it was given."""


def root_cause(exc: Py4JJavaError) -> str:
    """The innermost Java exception of a Py4J error, as "Class: message"."""
    cause = exc.java_exception
    while cause.getCause() is not None:
        cause = cause.getCause()
    return f"{cause.getClass().getSimpleName()}: {cause.getMessage()}"


def build_session(master: str = "local[2]", app_name: str = "msb-stream", conf: dict[str, Any] | None = None,
                  ) -> SparkSession:
    """A SparkSession on ``master`` with our data source registered.

    ``conf`` adds or overrides settings (e.g. the Kubernetes flags of msb_stream.k8s).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    local = master.startswith("local")
    if master.startswith("local-cluster"):
        # Real executor processes on this machine: Spark launches them with $SPARK_HOME/bin
        # scripts, which the pip package ships in its own folder.
        os.environ.setdefault("SPARK_HOME", os.path.dirname(pyspark.__file__))
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no hostname look-up warnings, no LAN exposure
    # msb's decoding uses pandas only in plain Python, not through Spark's pandas conversions.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = local_conf() if local else {
        "spark.sql.execution.arrow.pyspark.enabled": "true", "spark.sql.session.timeZone": "UTC",
        "spark.python.worker.reuse": "true",
    }
    # spark-defaults.conf (SPARK_CONF_DIR, the chart's ConfigMap) owns what it sets: msb's local
    # defaults fill only the gaps; settings passed in (command-line flags) still override it.
    configured = defaults_file_keys()
    settings = {k: v for k, v in settings.items() if k not in configured}
    settings.update({k: str(v) for k, v in (conf or {}).items()})
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Py4JJavaError as exc:  # e.g. no Kubernetes API server: say why, not the JVM's stack trace
        raise SparkStartError(f"Spark could not start on master {master}: {root_cause(exc)}") from None
    session.sparkContext.setLogLevel(os.environ.get("MSB_SPARK_LOG_LEVEL", "ERROR" if local else "WARN"))
    session.dataSource.register(MsbKafka)
    session.dataSource.register(MsbAlerts)
    return session
