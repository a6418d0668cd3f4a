"""A real Prometheus server (Debian's `prometheus`) scraping local targets, for tests.

    with PrometheusServer({"replay": ["127.0.0.1:9401"]}, tmp_path) as prom:
        prom.wait_for_targets()
        prom.query("sum(msb_replay_alerts_sent_total)")
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class PrometheusError(RuntimeError):
    pass


class PrometheusServer:
    """Starts `prometheus` on a free port with a generated scrape config; stops it on exit."""

    def __init__(self, targets: dict[str, list[str]], workdir: Path, scrape_interval: str = "1s",
                 rule_files: list[Path] | None = None) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise PrometheusError("prometheus is not installed (Debian package `prometheus`, .ci/system-deps.sh)")
        self.binary = binary
        self.targets = targets
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scrape_interval = scrape_interval
        self.rule_files = rule_files or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "prometheus.log"

    def config(self) -> dict[str, Any]:
        return {
            # A fast evaluation interval also makes `[10m:]` subqueries resolve at 1 s steps.
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval,
                       "scrape_timeout": self.scrape_interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(addrs)}]}
                for job, addrs in self.targets.items()
            ],
        }

    def __enter__(self) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config()))
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
                 # Debian's build wants its console files unless told otherwise.
                 f"--web.console.templates={self.workdir}", f"--web.console.libraries={self.workdir}"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400/422: a bad query, with Prometheus' reason
            body = json.loads(exc.read() or b"{}")
            raise PrometheusError(f"{path} {params}: {body.get('error', exc)}") from exc

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise PrometheusError(f"prometheus not ready after {timeout}s: {self.log.read_text()[-2000:]}")

    def active_targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets")["data"]["activeTargets"])

    def wait_for_targets(self, timeout: float = 30, scrapes: int = 2) -> None:
        """Waits until every target is up and has been scraped a few times."""
        deadline = time.monotonic() + timeout
        expected = sum(len(v) for v in self.targets.values())
        while time.monotonic() < deadline:
            targets = self.active_targets()
            if len(targets) == expected and all(t["health"] == "up" for t in targets):
                time.sleep(scrapes * _seconds(self.scrape_interval))
                return
            time.sleep(0.3)
        raise PrometheusError(f"targets not up after {timeout}s: {self.active_targets()}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the result vector (or a one-element list for a scalar)."""
        data = self._get("/api/v1/query", {"query": expr})["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def rules(self) -> list[dict[str, Any]]:
        return [r for g in self._get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * units[unit]
    return float(duration)
