"""Progress display: a live bar on a terminal, plain log lines otherwise (CI, pipes, k8s logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Reporter:
    """Counts work and shows it. ``total`` may be unknown (None)."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None,
                 log_every: float = 5.0, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.done = 0
        self.note = ""
        self._log_every = log_every
        self._last_log = time.monotonic()
        self._live = enabled and self.stream.isatty()  # disabled: log lines only, no bar
        self._progress: Progress | None = None
        self._task = None
        if self._live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                console=Console(file=self.stream), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=total, note="")

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.done += n
        if note is not None:
            self.note = note
        if self._progress is not None:
            self._progress.update(self._task, advance=n, note=self.note)
        elif time.monotonic() - self._last_log >= self._log_every:
            self.log(f"{self.label}: {self.done} {self.note}")
            self._last_log = time.monotonic()

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
