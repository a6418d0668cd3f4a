"""``msb run`` live: broker, replay, stream and crossmatch run at once, as separate processes.

Each stage is the same ``msb <command>`` its container runs (see :mod:`msb_app.stages`), talking
through Kafka only. ``msb run`` starts them, waits until the stream's query runs and the
crossmatch holds its partitions, then starts the replay at the requested pace, shows a dashboard
fed by the stages' own /metrics, restarts a stage that dies (the stream resumes from its
checkpoint, the crossmatch from its group's offsets, the replay with ``--resume``) and ends when
the replay is done and Kafka says everything was processed:

* the stream's last committed batch (its checkpoint) reaches the end of ``raw``;
* the crossmatch group's committed offsets reach the end of ``processed``.

The embedded broker keeps data in memory only: if it dies the run cannot continue, and says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from msb import kafka
from msb.broker import free_port
from msb.broker_memory import MemoryWatch
from msb_app.dashboard import Dashboard
from msb_app.livestats import Scraper, scrape, total
from msb_app.promlocal import prometheus_stage
from msb_app.stageconfigs import GROUP, StageConfigs, Topics, stage_configs
from msb_app.stages import Stage, stop_all

MAX_RESTARTS = 5
STAGE_READY_S = 240.0  # Spark's first start on a busy 2-core machine
DEFAULT_TIMEOUT_S = 900.0  # without --forever


class BrokerLost(RuntimeError):
    """The embedded broker died: its data was in memory, the run cannot go on."""


@dataclass
class Progress:
    """Where each stage stands, in Kafka's terms (independent of process restarts)."""

    raw_end: int = 0
    stream_done: int = 0  # raw messages in the stream's committed batches
    processed_end: int = 0
    classified_done: int = 0  # processed messages the crossmatch group committed

    def lags(self) -> dict[str, float]:
        """Messages each consumer stage has yet to finish: committed work, not just fetched."""
        return {"stream": max(self.raw_end - self.stream_done, 0),
                "crossmatch": max(self.processed_end - self.classified_done, 0)}

    def caught_up(self) -> bool:
        return self.stream_done >= self.raw_end and self.classified_done >= self.processed_end

    def holding(self) -> str:
        return (f"stream: {max(self.raw_end - self.stream_done, 0)} of {self.raw_end} raw messages not yet "
                f"processed; crossmatch: {max(self.processed_end - self.classified_done, 0)} of "
                f"{self.processed_end} processed alerts not yet classified")


def checkpoint_offsets(checkpoint: Path, topic: str) -> int:
    """Sum over partitions of ``topic`` of the end offsets of the stream's last committed batch."""
    commits = [int(p.name) for p in (checkpoint / "commits").glob("[0-9]*") if p.name.isdigit()]
    if not commits:
        return 0
    lines = (checkpoint / "offsets" / str(max(commits))).read_text().splitlines()
    done = 0
    for line in lines[2:]:  # "v1", batch metadata, then one JSON offset per source
        offsets = json.loads(line) if line.startswith("{") else {}
        done += sum(int(v) for v in offsets.get(topic, {}).values())
    return done


class KafkaWatch:
    """End offsets and a group's committed offsets, through one consumer that joins no group."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = Consumer(kafka.consumer_config(bootstrap, GROUP))

    def partitions(self, topic: str) -> list[int]:
        meta = self.consumer.list_topics(topic, timeout=5).topics.get(topic)
        return sorted(meta.partitions) if meta is not None and meta.error is None else []

    def end(self, topic: str) -> int:
        return sum(self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)[1]
                   for p in self.partitions(topic))

    def committed(self, topic: str) -> int:
        tps = [TopicPartition(topic, p) for p in self.partitions(topic)]
        return sum(max(tp.offset, 0) for tp in self.consumer.committed(tps, timeout=5)) if tps else 0

    def close(self) -> None:
        self.consumer.close()


@dataclass
class LiveRun:
    args: argparse.Namespace
    bootstrap: str
    topics: Topics = field(default_factory=Topics)
    stages: dict[str, Stage] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    replay_seconds: float | None = None
    broker_pid: int | None = None
    scraper: Scraper | None = None
    memory: MemoryWatch | None = None  # the embedded broker's memory (None: another Kafka)
    configs: StageConfigs | None = None  # what each stage runs with (build_stages)

    @property
    def replay_summary_file(self) -> Path:
        """The replay's own end-of-run figures (its /metrics end with it, between two scrapes)."""
        return self.args.out / "logs" / "replay-summary.json"

    # ------------------------------------------------------------------ stage commands

    def add_prometheus(self, say: Callable[[str], None]) -> None:
        targets = {n: s.metrics_url.split("/")[2] for n, s in self.stages.items() if s.metrics_url}
        stage, url, note = prometheus_stage(self.args.out, targets, free_port())
        self.stages["prometheus"] = stage
        stage.start()
        say(f"msb run: Prometheus at {url} scraping {', '.join(targets)} every second ({note})")

    def build_stages(self) -> None:
        """Each stage's command line, from the configs msb run builds (stageconfigs): ``msb <command>`` with
        its config's to_args()."""
        a, logs = self.args, self.args.out / "logs"
        self.replay_summary_file.unlink(missing_ok=True)  # an earlier run's, in a reused --out
        ports = {"replay": a.replay_metrics_port or free_port(), "stream": a.stream_metrics_port or free_port(),
                 "crossmatch": a.crossmatch_port or free_port()}
        cfg = stage_configs(a, self.bootstrap, ports, self.topics)
        self.configs = StageConfigs(
            replay=dataclasses.replace(cfg.replay, progress=False, summary_json=self.replay_summary_file),
            stream=cfg.stream,
            crossmatch=dataclasses.replace(cfg.crossmatch, http_host="127.0.0.1"),
        )
        urls = {"replay": f"http://127.0.0.1:{ports['replay']}/metrics",
                "stream": f"http://127.0.0.1:{ports['stream']}/metrics",
                "crossmatch": f"http://127.0.0.1:{ports['crossmatch']}/metrics"}
        for name, command in self.configs.commands().items():
            self.stages[name] = Stage(name, command, logs / f"{name}.log", urls[name])

    def create_topics(self) -> None:
        admin = kafka.wait_for_kafka(self.bootstrap)
        for topic in (self.topics.raw, self.topics.processed, self.topics.classified, self.topics.dead_letters):
            kafka.ensure_topic(admin, topic, self.args.partitions)

    # ------------------------------------------------------------------ start-up

    def _stream_ready(self) -> bool:
        return total(scrape(self.stages["stream"].metrics_url or ""), "msb_stream_query_active") >= 1

    def _crossmatch_ready(self) -> bool:
        url = (self.stages["crossmatch"].metrics_url or "").replace("/metrics", "/readyz")
        try:
            return urllib.request.urlopen(url, timeout=1).status == 200
        except OSError:
            return False

    def start_consumers(self, say: Callable[[str], None]) -> None:
        """The crossmatch and the stream, until both are ready to take alerts (or one fails)."""
        stream, xmatch = self.stages["stream"], self.stages["crossmatch"]
        xmatch.start()
        stream.start({"MSB_SPARK_LOG_LEVEL": os.environ.get("MSB_SPARK_LOG_LEVEL", "ERROR")})
        say(f"msb run: started crossmatch (pid {xmatch.pid}) and stream (pid {stream.pid}); waiting until ready")
        pending = {"stream": self._stream_ready, "crossmatch": self._crossmatch_ready}
        deadline = time.monotonic() + STAGE_READY_S
        while pending:
            for name in list(pending):
                stage = self.stages[name]
                if not stage.running():
                    raise RuntimeError(f"{name} stopped while starting ({stage.ended()}); its log "
                                       f"{stage.log}:\n{stage.tail()}")
                if pending[name]():
                    del pending[name]
            self.check_broker()
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {STAGE_READY_S:.0f} s: {', '.join(pending)}")
            time.sleep(0.3)

    def check_broker(self) -> None:
        if self.broker_pid is None:
            return
        try:
            os.kill(self.broker_pid, 0)
            with open(f"/proc/{self.broker_pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # exited, not yet reaped
                    raise ProcessLookupError
        except (ProcessLookupError, FileNotFoundError):
            raise BrokerLost("the embedded broker stopped; it keeps topics in memory only, so everything in "
                             "flight is gone and the run cannot continue (use --bootstrap for a persistent "
                             "Kafka)") from None

    # ------------------------------------------------------------------ supervision

    def supervise(self, say: Callable[[str], None]) -> None:
        """Restarts a stage that ended unexpectedly; notes the replay's clean end."""
        for name, stage in self.stages.items():
            ended = stage.ended()
            if ended is None or (name == "replay" and self.replay_seconds is not None):
                continue
            if not stage.restartable:  # an observer (Prometheus): the pipeline goes on without it
                if stage.exits:
                    continue
                stage.exits.append(ended)
                say(f"msb run: {name} stopped ({ended}); see {stage.log}")
                continue
            if name == "replay" and ended == "exit 0":
                self.replay_seconds = time.monotonic() - self._replay_started
                say(f"msb run: replay done in {self.replay_seconds:.1f} s")
                continue
            if name == "replay" and ended == "exit 2":  # bad input: a restart would read the same files
                raise RuntimeError(f"the replay found nothing to send in its input:\n{stage.tail(4)}")
            if stage.starts > MAX_RESTARTS:
                raise RuntimeError(f"{name} keeps stopping ({', '.join(stage.exits)}); see {stage.log}")
            stage.exits.append(ended)
            self.events.append(f"{name} stopped ({ended}); restarted")
            say(f"msb run: {name} stopped ({ended}); restarting it (log {stage.log})")
            if name == "replay" and self.configs is not None and not self.configs.replay.resume:
                # what was already delivered is not sent again
                self.configs.replay = dataclasses.replace(self.configs.replay, resume=True)
                stage.args = self.configs.commands()["replay"]
            stage.start({"MSB_SPARK_LOG_LEVEL": "ERROR"} if name == "stream" else None)
            say(f"msb run: {name} restarted as pid {stage.pid}")

    def start_replay(self) -> None:
        self._replay_started = time.monotonic()
        self.stages["replay"].start()

    def progress(self, watch: KafkaWatch) -> Progress:
        t = self.topics
        checkpoint = Path(self.configs.stream.checkpoint) if self.configs else self.args.out / "checkpoint"
        return Progress(raw_end=watch.end(t.raw), stream_done=checkpoint_offsets(checkpoint, t.raw),
                        processed_end=watch.end(t.processed), classified_done=watch.committed(t.processed))

    def states(self) -> dict[str, str]:
        out = {}
        for name, stage in self.stages.items():
            if name == "replay" and self.replay_seconds is not None:
                out[name] = "done"
            else:
                out[name] = ("running" if stage.running() else "stopped") + (
                    f" ({stage.starts - 1} restarts)" if stage.starts > 1 else "")
        return out


def _interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the run as Ctrl-C does: stages stopped, summary printed


def run_live(args: argparse.Namespace, bootstrap: str, broker_pid: int | None) -> tuple[LiveRun, str]:
    """Runs the stages until done, timeout, Ctrl-C or a lost broker; returns the run and how it ended."""
    run = LiveRun(args, bootstrap, broker_pid=broker_pid)
    if broker_pid is not None:
        run.memory = MemoryWatch(broker_pid, args.broker_memory_warn)
    run.build_stages()
    run.create_topics()
    order = [run.stages[n] for n in ("replay", "stream", "crossmatch")]  # stop producers first
    previous = signal.signal(signal.SIGTERM, _interrupt)
    dash = Dashboard(force_plain=args.plain, every=args.dashboard_every)
    watch: KafkaWatch | None = None
    outcome = "done"
    try:
        if args.prometheus:
            run.add_prometheus(lambda m: print(m, file=sys.stderr, flush=True))
            order.append(run.stages["prometheus"])
        run.start_consumers(lambda m: print(m, file=sys.stderr, flush=True))
        scraper = run.scraper = Scraper({n: s.metrics_url for n, s in run.stages.items() if s.metrics_url})
        watch = KafkaWatch(bootstrap)
        run.start_replay()
        t0 = time.monotonic()
        timeout = args.timeout if args.timeout is not None else (0 if args.forever else DEFAULT_TIMEOUT_S)
        deadline = t0 + timeout if timeout else None
        with dash:
            dash.note(f"msb run: replay started (pid {run.stages['replay'].pid}); stages: "
                      + ", ".join(f"{n} {s.pid}" for n, s in run.stages.items()))
            while True:
                run.check_broker()
                run.supervise(dash.note)
                scraper.poll()
                try:
                    progress: Progress | None = run.progress(watch)
                except Exception:  # noqa: BLE001 - a slow answer (busy broker, batch being written) skips a refresh
                    progress = None
                # Once the replay has exited its /metrics are gone: Kafka has its final count.
                sent = progress.raw_end if progress is not None and run.replay_seconds is not None else None
                view = scraper.view(time.monotonic() - t0, run.states(), replayed=sent,
                                    lags=progress.lags() if progress is not None else None)
                if run.memory is not None:
                    warning = run.memory.check()
                    if warning:
                        dash.note(f"msb run: {warning}")
                    view.broker_memory, view.memory_warn = run.memory.last, args.broker_memory_warn
                dash.update(view)
                if (progress is not None and run.replay_seconds is not None and not args.forever
                        and progress.caught_up()):
                    break
                if deadline is not None and time.monotonic() > deadline:
                    outcome = f"timeout after {timeout:g} s: {run.progress(watch).holding()}"
                    break
                time.sleep(0.5)
    except KeyboardInterrupt:
        outcome = "interrupted"
    except BrokerLost as exc:
        outcome = f"broker lost: {exc}"
    except RuntimeError as exc:
        outcome = f"failed: {exc}"
    finally:
        signal.signal(signal.SIGTERM, previous)
        if watch is not None:
            watch.close()
        print("msb run: stopping the stages", file=sys.stderr, flush=True)
        stop_all(order)
    return run, outcome
