"""The container images and the chart's pods (single-host mode) run with podman.

1. `make images` (cached layers reused) and each image's size.
2. The chart's rendered pods (charts/msb/ci/embedded-values.yaml) played as one podman pod, the ZTF
   night replayed as fast as the broker takes it: seconds from `podman kube play` to the first
   classified alert and to every one of the 291 alerts passing `fink`; beside them, in the same run,
   the same four stages as host processes (broker, replay, stream and crossmatch started together by
   `msb run`), so the ratio is the containers' own cost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.record import record
from msb import paths
from tests.expected import fink_candids
from tests.images import chart_pod as cp
from tests.images.test_chart_pods import BOOTSTRAP, build_images, single_host_values
from tests.k8s.k8s_support import render

COMMAND = "make bench BENCH=images"
# What each image installs (images/README.md), and its size before issue 17 (docs/benchmarks.md, 2026-12-01).
HOLDS = {"msb-base:bookworm": "Debian bookworm minbase + Python 3.11",
         "msb-replay:dev": "the core + msb-replay (no numpy, pyarrow, Spark or astropy; tests/images)",
         "msb-stream:dev": "the core with `columnar` + msb-stream, pyspark, Java 17",
         "msb-crossmatch:dev": "the core with `columnar` + msb-crossmatch (pandas, astropy, cdshealpix, aiohttp)"}
BEFORE = {"msb-base:bookworm": "209 MB", "msb-replay:dev": "324 MB", "msb-stream:dev": "1.92 GB",
          "msb-crossmatch:dev": "708 MB"}
POD = "msb-bench"


def image_sizes() -> dict[str, str]:
    out = cp.podman("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").stdout
    sizes = {}
    for line in out.splitlines():
        name, _, size = line.partition(" ")
        name = name.removeprefix("localhost/")
        if name in ("msb-replay:dev", "msb-stream:dev", "msb-crossmatch:dev", "msb-base:bookworm"):
            sizes[name] = size
    return sizes


def pod_timings(work: Path) -> dict[str, float]:
    expected = fink_candids(paths.ztf_night())
    pod = cp.chart_pod(render(single_host_values(paths.shared_dir(), {"mode": "max", "value": 1})), POD)
    try:
        started = cp.run_pod(pod, work / "pod.yaml")
        played = time.monotonic() - started
        cp.wait_for("the catalog build", lambda: cp.state(POD, "crossmatch").startswith("running"), 600, every=0.5)
        catalogs = time.monotonic() - started
        cp.wait_for("a first classified alert", lambda: cp.metric(
            cp.http_get(POD, "crossmatch", 8080, "/metrics")[1], "msb_crossmatch_alerts_classified_total") > 0,
            900, every=0.5)
        first = time.monotonic() - started
        cp.wait_for("every fink alert", lambda: expected <= set(cp.classified_candids(POD, BOOTSTRAP)), 900, every=2)
        every = time.monotonic() - started
    finally:
        cp.remove(pod)
    return {"kube_play": played, "catalogs": catalogs, "first": first, "all": every}


def host_timing(work: Path) -> float:
    """The same night through `msb run` (broker, replay, stream, crossmatch as host processes)."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "msb.cli", "run", "--data", str(paths.ztf_night()),
                    "--out", str(work / "out"), "--catalogs", str(work / "catalogs"), "--visit-interval", "0"],
                   check=True, capture_output=True, timeout=1800)
    return time.monotonic() - t0


def main() -> None:
    os.environ["CONTAINERS_CONF"] = str(cp.containers_conf(Path(tempfile.mkdtemp()) / "containers.conf"))
    t0 = time.monotonic()
    build_images()  # cached layers reused: what a developer's rebuild after a code change costs at most
    build = time.monotonic() - t0
    sizes = image_sizes()
    with tempfile.TemporaryDirectory() as tmp:
        pod = pod_timings(Path(tmp))
        host = host_timing(Path(tmp))
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())  # 1, 5, 15 min: other work on the 2 cores
    rows = "\n".join(f"| `{name}` | {size} | {HOLDS.get(name, '')} | {BEFORE.get(name, '')} |"
                     for name, size in sorted(sizes.items()))
    body = f"""
| image | size | holds | 2026-12-01 (every image carried all three components; the core had no numpy or pyarrow) |
|---|---|---|---|
{rows}

`make images` with podman, base and dependency layers cached: {build:.0f} s for the three images
(a first build here, with the pyspark wheel built and Java installed, took about 6 minutes).

The chart's pods in single-host mode (`charts/msb/ci/embedded-values.yaml`: embedded broker, Spark
`local[2]` in the driver pod, catalogs built by the crossmatch's init container), played with
`podman kube play` as one pod, the ZTF night (498 alerts) replayed at full speed:

| from `podman kube play` to | seconds |
|---|---|
| `podman kube play` returned (it waits for the init container: the catalog store built) | {pod['kube_play']:.1f} |
| crossmatch running | {pod['catalogs']:.1f} |
| first classified alert | {pod['first']:.1f} |
| all 291 alerts passing `fink` on `classified` | {pod['all']:.1f} |

Same night, same stages as host processes (`msb run --visit-interval 0`, catalogs built, start to
end): {host:.1f} s; the pod takes {pod['all'] / host:.2f}x that, container start-up and the catalog
build included. Load average during the run: {load}.
"""
    record("images", "Container images and the chart's pods", COMMAND, body)


if __name__ == "__main__":
    main()
