"""Alert packets from files, directory trees and nightly tar archives, streamed one at a time.

ZTF publishes each night as ``ztf_public_YYYYMMDD.tar.gz`` holding one ``<candid>.avro`` per
alert. Archives are read with tarfile's streaming mode, so memory stays flat whatever the size.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
ALERT_SUFFIXES = (".avro",)


@dataclass(frozen=True, slots=True)
class Packet:
    """One alert packet's bytes and where it came from."""

    source: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file that could not be read at all (permissions, broken archive member...)."""

    source: str
    reason: str


def _natural_key(path: str) -> list[object]:
    # ZTF names alerts by candid, whose leading digits grow with exposure time, so a natural
    # sort of a night's folder is time order and keeps each visit contiguous.
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def iter_packets(paths: Iterable[str | Path]) -> Iterator[Packet | Unreadable]:
    """Every packet under the given paths, in a stable, time-like order.

    Files of any name are yielded from explicit paths; inside directories only ``*.avro``
    files and archives are taken.
    """
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            yield Unreadable(str(path), "no such file or directory")
        elif path.is_dir():
            yield from _iter_dir(path)
        elif is_archive(path):
            yield from _iter_archive(path)
        else:
            yield _read_file(path)


def count_packets(paths: Iterable[str | Path]) -> int | None:
    """How many packets ``iter_packets`` will yield, or None where archives make it unknown."""
    total = 0
    for raw in paths:
        path = Path(raw)
        if is_archive(path):
            return None
        if path.is_dir():
            for _dirpath, _dirnames, filenames in os.walk(path):
                if any(f.endswith(ARCHIVE_SUFFIXES) for f in filenames):
                    return None
                total += sum(f.endswith(ALERT_SUFFIXES) for f in filenames)
        else:
            total += 1
    return total


def _iter_dir(root: Path) -> Iterator[Packet | Unreadable]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort(key=_natural_key)
        found.extend(os.path.join(dirpath, f) for f in filenames if f.endswith(ALERT_SUFFIXES + ARCHIVE_SUFFIXES))
    for name in sorted(found, key=_natural_key):
        path = Path(name)
        if is_archive(path):
            yield from _iter_archive(path)
        else:
            yield _read_file(path)


def _read_file(path: Path) -> Packet | Unreadable:
    try:
        return Packet(str(path), path.read_bytes())
    except OSError as exc:
        return Unreadable(str(path), exc.strerror or str(exc))


def _iter_archive(path: Path) -> Iterator[Packet | Unreadable]:
    try:
        with tarfile.open(path, mode="r|*") as tar:  # "|": a stream, no random access, flat memory
            for member in tar:
                if not member.isfile() or not member.name.endswith(ALERT_SUFFIXES):
                    continue
                fo = tar.extractfile(member)
                if fo is None:
                    continue
                yield Packet(f"{path}:{member.name}", fo.read())
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield Unreadable(str(path), f"broken archive: {exc}")
