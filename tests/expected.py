"""Expected results computed straight from the packets, independently of the code under test."""

from __future__ import annotations

from pathlib import Path

from msb.avro import AlertDecoder


def fink_candids(night: Path) -> set[int]:
    """Candids passing Fink's cuts (nbad == 0, rb >= 0.55, fid != 3), from the packets themselves."""
    decoder = AlertDecoder()
    out = set()
    for path in night.glob("*.avro"):
        c = decoder.decode(path.read_bytes())["candidate"]
        if c["nbad"] == 0 and c["rb"] >= 0.55 and c["fid"] != 3:
            out.add(c["candid"])
    return out
