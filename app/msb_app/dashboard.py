"""The live terminal dashboard of ``msb run``: a rich table on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from msb_app.livestats import LiveView


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def _mix(mix: dict[str, float], top: int = 6) -> str:
    items = sorted(mix.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k} {v:.0f}" for k, v in items[:top])
    return text + (f", +{len(items) - top} more" if len(items) > top else "") if items else "-"


def broker_memory_text(v: LiveView) -> str | None:
    """The embedded broker's memory, flagged when over the warning share (None: another Kafka)."""
    m = v.broker_memory
    if m is None:
        return None
    return f"broker memory {m.describe()}" + (" - WARNING: tansu applies no retention" if m.over(v.memory_warn) else "")


def plain_line(v: LiveView) -> str:
    parts = [f"[{v.elapsed:6.1f} s]"]
    for s in v.stages:
        lag = "" if s.lag is None else f" lag {s.lag:.0f}"
        parts.append(f"{s.name} {s.state} in {s.alerts_in:.0f} out {s.alerts_out:.0f} ({s.rate:.0f}/s){lag}")
    parts.append(f"latency p50 {_secs(v.latency_p50)} p99 {_secs(v.latency_p99)}")
    if v.dead_letters:
        parts.append(f"dead letters {v.dead_letters:.0f}")
    parts.append(f"mix: {_mix(v.mix)}")
    memory = broker_memory_text(v)
    if memory:
        parts.append(memory)
    return " | ".join(parts)


class Dashboard:
    """``update(view)`` as often as wanted; a terminal redraws in place, other outputs get a line
    every ``every`` seconds (and always the last one, on ``close``)."""

    def __init__(self, out: TextIO | None = None, every: float = 5.0, force_plain: bool = False) -> None:
        self.out = out or sys.stderr
        self.every = every
        self.rich = not force_plain and self.out.isatty()
        self._live: Any = None
        self._last_line = 0.0
        self._view: LiveView | None = None

    def __enter__(self) -> Dashboard:
        if self.rich:  # rich imported here: 42 ms of `msb --help`, which loads this module
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.out), refresh_per_second=2, transient=False)
            self._live.start()
        return self

    def update(self, view: LiveView) -> None:
        self._view = view
        if self._live is not None:
            self._live.update(self._table(view))
        elif time.monotonic() - self._last_line >= self.every:
            self._last_line = time.monotonic()
            print(plain_line(view), file=self.out, flush=True)

    def note(self, text: str) -> None:
        """An event (a stage restarted, the replay done) printed above the dashboard."""
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=self.out, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
        elif self._view is not None:
            print(plain_line(self._view), file=self.out, flush=True)

    @staticmethod
    def _table(v: LiveView) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        t = Table(title=f"msb run - live ({v.elapsed:.0f} s)", title_justify="left")
        for col in ("stage", "state", "alerts in", "alerts out", "rate /s", "lag"):
            t.add_column(col, justify="left" if col in ("stage", "state") else "right")
        for s in v.stages:
            t.add_row(s.name, s.state, f"{s.alerts_in:,.0f}", f"{s.alerts_out:,.0f}", f"{s.rate:,.0f}",
                      "-" if s.lag is None else f"{s.lag:,.0f}")
        lines = [Text(f"end-to-end latency (send -> classified): p50 {_secs(v.latency_p50)}, "
                      f"p99 {_secs(v.latency_p99)}"),
                 Text(f"dead letters: {v.dead_letters:.0f}"),
                 Text(f"classification mix: {_mix(v.mix)}")]
        memory = broker_memory_text(v)
        if memory:
            over = v.broker_memory is not None and v.broker_memory.over(v.memory_warn)
            lines.append(Text(memory, style="bold red" if over else ""))
        return Group(t, *lines)
