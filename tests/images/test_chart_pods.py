"""The chart's pods, run for real: the three images built here (`make images`), the chart rendered in
its single-host mode (charts/msb/ci/embedded-values.yaml), every workload's containers run together
in one podman pod, the ZTF night replayed through them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from tests.expected import fink_candids
from tests.images import chart_pod as cp
from tests.k8s.k8s_support import CHART, render

ROOT = Path(__file__).resolve().parents[2]
POD = "msb-single-host"
BOOTSTRAP = "msb-kafka:9092"
NIGHT = 498  # alerts in the ZTF night
# The stream is killed mid-night whatever the start-up times: it reads at most BATCH alerts per
# micro-batch, one batch every TRIGGER_SECONDS, so the night takes it at least 25 batches (~100 s)
# even when it starts after the replay (5 alerts/s, ~100 s: its metrics are read while it runs) ended.
PACE = {"mode": "rate", "value": 5}
BATCH = 20
TRIGGER_SECONDS = 4
pytestmark = pytest.mark.timeout(2400)


def build_images() -> str:
    """`make images` with podman: layers are cached, so an unchanged tree rebuilds in seconds."""
    env = {**os.environ, "CONTAINER_ENGINE": "podman"}
    res = subprocess.run(["bash", str(ROOT / "images" / "build.sh")], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=2400)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return res.stdout


def single_host_values(shared: Path, pace: dict[str, Any]) -> dict[str, Any]:
    values = yaml.safe_load((CHART / "ci" / "embedded-values.yaml").read_text())
    values["sharedData"]["hostPath"] = str(shared)
    values["image"] = {"pullPolicy": "Never"}
    values["replay"]["pace"] = pace
    for component in ("replay", "stream", "crossmatch"):
        values.setdefault(component, {})["image"] = {"repository": f"localhost/msb-{component}", "tag": "dev"}
    return values


@pytest.fixture(scope="module")
def images() -> None:
    print(build_images())


@pytest.fixture(scope="module")
def containers_conf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    conf = cp.containers_conf(tmp_path_factory.mktemp("podman") / "containers.conf")
    old = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    yield
    if old is None:
        os.environ.pop("CONTAINERS_CONF")
    else:
        os.environ["CONTAINERS_CONF"] = old


@pytest.fixture(scope="module")
def pod(images: None, containers_conf: None, shared: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[cp.ChartPod]:
    values = single_host_values(shared, PACE)
    values["stream"].update(maxOffsetsPerTrigger=BATCH, extraArgs=["--trigger-seconds", str(TRIGGER_SECONDS)])
    p = cp.chart_pod(render(values), POD)
    cp.run_pod(p, tmp_path_factory.mktemp("pod") / "pod.yaml")
    yield p
    logs = {c: cp.podman("logs", "--tail", "40", f"{POD}-{c}", check=False).stdout for c in p.users}
    print(json.dumps(logs, indent=1)[-20000:], file=sys.stderr)
    cp.remove(p)


def state(container: str) -> str:
    return cp.state(POD, container)


def stream_metrics() -> str:
    return cp.http_get(POD, "driver", 9402, "/metrics")[1]


def archive_candids(archive: Path) -> list[int]:
    """The archive's alerts; folders starting with `_` (the batches' staging) are not the archive."""
    files = [f for f in archive.rglob("*.parquet") if not any(part.startswith("_") for part in
                                                              f.relative_to(archive).parts)]
    return [c for f in files for c in pq.read_table(f, columns=["candid"]).column("candid").to_pylist()]


def replay_answers() -> bool:
    """The replay's metrics (its probe) answer with alerts sent; it exits once the night is sent."""
    status, body = cp.http_get(POD, "replay", 9401, "/metrics")
    if status == 200 and cp.metric(body, "msb_replay_alerts_sent_total") > 0:
        return True
    if state("replay").startswith("exited"):
        logs = cp.podman("logs", "--tail", "10", f"{POD}-replay", check=False)
        raise AssertionError(f"the replay ended before its metrics answered: {logs.stdout}{logs.stderr}"[-2000:])
    return False


def stream_mid_night() -> float:
    """Alerts the stream has read (0 before its first micro-batch); more than half the night would mean
    mid-night was missed. With at most half read, >= 13 micro-batches (>= 48 s) are still ahead of it."""
    read = cp.metric(stream_metrics(), "msb_stream_input_rows_total")
    assert read <= NIGHT // 2, f"the stream read {read:.0f} alerts between two looks: mid-night missed"
    return read


def restarted() -> bool:
    try:
        cp.wait_for("podman to restart the stream", lambda: state("driver").startswith("running"), 20, every=1)
        return True
    except AssertionError:
        return False


def test_the_charts_pods_classify_the_night_and_survive_a_killed_stream(pod: cp.ChartPod, ztf_night: Path) -> None:
    expected = fink_candids(ztf_night)
    assert len(expected) == 291
    cp.wait_for("the replay's metrics", replay_answers, 300, every=1)

    # The stream killed mid-night (some of the night read, not all of it archived), then restarted.
    archive = cp.volume_path(f"{POD}-stream-data") / "archive"
    read = cp.wait_for("the stream mid-night", stream_mid_night, 900, every=1)
    cp.podman("kill", "--signal", "KILL", f"{POD}-driver")
    cp.wait_for("the killed stream to stop", lambda: not state("driver").startswith("running"), 60, every=0.5)
    archived = len(archive_candids(archive))
    assert archived < len(expected), f"the stream had archived all {archived} alerts: killed after the night"
    print(f"stream killed mid-night: {read:.0f} of {NIGHT} alerts read, {archived} of {len(expected)} archived")
    if not restarted():
        cp.podman("start", f"{POD}-driver")  # the restart a Deployment's pod would get

    # Each container runs as its chart's non-root user on a read-only root filesystem.
    for name, uid in pod.users.items():
        assert uid == 10001, f"{name}: runAsUser {uid}"
        inspected = cp.podman("inspect", f"{POD}-{name}", check=False)
        if inspected.returncode != 0 and name in pod.init:
            continue  # podman removes an init container once it has run
        info = json.loads(inspected.stdout)[0]
        assert info["Config"]["User"].split(":")[0] == "10001" and info["HostConfig"]["ReadonlyRootfs"], name
    for name in ("broker", "driver", "crossmatch"):
        cp.wait_for(f"{name} running", lambda n=name: state(n).startswith("running"), 300)
        who = cp.exec_in(POD, name, "sh", "-c", "id -u; touch /probe-write 2>&1; echo rc=$?")
        assert who.stdout.splitlines()[0] == "10001", who.stdout
        assert "Read-only file system" in who.stdout, who.stdout

    # Every alert that passes the cut reaches `classified` and the archive, once in the archive.
    cp.wait_for("every fink alert classified", lambda: expected <= set(cp.classified_candids(POD, BOOTSTRAP)),
                900, every=10)
    assert set(cp.classified_candids(POD, BOOTSTRAP)) == expected
    assert state("replay") == "exited 0"
    cp.wait_for("the archive complete", lambda: len(archive_candids(archive)) >= len(expected), 300)
    candids = archive_candids(archive)
    assert sorted(candids) == sorted(set(candids)), "duplicates in the archive after the restart"
    assert set(candids) == expected

    # Every probe the chart declares answers on its port (the replay's, above, while it ran).
    for probe in pod.probes:
        if probe.container == "replay":
            continue
        if probe.kind == "httpGet":
            status, body = cp.http_get(POD, probe.container, probe.port, probe.path)
            assert status == 200, f"{probe}: {status} {body[:300]}"
        else:
            res = cp.exec_in(POD, probe.container, "python3", "-c",
                             f"import socket; socket.create_connection(('127.0.0.1', {probe.port}), 5)")
            assert res.returncode == 0, f"{probe}: {res.stderr}"
    assert {(pr.container, pr.path) for pr in pod.probes} >= {("crossmatch", "/readyz"), ("driver", "/metrics"),
                                                               ("replay", "/metrics"), ("broker", "")}


# Each image's component package.
COMPONENTS = {"replay": "msb_replay", "stream": "msb_stream", "crossmatch": "msb_crossmatch"}


@pytest.mark.parametrize("image", sorted(COMPONENTS))
def test_msb_entrypoint_in_every_image(images: None, containers_conf: None, image: str) -> None:
    """`--entrypoint msb` reaches every subcommand an image carries (the core's and its component's);
    one of another component says which distribution provides it instead of a traceback."""
    from msb.cli import KNOWN

    base = ["run", "--rm", "--read-only", "--pull=never", "--entrypoint", "msb", f"localhost/msb-{image}:dev"]
    carries = [c for c, p in KNOWN.items() if p.distribution in ("msb", f"msb-{image}")]
    for command in carries:
        res = cp.podman(*base, command, "--help", check=False, timeout=120)
        assert res.returncode == 0 and "usage: msb " in res.stdout, res.stderr[-2000:]
    res = cp.podman(*base, "--help", check=False, timeout=120)
    lacks = [c for c in KNOWN if c not in carries]
    assert f"Not installed here: {', '.join(lacks)}" in " ".join(res.stdout.split()), res.stdout
    for command in lacks:
        res = cp.podman(*base, command, "--topic", "raw", check=False, timeout=120)
        assert res.returncode == 2, res.stdout[-1000:] + res.stderr[-2000:]
        provider = KNOWN[command]
        assert f"it is provided by {provider.distribution} ({provider.folder}/" in res.stderr, res.stderr[-2000:]
        assert "Traceback" not in res.stderr, res.stderr[-2000:]


@pytest.mark.parametrize("image", sorted(COMPONENTS))
def test_an_image_holds_the_core_and_its_own_component_only(images: None, containers_conf: None,
                                                            image: str) -> None:
    """Another component's package cannot be imported in an image (so a component cannot import
    another), nor msb_app; the replay image carries no Spark, astropy, pandas, pyarrow or numpy."""
    own = COMPONENTS[image]
    others = [pkg for pkg in COMPONENTS.values() if pkg != own] + ["msb_app"]
    heavy = ["pyspark", "astropy", "pandas", "pyarrow", "numpy"] if image == "replay" else []
    code = ("import importlib, importlib.metadata as md, sys\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except ModuleNotFoundError:\n"
            "        print('absent', name)\n"
            "    else:\n"
            "        print('present', name)\n"
            "print('distributions', *sorted(d.metadata['Name'] for d in md.distributions()\n"
            "                               if d.metadata['Name'].startswith('msb')))\n")
    res = cp.podman("run", "--rm", "--read-only", "--pull=never", "--entrypoint", "python",
                    f"localhost/msb-{image}:dev", "-c", code, "msb", own, *others, *heavy, check=False, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert lines == ([f"present {p}" for p in ("msb", own)] + [f"absent {p}" for p in (*others, *heavy)]
                     + [f"distributions msb msb-{image}"]), res.stdout


@pytest.mark.parametrize("image", ["stream", "crossmatch"])
def test_images_that_decode_alerts_load_the_compiled_decoder(images: None, containers_conf: None, image: str) -> None:
    """The stream and the crossmatch decode with the columnar decoder's C extension from their venv, not
    the ~10x slower plain-Python module a build without a compiler ships silently. (The replay decodes
    no alerts into columns: its image has no extension.)"""
    code = "from msb.avro import _columns, columnar; print(columnar.compiled(), _columns.__file__)"
    res = cp.podman("run", "--rm", "--read-only", "--pull=never", "--entrypoint", "python",
                    f"localhost/msb-{image}:dev", "-c", code, check=False, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    loaded, path = res.stdout.split()
    assert loaded == "True" and path.startswith("/opt/venv/lib/") and path.endswith(".so"), res.stdout


def test_stream_image_runs_the_projects_python_and_spark(images: None, containers_conf: None) -> None:
    """The same Python minor version and the same pyspark as the project's own environment."""
    import pyspark

    res = cp.podman("run", "--rm", "--read-only", "--pull=never", "localhost/msb-stream:dev", "python3", "-c",
                    "import sys, pyspark; print(f'{sys.version_info[0]}.{sys.version_info[1]} {pyspark.__version__}')",
                    check=False, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == [f"{sys.version_info[0]}.{sys.version_info[1]}", pyspark.__version__]
