"""The end-of-run summary of ``msb run``, from what the stages left behind (Kafka and Parquet), so
it holds whatever process restarted on the way.

End-to-end latency is per visit: from each alert's ``msb_sent_ns`` (set by the replay) to its
``classified_ns`` (set by the crossmatch when it produced the classified record). A visit is a run
of consecutively sent alerts with the same exposure time (jd), so a looping replay's repeats count
as new visits.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from msb_app.live import KafkaWatch
from msb_app.livestats import total


@dataclass
class VisitLatency:
    jd: float
    alerts: int
    p50: float
    p99: float
    max: float


@dataclass
class Outcome:
    archive_rows: int = 0
    passed: set[int] = field(default_factory=set)  # distinct candids that passed the quality cut
    classified: set[int] = field(default_factory=set)
    mix: Counter[str] = field(default_factory=Counter)
    visits: list[VisitLatency] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def missing(self) -> set[int]:
        return self.passed - self.classified


def has_parquet(folder: Path) -> bool:
    """Whether a Parquet reader finds data here: files under ``_``/``.`` folders (staging) do not count."""
    return folder.is_dir() and any(not any(part[0] in "_." for part in f.relative_to(folder).parts)
                                   for f in folder.rglob("*.parquet"))


def _table(folder: Path, columns: list[str]) -> Any:
    if not has_parquet(folder):
        return None
    return pq.read_table(folder, columns=columns).to_pandas()


def _q(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def visit_latencies(frame: Any) -> list[VisitLatency]:
    """Per visit latency from classified rows (candid, jd, msb_sent_ns, classified_ns), first copy of each."""
    rows = frame.dropna(subset=["msb_sent_ns", "classified_ns"]).sort_values("classified_ns")
    rows = rows.drop_duplicates("candid").sort_values("msb_sent_ns")
    visits: list[VisitLatency] = []
    current: list[float] = []
    jd: float | None = None
    for row_jd, sent, done in zip(rows["jd"], rows["msb_sent_ns"], rows["classified_ns"], strict=True):
        if jd is not None and row_jd != jd:
            visits.append(VisitLatency(jd, len(current), _q(current, 0.5), _q(current, 0.99), max(current)))
            current = []
        jd = row_jd
        current.append((done - sent) / 1e9)
    if current and jd is not None:
        visits.append(VisitLatency(jd, len(current), _q(current, 0.5), _q(current, 0.99), max(current)))
    return visits


def collect(out: Path) -> Outcome:
    o = Outcome()
    archive = _table(out / "archive", ["candid"])
    if archive is not None:
        o.archive_rows = len(archive)
        o.passed = set(archive["candid"].tolist())
    classified = _table(out / "classified", ["candid", "jd", "classification", "msb_sent_ns", "classified_ns"])
    if classified is not None:
        first = classified.sort_values("classified_ns").drop_duplicates("candid")
        o.classified = set(first["candid"].tolist())
        o.mix = Counter(first["classification"].tolist())
        o.visits = visit_latencies(classified)
        lat = first.dropna(subset=["msb_sent_ns"])
        o.latencies = ((lat["classified_ns"] - lat["msb_sent_ns"]) / 1e9).tolist()
    return o


def latency_lines(o: Outcome, show: int = 12) -> list[str]:
    if not o.visits:
        return ["  no classified alert carries a send time"]
    lines = [f"  {'visit':>5} {'jd':>16} {'alerts':>7} {'p50 s':>7} {'p99 s':>7} {'max s':>7}"]
    numbers = range(len(o.visits))
    shown = numbers if len(o.visits) <= show else [*numbers[: show // 2], *numbers[-show // 2:]]
    for i, n in enumerate(shown):
        if len(o.visits) > show and i == show // 2:
            lines.append(f"  {'...':>5} ({len(o.visits) - show} more visits)")
        v = o.visits[n]  # by position: a looped night repeats its visits' jd
        lines.append(f"  {n + 1:>5} {v.jd:>16.5f} {v.alerts:>7} {v.p50:>7.2f} {v.p99:>7.2f} {v.max:>7.2f}")
    p50, p99 = _q(o.latencies, 0.5), _q(o.latencies, 0.99)
    lines.append(f"  all {len(o.latencies)} alerts: p50 {p50:.2f} s, p99 {p99:.2f} s;"
                 f" worst visit p99 {max(v.p99 for v in o.visits):.2f} s")
    return lines


def mix_lines(o: Outcome) -> list[str]:
    lines = [f"  {'classification':<24} {'alerts':>8}"]
    lines += [f"  {cls:<24} {n:>8}" for cls, n in o.mix.most_common()]
    lines.append(f"  {'total (distinct)':<24} {len(o.classified):>8}")
    return lines


def _kafka_counts(bootstrap: str, topics: list[str]) -> dict[str, int | None]:
    """Messages in each topic (sum of end offsets), None where Kafka does not answer."""
    try:
        watch = KafkaWatch(bootstrap)
    except Exception:  # noqa: BLE001 - the summary prints what it can
        return dict.fromkeys(topics)
    try:
        out: dict[str, int | None] = {}
        for t in topics:
            try:
                out[t] = watch.end(t)
            except Exception:  # noqa: BLE001
                out[t] = None
        return out
    finally:
        watch.close()


def replay_figures(summary_file: Path, scraped: Any) -> tuple[int, int, str]:
    """Visits and bytes the replay sent: from its own summary when it ended by itself, else from
    its last /metrics scrape (a replay stopped by Ctrl-C or killed), which may miss its last moments."""
    try:
        data = json.loads(summary_file.read_text())
        return int(data["visits"]), int(data["bytes"]), ""
    except (OSError, ValueError, KeyError):
        return (int(total(scraped, "msb_replay_visits_sent_total")),
                int(total(scraped, "msb_replay_bytes_sent_total")), " (last /metrics scrape)")


def print_summary(run: Any, outcome: str, setup_lines: list[str], elapsed: float) -> int:
    """Prints what the live run did; returns the exit code."""
    t = run.topics
    broker_ok = not outcome.startswith("broker lost")
    counts = _kafka_counts(run.bootstrap, [t.raw, t.dead_letters]) if broker_ok else {}
    o = collect(run.args.out)
    replay = run.scraper.seen.get("replay") if run.scraper else None
    raw, dead = counts.get(t.raw), counts.get(t.dead_letters)
    print("\nmsb run summary (live: every stage at once)")
    for line in setup_lines:
        print(line)
    visits, sent_bytes, source = replay_figures(run.replay_summary_file, replay)
    if run.stages["replay"].starts > 1:  # each process counts only what it sent itself
        source += " (its last process: it was restarted)"
    print("replay")
    print(f"  alerts delivered   {'?' if raw is None else raw} (topic {t.raw!r}), "
          f"visits {visits}, {sent_bytes / 1e6:.1f} MB{source}")
    if run.replay_seconds and raw:
        print(f"  rate               {raw / run.replay_seconds:.0f} alerts/s over {run.replay_seconds:.1f} s")
    print("stream")
    print(f"  quality passed {len(o.passed)} distinct alerts ({o.archive_rows} archive rows in "
          f"{run.args.out / 'archive'})")
    cut = None if raw is None or dead is None else raw - dead - o.archive_rows
    print(f"  cut                {'?' if cut is None else cut}, dead letters {'?' if dead is None else dead}")
    print("crossmatch")
    for line in mix_lines(o):
        print(line)
    print(f"  written to {run.args.out / 'classified'} (Parquet) and topic {t.classified!r}")
    print("end-to-end latency per visit (replay send -> classified record)")
    for line in latency_lines(o):
        print(line)
    for event in run.events:
        print(f"event: {event}")
    peak = run.memory.peak if run.memory is not None else None
    if peak is not None:
        over = peak.over(run.memory.warn_share)
        print(f"broker memory (embedded, at its peak): {peak.describe()}"
              + (" - over --broker-memory-warn: tansu applies no retention" if over else ""))
    print(f"elapsed {elapsed:.1f} s; logs in {run.args.out / 'logs'}")
    missing = o.missing
    complete = not missing and (raw is None or dead is None or o.archive_rows + dead <= raw)
    if outcome == "done" and complete and not dead:
        print("OK")
        return 0
    if outcome == "interrupted" and run.args.forever:  # the normal end of --forever: in-flight alerts are fine
        print("OK: stopped by Ctrl-C" + (f" ({len(missing)} alerts were still in flight)" if missing else ""))
        return 0
    reasons = [] if outcome == "done" else [outcome]
    if missing:
        reasons.append(f"INCOMPLETE: {len(missing)} of {len(o.passed)} distinct alerts that passed the quality cut "
                       "were not classified")
    if dead:
        reasons.append(f"{dead} replayed messages could not be decoded (see {t.dead_letters!r})")
    print("FAILED: " + "; ".join(reasons or ["see above"]))
    return 130 if outcome == "interrupted" else (4 if not broker_ok else 1)
