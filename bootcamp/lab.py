"""Plumbing shared by the bootcamp notebooks, kept out of them so they show only what they teach.

Where the data is (``MSB_DATA``, ``MSB_RUBIN_DATA``, under ``MSB_SHARED``), which Kafka to use (the
one ``make lab`` started, named by ``MSB_BOOTSTRAP``, or an embedded broker of the notebook's own),
a replay of a folder into a fresh topic, and a local SparkSession. Everything else the notebooks
call is msb's own library.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msb import broker, kafka, paths


def _data(variable: str, default: Path) -> Path:
    given = os.environ.get(variable)
    path = Path(given or default)
    if not path.exists():
        raise FileNotFoundError(f"{variable}={given}: no such folder or file" if given else
                                f"the shared data {path} is missing (MSB_SHARED moves ../shared)")
    return path


def ztf_data() -> Path:
    """``MSB_DATA``, else the shared ZTF night of 2018-11-29 (498 alerts)."""
    return _data("MSB_DATA", paths.ztf_night())


def rubin_data() -> Path:
    """``MSB_RUBIN_DATA``, else the 47 shared Rubin alerts (schema 10.0)."""
    return _data("MSB_RUBIN_DATA", paths.rubin_alerts())


def night_label(data: Path) -> str:
    """For titles: the date in the folder's name (``ztf_public_20181129_v3.2`` is 2018-11-29), else the name."""
    m = re.search(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)", data.name)
    return f"{m[1]}-{m[2]}-{m[3]}" if m else data.name


def visit_interval(data: Path, within: float = 4.0, at_most: float = 1.0) -> float:
    """Seconds between visits for a replay that sends the night's visits one by one, ``at_most`` apart
    and all within ``within`` seconds (a night of 150 small visits would otherwise take minutes)."""
    from msb.alert import packet_info
    from msb.avro import AlertDecoder, SchemaStore
    from msb.sources import Packet, iter_packets

    decoder = AlertDecoder(SchemaStore(rubin_schemas()))
    bursts, visit = 0, None
    for p in iter_packets([data]):  # counted as the replay counts them: a run of alerts of one exposure
        if isinstance(p, Packet) and (info := packet_info(decoder, p.data)).visit != visit:
            bursts, visit = bursts + 1, info.visit
    return min(at_most, within / max(1, bursts))


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
    from msb_replay.pacing import Pace
    from msb_replay.replay import ReplayConfig, run_replay

    cfg = ReplayConfig(
        data=[data], bootstrap=bootstrap, topic=topic, partitions=partitions,
        pace=Pace("visit-interval", visit_interval) if visit_interval else Pace("max"),
        wire_format=wire_format, schemas=rubin_schemas(), progress=False, metrics_port=None,
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
    from msb_stream.session import build_session

    return build_session(master="local[2]", app_name="msb-bootcamp")
