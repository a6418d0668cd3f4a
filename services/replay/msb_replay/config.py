"""What ``msb replay`` takes: one field per option, its flag named like the field (msb.cliutil).

``msb replay``'s parser is built from this class, and ``msb run`` starts its replay stage from
``ReplayConfig.to_args()`` (or in process from the config itself).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msb import kafka
from msb.cliutil import CliConfig, option, port_or_off, render_port
from msb_replay.pacing import Pace

PACES = {"visit-interval": ("SECONDS", "one visit every SECONDS"),
         "speed": ("X", "the night's own timing, X times faster"),
         "rate": ("N", "N alerts per second")}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


class PaceFlags:
    """The pace is one field set by one of four flags named for its modes: --visit-interval S,
    --speed X, --rate N or --max (the default)."""

    def add(self, group: Any, default: Pace) -> None:
        group = group.add_mutually_exclusive_group()
        for mode, (metavar, help) in PACES.items():
            group.add_argument(f"--{mode}", type=float, metavar=metavar, help=help)
        group.add_argument("--max", action="store_true", help="as fast as the broker takes them (the default)")

    def value(self, ns: argparse.Namespace) -> Pace:
        for mode in PACES:
            given = getattr(ns, mode.replace("-", "_"))
            if given is not None:
                return Pace(mode, given)
        return Pace("max")

    def args(self, value: Pace) -> list[str]:
        return [] if value.mode == "max" else [f"--{value.mode}", repr(value.value)]


class LoopFlags:
    """How many times the data goes: --loops N, or --forever (None)."""

    def add(self, group: Any, default: int) -> None:
        loops = group.add_mutually_exclusive_group()
        loops.add_argument("--loops", type=positive_int, default=default, metavar="N", help="replay the data N times")
        loops.add_argument("--forever", action="store_true", help="replay the data until interrupted")
        loops.add_argument("--loop", dest="loops", type=positive_int, help=argparse.SUPPRESS,
                           default=argparse.SUPPRESS, action=_deprecated_store("--loops"))

    def value(self, ns: argparse.Namespace) -> int | None:
        return None if ns.forever else ns.loops

    def args(self, value: int | None) -> list[str]:
        return ["--forever"] if value is None else ["--loops", str(value)]


def _deprecated_store(new: str) -> type[argparse.Action]:
    from msb.cliutil import deprecated_action

    return deprecated_action(argparse._StoreAction, new, "msb replay")


@dataclass(kw_only=True)
class ReplayConfig(CliConfig):
    prog = "msb replay"

    data: list[Path] = option("alert files, folders or .tar.gz archives", nargs="+", type=Path, metavar="PATH")
    bootstrap: str = option("Kafka bootstrap servers (env MSB_BOOTSTRAP)", default_factory=kafka.default_bootstrap,
                            always=True)
    topic: str = option("topic to send to", default="raw")
    partitions: int = option("partitions if the topic must be created", default=4, type=int)
    pace: Pace = option("", default_factory=Pace, composite=PaceFlags())
    loops: int | None = option("", default=1, composite=LoopFlags())  # None: forever
    limit: int | None = option("stop after N alerts", default=None, type=positive_int, metavar="N")
    fresh_ids: bool = option("loops after the first send new alert ids (candid + loop * 10^16), so nothing "
                             "downstream deduplicates them", default=False, action="store_true",
                             deprecated=("--fresh-candids",))
    resume: bool = option("after a crash: skip the alerts this replay already delivered to the topic "
                          "(recognised by their msb_replay_id header)", default=False, action="store_true")
    wire_format: str = option("container: each packet as its .avro file (ZTF); confluent: magic byte + schema id + "
                              "datum (Rubin)", default="container", choices=("container", "confluent"),
                              deprecated=("--format",))
    schema_id: int | None = option("Confluent schema id to write (default: Rubin's id for its schema)", default=None,
                                   type=int)
    schemas: Path | None = option("local folder of writer schemas, for Confluent input", default=None, type=Path,
                                  metavar="DIR")
    schema_registry: str | None = option("schema registry, for Confluent input", default=None, metavar="URL")
    strict: bool = option("stop at the first bad file instead of skipping it", default=False, action="store_true")
    metrics_port: int | None = option("serve Prometheus /metrics here (-1: off)", default=9401, type=port_or_off,
                                      render=render_port)
    delivery_timeout: float = option("give up on an alert the broker has not acknowledged after this long",
                                     default=60.0, type=float, metavar="SECONDS", render=repr)
    progress: bool = option("a progress bar (else log lines only)", default=True,
                            action=argparse.BooleanOptionalAction)
    summary_json: Path | None = option("also write the end-of-run summary to FILE as JSON (msb run reads it)",
                                       default=None, type=Path, metavar="FILE")

    def schema_store(self) -> Any:
        """The writer schemas for Confluent input (None without --schemas or --schema-registry)."""
        from msb.avro import SchemaStore

        return SchemaStore(self.schemas, self.schema_registry) if self.schemas or self.schema_registry else None
