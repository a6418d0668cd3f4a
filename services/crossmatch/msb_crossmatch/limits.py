"""What one HTTP API request may ask of the crossmatch: each field is the `msb crossmatch` flag of the
same name (msb.cliutil); kept apart from api.py so that the command line reads the defaults without
loading it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from msb.cliutil import option

T = TypeVar("T")

MAX_POSITIONS = 10_000
SECTION = "HTTP API limits (each bounds what one /crossmatch request may ask; an excess is refused (4xx) with a " \
          "message that says what to change)"

_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}


def byte_size(text: str) -> int:
    """A size in bytes: 2097152, 512KiB, 2MiB."""
    num = text.strip().rstrip("BbIiKkMmGg")
    unit = text.strip()[len(num):].lower()
    try:
        value = float(num) * _UNITS[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 2097152, 512KiB, 2MiB)") from None
    if not 1 <= value < 1 << 40:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size from 1 byte to 1 TiB")
    return int(value)


def size_text(n: int) -> str:
    for unit in ("GiB", "MiB", "KiB"):
        if n % _UNITS[unit.lower()] == 0:
            return f"{n // _UNITS[unit.lower()]}{unit}"
    return str(n)


def positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(text: str) -> T:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0 or value == float("inf"):  # type: ignore[operator]
            raise argparse.ArgumentTypeError(f"{text!r}: give a positive number")
        return value

    return parse


@dataclass(frozen=True, kw_only=True)
class ApiLimits:
    max_body: int = option("largest request body (bytes, or with KiB/MiB/GiB); larger gets 413 before any parsing",
                           default=2 * 1024 * 1024, type=byte_size, render=size_text, metavar="SIZE", section=SECTION)
    max_positions: int = option("most positions per request (413 beyond)", default=MAX_POSITIONS,
                                type=positive(int), metavar="N", section=SECTION)
    max_work: int = option("most matcher work per request: zone intervals plus candidate catalog rows examined, "
                           "summed over the catalogs, counted before matching (413 beyond: fewer positions, a "
                           "smaller radius or fewer catalogs)", default=1_000_000, type=positive(int), metavar="N",
                           section=SECTION)
    max_response: int = option("largest answer (413 beyond: fewer positions, a smaller radius, or no \"all\")",
                               default=16 * 1024 * 1024, type=byte_size, render=size_text, metavar="SIZE",
                               section=SECTION)
    max_concurrent: int = option("/crossmatch requests in progress at once (reading, matching, answering); more get "
                                 "429 with Retry-After", default=4, type=positive(int), metavar="N", section=SECTION)
    header_timeout: float = option("seconds a connection has to send a complete request head (also the idle "
                                   "keep-alive limit); then it is closed", default=10.0, type=positive(float),
                                   render=repr, metavar="S", section=SECTION)
    body_timeout: float = option("seconds to receive a request body (else 408 and the connection is closed), and to "
                                 "send an answer", default=10.0, type=positive(float), render=repr, metavar="S",
                                 section=SECTION)
