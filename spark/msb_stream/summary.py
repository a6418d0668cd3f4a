"""What a stream run did: counts per output, latencies, batches (``run_stream`` returns it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StreamTopics:
    processed: str
    dead_letters: str
    filters: dict[str, list[str]]  # filter name -> its topics (the fink distribution: one per survey)


@dataclass
class StreamSummary:
    """Updated after every micro-batch (``StreamJob.summary``), final once ``run`` returns."""

    filters: dict[str, int]  # alerts published per filter
    topic_counts: dict[str, int] = field(default_factory=dict)  # messages per filter topic
    distribution: str = ""  # of the filter topics: fink or container
    input: int = 0  # messages read
    decoded: int = 0
    dead_letters: int = 0
    decode_fallbacks: int = 0  # alerts fastavro decoded (the compiled plan could not apply)
    quality_passed: int = 0
    batches: int = 0
    skipped_batches: int = 0  # committed before a restart, so not run again
    batch_log: list[tuple[int, float]] = field(default_factory=list)  # (messages, seconds) per batch
    seconds: float = 0.0
    warm_up_s: float = 0.0  # the Python workers readied before the query started
    latency_p50_s: float | None = None  # replay send (msb_sent_ns) -> outputs written
    latency_p99_s: float | None = None
    topics: StreamTopics | None = None
    archive: str = ""
    kafka_format: str = ""
    quality: str = ""  # the cut, described
    metrics_port: int | None = None

    def add_batch(self, messages: int, dead: int, passed: int, filters: dict[str, int], seconds: float,
                  fallbacks: int = 0) -> None:
        self.batches += 1
        self.decode_fallbacks += fallbacks
        self.input += messages
        self.decoded += messages - dead
        self.dead_letters += dead
        self.quality_passed += passed
        for name, n in filters.items():
            self.filters[name] = self.filters.get(name, 0) + n
        self.batch_log.append((messages, round(seconds, 3)))

    def detail_lines(self) -> list[str]:
        """Per output, what went where (``lines`` without its heading)."""
        t = self.topics or StreamTopics("?", "?", {})
        out = [
            f"decoded        {self.decoded}" + (f"  ({self.decode_fallbacks} by fastavro: the compiled plan could "
                                                    "not apply)" if self.decode_fallbacks else ""),
            f"dead letters   {self.dead_letters}  -> {t.dead_letters}",
            f"quality passed {self.quality_passed}  ({self.quality})  -> {t.processed}, {self.archive}",
        ]
        for name, n in self.filters.items():
            topics = ", ".join(f"{topic} ({self.topic_counts.get(topic, 0)})" for topic in t.filters.get(name, []))
            out.append(f"filter {name:<24} {n:>6}  -> {topics or '?'}")
        if self.latency_p50_s is not None:
            out.append(f"end-to-end latency p50 {self.latency_p50_s} s, p99 {self.latency_p99_s} s")
        if self.skipped_batches:
            out.append(f"{self.skipped_batches} batch(es) already committed before a restart, skipped")
        return out

    def lines(self) -> list[str]:
        head = (f"msb stream: {self.input} messages in {self.batches} batches, {self.seconds} s "
                f"({self.kafka_format} Kafka source; Python workers readied in {self.warm_up_s} s; "
                f"filter topics: {self.distribution or '?'} distribution)")
        return [head] + [f"  {line}" for line in self.detail_lines()]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
