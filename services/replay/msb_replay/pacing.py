"""When each visit and each alert may go: the replay's four paces.

* ``max``: as fast as the broker takes them;
* ``visit-interval``: one visit every S seconds (what alert_stream's sendAlertStream does);
* ``speed``: the night's own timing (gaps between exposure times), X times faster;
* ``rate``: N alerts per second, evenly spread.

Times are scheduled from the start (not from the end of the previous burst), so a slow burst
does not push every later visit back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

SECONDS_PER_DAY = 86400.0


@dataclass
class Pace:
    mode: str = "max"  # max | visit-interval | speed | rate
    value: float = 0.0
    _t0: float | None = field(default=None, init=False)
    _visits: int = field(default=0, init=False)
    _alerts: int = field(default=0, init=False)
    _first_jd: float | None = field(default=None, init=False)
    _offset: float = field(default=0.0, init=False)  # night time already replayed in earlier loops

    def __post_init__(self) -> None:
        if self.mode not in ("max", "visit-interval", "speed", "rate"):
            raise ValueError(f"unknown pace {self.mode!r}")
        if self.mode != "max" and not self.value > 0:
            raise ValueError(f"--{self.mode} must be > 0 (got {self.value})")

    def describe(self) -> str:
        return {
            "max": "as fast as the broker takes them",
            "visit-interval": f"one visit every {self.value:g} s",
            "speed": f"the night's own timing x{self.value:g}",
            "rate": f"{self.value:g} alerts/s",
        }[self.mode]

    def _start(self) -> float:
        if self._t0 is None:
            self._t0 = time.monotonic()
        return self._t0

    def visit_due(self, jd: float) -> float:
        """Monotonic time at which a new visit (exposure time ``jd``) may start."""
        t0 = self._start()
        due = t0
        if self.mode == "visit-interval":
            due = t0 + self._visits * self.value
        elif self.mode == "speed":
            if self._first_jd is None:
                self._first_jd = jd
            # A visit earlier than the first (unsorted input) goes at once rather than waiting.
            due = t0 + (self._offset + max(0.0, jd - self._first_jd) * SECONDS_PER_DAY) / self.value
        self._visits += 1
        return due

    def alert_due(self) -> float:
        """Monotonic time at which the next alert may go (only ``rate`` spaces alerts)."""
        t0 = self._start()
        due = t0 + self._alerts / self.value if self.mode == "rate" else 0.0
        self._alerts += 1
        return due

    def next_loop(self, last_jd: float | None) -> None:
        """Carries the night's clock over to the next loop (``speed`` only)."""
        if self.mode == "speed" and self._first_jd is not None and last_jd is not None:
            # One interval's breathing room between the last visit and the replayed first one.
            self._offset += (last_jd - self._first_jd) * SECONDS_PER_DAY + 1.0
            self._first_jd = None


def sleep_until(due: float) -> None:
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)
