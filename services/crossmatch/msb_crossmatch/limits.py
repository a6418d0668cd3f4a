"""What one HTTP API request may ask of the crossmatch (the `msb crossmatch` flags of the same
names); kept apart from api.py so that the command line reads the defaults without loading it."""

from __future__ import annotations

from dataclasses import dataclass

MAX_POSITIONS = 10_000


@dataclass(frozen=True)
class ApiLimits:
    max_body_bytes: int = 2 * 1024 * 1024
    max_positions: int = MAX_POSITIONS
    max_work: int = 1_000_000  # zone intervals + candidate catalog rows examined (Crossmatcher.work)
    max_response_bytes: int = 16 * 1024 * 1024
    max_concurrent: int = 4  # /crossmatch requests in progress (reading, matching or answering)
    header_timeout: float = 10.0  # a connection's request head must be complete this soon (and idle keep-alive)
    body_timeout: float = 10.0  # the body must arrive, and the answer be taken, this soon
