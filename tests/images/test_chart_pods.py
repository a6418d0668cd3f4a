"""The chart's pods, run for real: the three images built here (`make images`), the chart rendered in
its single-host mode (charts/msb/ci/embedded-values.yaml), every workload's containers run together
in one podman pod, the ZTF night replayed through them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from msb.avro import AlertDecoder
from tests.images.chart_pod import ChartPod, chart_pod, create_volumes, podman, remove, volume_path
from tests.k8s.k8s_support import CHART, render

ROOT = Path(__file__).resolve().parents[2]
POD = "msb-single-host"
pytestmark = pytest.mark.timeout(2400)


def fink_candids(night: Path) -> set[int]:
    decoder = AlertDecoder()
    out = set()
    for path in night.glob("*.avro"):
        c = decoder.decode(path.read_bytes())["candidate"]
        if c["nbad"] == 0 and c["rb"] >= 0.55 and c["fid"] != 3:
            out.add(c["candid"])
    return out


@pytest.fixture(scope="module")
def images() -> None:
    """`make images` (podman here): layers are cached, so an unchanged tree rebuilds in seconds."""
    env = {**os.environ, "CONTAINER_ENGINE": "podman"}
    res = subprocess.run(["bash", str(ROOT / "images" / "build.sh")], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=2400)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    print(res.stdout)


@pytest.fixture(scope="module")
def containers_conf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """runc and explicit ulimits for every container of the pod (crun and the host's defaults fail here).
    Soft = hard: podman 4.3 swaps the two of a `default_ulimits` pair."""
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
                    '[engine]\nruntime = "runc"\n')
    old = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    yield
    if old is None:
        os.environ.pop("CONTAINERS_CONF")
    else:
        os.environ["CONTAINERS_CONF"] = old


@pytest.fixture(scope="module")
def rendered(shared: Path) -> list[dict[str, Any]]:
    values = yaml.safe_load((CHART / "ci" / "embedded-values.yaml").read_text())
    values["sharedData"]["hostPath"] = str(shared)
    values["image"] = {"pullPolicy": "Never"}
    # Slow enough that the stream is killed mid-night: ~100 s for the 498 alerts.
    values["replay"]["pace"] = {"mode": "rate", "value": 5}
    for component in ("replay", "stream", "crossmatch"):
        values.setdefault(component, {})["image"] = {"repository": f"localhost/msb-{component}", "tag": "dev"}
    return render(values)


@pytest.fixture(scope="module")
def pod(images: None, containers_conf: None, rendered: list[dict[str, Any]],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChartPod, float]]:
    p = chart_pod(rendered, POD)
    remove(p)
    create_volumes(p)
    spec = tmp_path_factory.mktemp("pod") / "pod.yaml"
    spec.write_text(p.yaml())
    started = time.monotonic()
    podman("kube", "play", str(spec), timeout=900)
    yield p, started
    logs = {c: podman("logs", "--tail", "40", f"{POD}-{c}", check=False).stdout
            for c in p.users}
    print(json.dumps(logs, indent=1)[-20000:], file=sys.stderr)
    remove(p)


def ctr(name: str) -> str:
    return f"{POD}-{name}"


def exec_in(container: str, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return podman("exec", ctr(container), *cmd, check=False, timeout=timeout)


def http_get(container: str, port: int, path: str) -> tuple[int, str]:
    code = ("import sys, urllib.request, urllib.error\n"
            "try:\n r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status); print(r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode())\n")
    res = exec_in(container, "python3", "-c", code, f"http://127.0.0.1:{port}{path}")
    if res.returncode != 0:
        return 0, res.stderr
    status, _, body = res.stdout.partition("\n")
    return int(status), body


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#") and line[len(name)] in " {")


def classified_candids() -> list[int]:
    res = exec_in("crossmatch", "msb", "consume", "--topic", "classified", "--json", "--idle", "3",
                  "--bootstrap", "msb-kafka:9092", timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return [json.loads(line)["candid"] for line in res.stdout.splitlines() if line.startswith("{")]


def wait_for(what: str, check: Any, timeout: float, every: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def state(name: str) -> str:
    return podman("inspect", ctr(name), "--format", "{{.State.Status}} {{.State.ExitCode}}",
                  check=False).stdout.strip()


def stream_metrics() -> str:
    return http_get("driver", 9402, "/metrics")[1]


def test_the_charts_pods_classify_the_night_and_survive_a_killed_stream(
        pod: tuple[ChartPod, float], ztf_night: Path) -> None:
    p, started = pod
    expected = fink_candids(ztf_night)
    assert len(expected) == 291

    # Each container runs as its chart's non-root user on a read-only root filesystem.
    for name, uid in p.users.items():
        if name == "build-catalogs":  # an init container: done before the others start
            continue
        assert uid == 10001, f"{name}: runAsUser {uid}"
        if name == "replay":
            continue  # may already be done: checked from podman's record below
        wait_for(f"{name} running", lambda n=name: state(n).startswith("running"), 300)
        who = exec_in(name, "sh", "-c", "id -u; touch /probe-write 2>&1; echo rc=$?")
        assert who.stdout.splitlines()[0] == "10001", who.stdout
        assert "Read-only file system" in who.stdout, who.stdout
    info = json.loads(podman("inspect", ctr("replay")).stdout)[0]
    assert info["Config"]["User"].split(":")[0] == "10001" and info["HostConfig"]["ReadonlyRootfs"]

    # The first classified alert, then the stream killed mid-night and restarted.
    first = wait_for("a first classified alert", lambda: metric(
        http_get("crossmatch", 8080, "/metrics")[1], "msb_crossmatch_alerts_classified_total") > 0, 600)
    first_seconds = time.monotonic() - started
    wait_for("the stream mid-night", lambda: 0 < metric(stream_metrics(), "msb_stream_input_rows_total") < 498, 300,
             every=1)
    status, body = http_get("replay", 9401, "/metrics")  # the replay answers while it runs
    assert status == 200 and metric(body, "msb_replay_alerts_sent_total") > 0, body[:500]
    podman("kill", "--signal", "KILL", ctr("driver"))
    wait_for("the killed stream to stop", lambda: not state("driver").startswith("running"), 60, every=0.5)
    if not wait_for_running_again():
        podman("start", ctr("driver"))  # the restart a Deployment's pod would get
    assert first

    # Every alert that passes the cut reaches `classified` and the archive, once in the archive.
    wait_for("every fink alert classified", lambda: expected <= set(classified_candids()), 900, every=10)
    assert set(classified_candids()) == expected
    assert state("replay") == "exited 0"
    archive = volume_path(f"{POD}-stream-data") / "archive"
    wait_for("the archive complete", lambda: len(_archive_candids(archive)) >= len(expected), 300)
    candids = _archive_candids(archive)
    assert sorted(candids) == sorted(set(candids)), "duplicates in the archive after the restart"
    assert set(candids) == expected

    # Every probe the chart declares answers on its port.
    for probe in p.probes:
        if probe.kind == "httpGet":
            status, body = http_get(probe.container, probe.port, probe.path)
            assert status == 200, f"{probe}: {status} {body[:300]}"
        else:
            res = exec_in(probe.container, "python3", "-c",
                          f"import socket; socket.create_connection(('127.0.0.1', {probe.port}), 5)")
            assert res.returncode == 0, f"{probe}: {res.stderr}"
    assert {(pr.container, pr.path) for pr in p.probes} >= {("crossmatch", "/readyz"), ("driver", "/metrics")}
    print(f"first classified alert {first_seconds:.0f} s after `podman kube play`")
    (ROOT / "out").mkdir(exist_ok=True)
    (ROOT / "out" / "chart-pods.json").write_text(json.dumps({"first_classified_seconds": round(first_seconds, 1)}))


def wait_for_running_again() -> bool:
    try:
        wait_for("podman to restart the stream", lambda: state("driver").startswith("running"), 20, every=1)
        return True
    except AssertionError:
        return False


def _archive_candids(archive: Path) -> list[int]:
    files = [f for f in archive.rglob("*.parquet")] if archive.is_dir() else []
    if not files:
        return []
    return [c for f in files for c in pq.read_table(f, columns=["candid"]).column("candid").to_pylist()]


@pytest.mark.parametrize("image,carries,lacks", [
    ("replay", ["replay", "broker", "consume"], "stream"),
    ("stream", ["stream", "replay", "consume"], "xmatch"),
    ("crossmatch", ["xmatch", "catalog", "consume"], "stream"),
])
def test_msb_entrypoint_in_every_image(images: None, containers_conf: None, image: str, carries: list[str],
                                       lacks: str) -> None:
    """`--entrypoint msb` reaches every subcommand an image carries; one it does not carry says which
    extra it needs instead of a traceback."""
    base = ["run", "--rm", "--read-only", "--pull=never", "--entrypoint", "msb", f"localhost/msb-{image}:dev"]
    for command in carries:
        res = podman(*base, command, "--help", check=False, timeout=120)
        assert res.returncode == 0 and f"usage: msb {command}" in res.stdout, res.stderr[-2000:]
    args = {"stream": ["--topic", "raw", "--archive", "/tmp/a", "--checkpoint", "/tmp/c"],
            "xmatch": ["--catalogs", "/tmp/c"]}[lacks]
    res = podman(*base, lacks, *args, check=False, timeout=120)
    assert res.returncode == 2, res.stdout[-1000:] + res.stderr[-2000:]
    assert "pip install 'msb[" in res.stderr and "Traceback" not in res.stderr, res.stderr[-2000:]
