"""What ``msb stream`` takes: one field per option, its flag named like the field (msb.cliutil).

``msb stream``'s parser is built from this class, and ``msb run`` starts its stream stage from
``StreamConfig.to_args()`` (or in process, ``--sequential``, from the config itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from msb import livestream
from msb.cliutil import CliConfig, comma_list, key_value, option, port_or_off, render_port
from msb.kafka import default_bootstrap
from msb_stream import k8s

INPUT, PROCESSING, OUTPUT, RUNNING = "input", "processing", "output", "running"
KUBERNETES = "kubernetes (with --master k8s://; each overrides $SPARK_CONF_DIR/spark-defaults.conf)"


def _kafka_format_default() -> str:
    return os.environ.get("MSB_STREAM_KAFKA_FORMAT", "auto")


@dataclass(kw_only=True)
class StreamConfig(CliConfig):
    """Everything ``msb stream`` takes; ``msb run`` builds one of these and runs or starts the stream from it."""

    prog = "msb stream"

    # input
    bootstrap: str = option("Kafka bootstrap servers (env MSB_BOOTSTRAP)", default_factory=default_bootstrap,
                            section=INPUT, always=True)
    topic: str = option("topic(s) to read, comma-separated", section=INPUT)
    starting_offsets: str = option("where a new checkpoint starts: earliest, latest, or JSON "
                                   "{\"topic\": {\"0\": offset}}", default="earliest", section=INPUT)
    max_offsets_per_trigger: int | None = option("at most N messages per micro-batch (spread over partitions by lag)",
                                                 default=None, type=int, metavar="N", section=INPUT)
    schemas: str | None = option("folder of Rubin schemas for the Confluent wire format", default=None,
                                 metavar="DIR", section=INPUT)
    schema_registry: str | None = option("schema registry for the Confluent wire format", default=None,
                                         metavar="URL", section=INPUT)
    kafka_format: str = option(
        "python: our confluent-kafka data source (msbkafka, read by the job as msbalerts: decoded in the reading "
        "task); native: Spark's kafka connector (needs its jars, as in the container image); auto: native if its "
        "jars are present (env MSB_STREAM_KAFKA_FORMAT)", default_factory=_kafka_format_default,
        choices=("auto", "python", "native"), section=INPUT)
    max_records_per_partition: int = option("at most N messages per Spark partition of a batch (0: no bound)",
                                            default=5000, type=int, metavar="N", section=INPUT)

    # processing
    quality: str = option("quality-cut preset", default="fink", choices=("fink", "ztf-pure", "rubin", "none"),
                          section=PROCESSING)
    cut: list[str] = option("add or override a threshold, e.g. --cut 'rb>=0.7' (repeatable)", default_factory=list,
                            action="append", metavar="COL OP VALUE", section=PROCESSING)
    filters: list[str] | None = option("filters to run, comma-separated (default: all discovered)", default=None,
                                       type=comma_list, render=",".join, metavar="A,B", section=PROCESSING)
    filters_dir: list[str] = option("folder of filter plug-ins <name>/filter.py (default: the built-in "
                                    "spark/msb_stream/filters; repeatable)", default_factory=list, action="append",
                                    metavar="DIR", section=PROCESSING)
    keep_cutouts: bool = option("keep the three cutouts as binary columns", default=False, action="store_true",
                                section=PROCESSING)

    # output
    archive: str = option("Parquet archive (partitioned by night)", metavar="DIR", section=OUTPUT)
    checkpoint: str = option("Spark checkpoint (restart state)", metavar="DIR", section=OUTPUT)
    topic_prefix: str = option("prefix of the output topics (default: none)", default="", metavar="PREFIX",
                               section=OUTPUT)
    processed_topic: str | None = option("topic for processed alerts (default <prefix>processed)", default=None,
                                         metavar="TOPIC", section=OUTPUT)
    dead_letter_topic: str | None = option("topic for undecodable messages (default <prefix>dead-letters)",
                                           default=None, metavar="TOPIC", section=OUTPUT)
    distribution: str = option(
        "the filter topics: fink (Fink's Livestream convention, on <prefix> + --fink-topics: the alert itself, "
        "cutouts included, plus msb's fields, keyed by its schema) or container (<prefix>filter-<name>: the "
        "processed record as a one-record container, key objectId)", default="fink",
        choices=livestream.DISTRIBUTIONS, section=OUTPUT)
    fink_topics: str = option("name of a filter's topic with --distribution fink: {filter} and {survey} (ztf or "
                              "lsst) are replaced", default=livestream.DEFAULT_TOPIC_FORMAT, metavar="FORMAT",
                              section=OUTPUT)

    # running
    available_now: bool = option("process everything already in the topic, then exit (else run until stopped)",
                                 default=False, action="store_true", section=RUNNING)
    trigger_seconds: float = option("micro-batch interval when streaming", default=1.0, type=float, render=repr,
                                    section=RUNNING)
    master: str = option("Spark master: local[N] (threads), local-cluster[N,CORES,MB] (N executor processes on "
                         "this machine) or k8s://https://HOST:PORT", default="local[2]", section=RUNNING)
    metrics_port: int | None = option("Prometheus /metrics port (0: any free port, -1: off)", default=9402,
                                      type=port_or_off, render=render_port, metavar="PORT", section=RUNNING)
    conf: dict[str, str] = option("extra Spark setting (repeatable)", default_factory=dict, action="append",
                                  type=key_value, collect=dict, metavar="KEY=VALUE", section=RUNNING)
    app_name: str = option("Spark application and query name", default="msb-stream", metavar="NAME",
                           section=RUNNING)
    json: bool = option("print the summary as JSON", default=False, action="store_true", section=RUNNING)

    # kubernetes: each a Spark setting (k8s.FLAG_KEYS) that overrides spark-defaults.conf
    image: str | None = option("container image of the executors (e.g. msb-stream:dev)", default=None,
                               section=KUBERNETES)
    namespace: str | None = option("namespace for executor pods", default=None, section=KUBERNETES)
    service_account: str | None = option("service account allowed to create pods", default=None, section=KUBERNETES)
    executors: int | None = option("executor count, initial count with dynamic allocation", default=None, type=int,
                                   section=KUBERNETES)
    executor_memory: str | None = option("e.g. 2g", default=None, section=KUBERNETES)
    executor_cores: int | None = option("cores per executor", default=None, type=int, section=KUBERNETES)
    dynamic_allocation: bool = option("scale executors with the load", default=False, action="store_true",
                                      section=KUBERNETES)
    min_executors: int | None = option("dynamic allocation lower bound", default=None, type=int, section=KUBERNETES)
    max_executors: int | None = option("dynamic allocation upper bound", default=None, type=int, section=KUBERNETES)

    @property
    def spark_conf(self) -> dict[str, str]:
        """Spark settings of the flags: the Kubernetes ones (with a k8s:// master), then --conf over them."""
        return {**(k8s.flag_conf(self) if self.master.startswith("k8s://") else {}), **self.conf}

    @property
    def processed(self) -> str:
        return self.processed_topic or f"{self.topic_prefix}processed"

    @property
    def dead_letters(self) -> str:
        return self.dead_letter_topic or f"{self.topic_prefix}dead-letters"

    def filter_topic(self, name: str) -> str:
        """A filter's topic in the container distribution."""
        return f"{self.topic_prefix}filter-{name}"

    def filter_topics(self, name: str) -> list[str]:
        """Every topic a filter's alerts may go to (the fink distribution has one per survey)."""
        if self.distribution == "fink":
            return livestream.topic_set([name], self.fink_topics, self.topic_prefix)[name]
        return [self.filter_topic(name)]

    def check(self) -> None:
        """Raises ValueError naming a bad distribution or topic format."""
        if self.distribution not in livestream.DISTRIBUTIONS:
            raise ValueError(f"distribution {self.distribution!r}: choose {' or '.join(livestream.DISTRIBUTIONS)}")
        if self.distribution == "fink":
            livestream.check_format(self.fink_topics)
