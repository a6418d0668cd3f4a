"""How much memory the embedded broker holds, against how much it can still get.

tansu (0.6.0, memory storage) keeps every record of every topic until the topic is deleted: it
stores a topic's ``retention.ms`` / ``retention.bytes`` but applies neither (README, "msb broker").
A long run therefore grows without bound; ``msb broker`` and ``msb run`` measure it and warn.

"Can still get" is what the machine has available (MemAvailable), or less if the broker's
container (cgroup) has a memory limit closer than that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WARN_SHARE = 0.5
REWARN_STEP = 0.1  # after a warning, the next one when the share has grown this much more


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return 0  # a zombie has no VmRSS line


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (read from /proc: its children file is not always there)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def available_bytes() -> int:
    """Memory the machine can still give (MemAvailable), or the container's headroom if that is less."""
    available = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    cgroup = Path("/sys/fs/cgroup")
    for limit_file, usage_file in (("memory.max", "memory.current"),  # cgroup v2
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):  # v1
        limit, usage = _read_int(cgroup / limit_file), _read_int(cgroup / usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:  # v1 says "no limit" as a huge number
            available = min(available, max(limit - usage, 0))
            break
    return available


def size_text(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


@dataclass(frozen=True)
class BrokerMemory:
    """Resident bytes of tansu and of msb's front (the ``msb broker`` process), and what is still available."""

    tansu: int
    front: int
    available: int

    @property
    def held(self) -> int:
        return self.tansu + self.front

    @property
    def share(self) -> float:
        """The part of the memory the broker can reach (what it holds + what is available) that it holds."""
        reach = self.held + self.available
        return self.held / reach if reach else 0.0

    def describe(self) -> str:
        return (f"{size_text(self.held)} (tansu {size_text(self.tansu)}, front {size_text(self.front)}), "
                f"{self.share:.0%} of the memory it can reach")

    def over(self, warn_share: float) -> bool:
        return 0 < warn_share <= self.share

    def warning(self) -> str:
        return (f"WARNING: the broker holds {self.describe()}. tansu keeps every record of every topic in "
                "memory and applies no retention: restart the broker (its topics are lost) or delete the topics "
                "no longer needed before the machine runs out")


def measure(front_pid: int, tansu_pid: int | None = None) -> tuple[BrokerMemory, int] | None:
    """(memory, tansu's pid) of the ``msb broker`` process ``front_pid`` (tansu: its child, found if not
    given); None if the broker is gone."""
    front = rss_bytes(front_pid)
    if front is None:
        return None
    if tansu_pid is None:
        children = child_pids(front_pid)
        tansu_pid = children[0] if children else None
    tansu = rss_bytes(tansu_pid) if tansu_pid is not None else None
    return BrokerMemory(tansu or 0, front, available_bytes()), tansu_pid or 0


class MemoryWatch:
    """Measures the broker now and then; says a warning when it crosses ``warn_share``, and again each
    time its share has grown by REWARN_STEP more (0 turns the warning off)."""

    def __init__(self, front_pid: int, warn_share: float = DEFAULT_WARN_SHARE, tansu_pid: int | None = None) -> None:
        self.front_pid, self.tansu_pid, self.warn_share = front_pid, tansu_pid, warn_share
        self.last: BrokerMemory | None = None
        self.peak: BrokerMemory | None = None
        self._next_warning = warn_share

    def check(self) -> str | None:
        """Measures; returns a warning to show, or None."""
        found = measure(self.front_pid, self.tansu_pid or None)
        if found is None:
            return None
        self.last, self.tansu_pid = found
        if self.peak is None or self.last.held > self.peak.held:
            self.peak = self.last
        if self.warn_share > 0 and self.last.share >= self._next_warning:
            self._next_warning = self.last.share + REWARN_STEP
            return self.last.warning()
        return None
