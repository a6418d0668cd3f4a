"""Plumbing shared by the bootcamp notebooks, kept out of them so they show only what they teach.

Where the data is (``MSB_DATA``, ``MSB_RUBIN_DATA``, under ``MSB_SHARED``), which Kafka to use (the
one ``make lab`` started, named by ``MSB_BOOTSTRAP``, or an embedded broker of the notebook's own),
a replay of a folder into a fresh topic, and a local SparkSession. Everything else the notebooks
call is msb's own library.
"""

from __future__ import annotations

import atexit
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msb import broker, kafka, paths


def ztf_data() -> Path:
    """``MSB_DATA``, else the shared ZTF night of 2018-11-29 (498 alerts)."""
    return Path(os.environ.get("MSB_DATA") or paths.ztf_night())


def rubin_data() -> Path:
    """``MSB_RUBIN_DATA``, else the 47 shared Rubin alerts (schema 10.0)."""
    return Path(os.environ.get("MSB_RUBIN_DATA") or paths.rubin_alerts())


def rubin_schemas() -> Path:
    return paths.rubin_schemas()


def expect(actual: Any, expected: Any, what: str, survey: str = "ztf") -> None:
    """Asserts a number the notebook states about the shared data; with other data it only prints it."""
    data, default = (ztf_data(), paths.ztf_night()) if survey == "ztf" else (rubin_data(), paths.rubin_alerts())
    if data.resolve() == default.resolve():
        assert actual == expected, f"{what}: {actual}, expected {expected} on the shared data"
        print(f"ok: {what}: {actual}")
    else:
        print(f"{what}: {actual} (on the shared data: {expected})")


def out_dir(name: str) -> Path:
    """A scratch folder under out/bootcamp (gitignored) for checkpoints, archives, plug-ins."""
    path = paths.REPO_ROOT / "out" / "bootcamp" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


_BROKER: broker.EmbeddedBroker | None = None


def connect() -> str:
    """Bootstrap servers: ``MSB_BOOTSTRAP`` (``make lab``'s broker; a clear error if it does not answer),
    else an embedded broker started for this kernel (stopped when the kernel exits)."""
    global _BROKER
    given = os.environ.get("MSB_BOOTSTRAP")
    if given:
        kafka.wait_for_kafka(given)
        return given
    if _BROKER is None:
        _BROKER = broker.EmbeddedBroker().start()
        atexit.register(_BROKER.stop)
    return _BROKER.bootstrap


def fresh_topic(prefix: str) -> str:
    """A topic name no earlier run used: each notebook run starts from an empty topic."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Replay:
    """A replay running in a background thread, as a survey's stream would be."""

    topic: str
    thread: threading.Thread
    result: dict[str, Any] = field(default_factory=dict)

    def wait(self, timeout: float = 120.0) -> Any:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"replay into {self.topic} still running after {timeout} s")
        if "error" in self.result:
            raise self.result["error"]
        return self.result["summary"]


def replay(bootstrap: str, data: Path, topic: str, *, wire_format: str = "container",
           visit_interval: float | None = None, partitions: int = 2) -> Replay:
    """Starts ``msb replay`` (the library call) into ``topic`` in a background thread."""
    from msb.avro import SchemaStore
    from msb.replay.pacing import Pace
    from msb.replay.replay import ReplayConfig, run_replay

    cfg = ReplayConfig(
        data=[data], bootstrap=bootstrap, topic=topic, partitions=partitions,
        pace=Pace("visit-interval", visit_interval) if visit_interval else Pace("max"),
        wire_format=wire_format, schemas=SchemaStore(rubin_schemas()), progress=False,
    )
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["summary"] = run_replay(cfg)
        except Exception as exc:  # noqa: BLE001 - handed to the notebook by Replay.wait
            result["error"] = exc

    thread = threading.Thread(target=run, name=f"replay-{topic}", daemon=True)
    thread.start()
    return Replay(topic, thread, result)


def spark_session() -> Any:
    """msb's local SparkSession (local[2], msb's Kafka data sources registered); ~20 s the first time."""
    from msb.stream.session import build_session

    return build_session(master="local[2]", app_name="msb-bootcamp")
