"""The configs ``msb run`` gives its stages: built once here from its own options, then run in
process (``--sequential``) or started as ``msb <command> <config.to_args()>`` (live, app/msb_app/live.py).
Each value is written once, in this module; every option of a stage belongs to its component's config
(msb_replay.config, msb_stream.config, msb_crossmatch.config)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from msb_crossmatch.config import CrossmatchConfig
from msb_replay.config import ReplayConfig
from msb_replay.pacing import Pace
from msb_stream.config import StreamConfig

GROUP = "msb-run"  # the crossmatch's consumer group, which msb run's Kafka watch reads
# A crossmatch that restarts (or is stopped) gives its partitions back within seconds, not Kafka's 45 s.
SESSION_TIMEOUT_MS = 6000


@dataclass
class Topics:
    raw: str = "raw"
    processed: str = "processed"
    classified: str = "classified"
    dead_letters: str = "dead-letters"


@dataclass
class StageConfigs:
    replay: ReplayConfig
    stream: StreamConfig
    crossmatch: CrossmatchConfig

    def commands(self) -> dict[str, list[str]]:
        """Each stage's ``msb`` command line (what its container would run), consumers first."""
        return {"crossmatch": ["crossmatch", *self.crossmatch.to_args()], "stream": ["stream", *self.stream.to_args()],
                "replay": ["replay", *self.replay.to_args()]}


def stage_configs(args: argparse.Namespace, bootstrap: str, ports: dict[str, int | None],
                  topics: Topics | None = None) -> StageConfigs:
    """The stages of ``msb run``'s options; ``ports`` holds the replay's and the stream's metrics ports and
    the crossmatch's HTTP port (None: not served)."""
    t = topics or Topics()
    out: Path = args.out
    schemas = args.schemas if args.schemas and args.schemas.is_dir() else None
    replay = ReplayConfig(
        data=list(args.data), bootstrap=bootstrap, topic=t.raw, partitions=args.partitions,
        pace=Pace("visit-interval", args.visit_interval) if args.visit_interval else Pace("max"),
        loops=None if getattr(args, "forever", False) else args.loop,
        fresh_ids=True,  # a looped night's alerts are new alerts, not duplicates
        schemas=schemas, metrics_port=ports["replay"],
    )
    stream = StreamConfig(
        bootstrap=bootstrap, topic=t.raw, quality=args.quality, archive=str(out / "archive"),
        checkpoint=str(out / "checkpoint"), processed_topic=t.processed, dead_letter_topic=t.dead_letters,
        master=args.master, metrics_port=ports["stream"], trigger_seconds=args.trigger_seconds,
        schemas=str(schemas) if schemas else None,
    )
    crossmatch = CrossmatchConfig(
        bootstrap=bootstrap, topic=t.processed, out_topic=t.classified, group=GROUP, catalogs=args.catalogs,
        out=out / "classified", http_port=ports["crossmatch"], session_timeout_ms=SESSION_TIMEOUT_MS,
    )
    return StageConfigs(replay, stream, crossmatch)
