"""What ``msb crossmatch`` takes: one field per option, its flag named like the field (msb.cliutil).

``msb crossmatch``'s parser is built from this class (the HTTP API limits, ApiLimits, nested in it),
and ``msb run`` starts its crossmatch stage from ``CrossmatchConfig.to_args()`` (or in process,
``--sequential``, from the config itself). Fields without a flag are in-process settings only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from msb import kafka
from msb.cliutil import CliConfig, nested, option, port_or_off, render_port
from msb.paths import catalog_store
from msb_crossmatch.limits import ApiLimits

STORE_HELP = "catalog store folder (default: $MSB_CATALOGS, else ./catalogs in the working directory)"


@dataclass(kw_only=True)
class CrossmatchConfig(CliConfig):
    prog = "msb crossmatch"

    bootstrap: str = option("Kafka bootstrap servers (env MSB_BOOTSTRAP)", default_factory=kafka.default_bootstrap,
                            always=True)
    topic: str = option("input topic", default="processed")
    out_topic: str = option("output topic", default="classified")
    group: str = option("consumer group", default="msb-crossmatch")
    out: Path | None = option("also write classified alerts as Parquet under DIR (one file per batch)", default=None,
                              type=Path, metavar="DIR")
    distribution: str = option(
        "the output's messages: container (one-record Avro containers, key objectId: what msb run reads) or fink "
        "(Fink's Livestream convention: the classified record as a schemaless Avro datum keyed by its schema as "
        "JSON, partitioned by objectId; fink-client reads it)", default="container", choices=("container", "fink"))
    http_port: int | None = option("HTTP API port (0: any free port, -1: no API)", default=8080, type=port_or_off,
                                   render=render_port, metavar="PORT")
    http_host: str = option("HTTP API address", default="0.0.0.0", metavar="HOST")
    catalogs: Path = option(STORE_HELP, default_factory=catalog_store, type=Path, metavar="DIR", always=True)
    only: list[str] | None = option("use only these catalogs (default: all built)", default=None, nargs="+",
                                    metavar="NAME")
    batch_size: int = option("max alerts per batch", default=5000, type=int, metavar="N")
    session_timeout_ms: int = option("consumer session timeout", default=45_000, type=int, metavar="MS")
    exit_when_idle: float | None = option("stop after this long without input, once partitions are assigned "
                                          "(default: run until stopped)", default=None, type=float, render=repr,
                                          metavar="SECONDS")
    cds_url: str | None = option("also query a remote CDS xMatch (SIMBAD) per batch; off by default; 'Fail' on "
                                 "errors", default=None, metavar="URL")
    cds_timeout: float = option("remote timeout in seconds", default=10.0, type=float, render=repr, metavar="SECONDS")
    api_only: bool = option("serve the HTTP API only, without Kafka", default=False, action="store_true")
    api_limits: ApiLimits = nested(ApiLimits)  # what one HTTP request may ask (--max-*, --*-timeout)

    # in process only (no flag)
    poll_timeout: float = 0.5
    lag_every_s: float = 2.0
    track_candids: bool = False  # keep the set of classified candids in the summary (msb run --sequential)
