"""The chart's workloads as one podman pod: what a single-host cluster would run, without a cluster.

The containers are taken from the rendered Deployments and Jobs as they are (image, command, args,
env, securityContext, volume mounts); only what the kubelet itself would do is done here:
- `$(VAR)` references in command/args are expanded from the container's env, `fieldRef`s resolved;
- each pod's securityContext goes on its containers (one pod holds them all here);
- emptyDirs become fresh world-writable volumes and PVCs volumes owned by the pod's fsGroup;
- every Service name resolves to the pod (hostAliases): containers share one network namespace,
  so the chart's ports must not collide, which this also checks;
- probes are taken off the containers (podman would run them with curl, which the images do not
  carry) and returned, for the test to call on their ports itself.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PODMAN = ["podman", "--runtime", "runc"]
POD_SECURITY_TO_CONTAINER = ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile")
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass
class Probe:
    container: str
    kind: str  # httpGet | tcpSocket
    port: int
    path: str = ""


@dataclass
class ChartPod:
    name: str
    pod: dict[str, Any]
    configmaps: list[dict[str, Any]]
    volumes: dict[str, str]  # podman volume name -> "emptyDir" | "pvc:<fsGroup>"
    probes: list[Probe] = field(default_factory=list)
    users: dict[str, int] = field(default_factory=dict)  # container -> runAsUser
    init: list[str] = field(default_factory=list)  # init containers' names

    def yaml(self) -> str:
        return yaml.safe_dump_all([*self.configmaps, self.pod], sort_keys=False)


def _expand(value: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"container {container['name']}: no port named {port!r}")


def _resolve_env(container: dict[str, Any], pod_name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = _expand(str(var["value"]), env)
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[var["name"]] = pod_name
            var.pop("valueFrom")
            var["value"] = pod_name
        else:
            raise ValueError(f"container {container['name']}: env {var['name']} needs a cluster ({var})")
    return env


def chart_pod(docs: list[dict[str, Any]], name: str) -> ChartPod:
    workloads = [d for d in docs if d["kind"] in ("Deployment", "Job")]
    services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"]
    namespace = next((d["metadata"].get("namespace") for d in docs if d["metadata"].get("namespace")), "msb")
    out = ChartPod(name, {}, [d for d in docs if d["kind"] == "ConfigMap"], {})
    containers: list[dict[str, Any]] = []
    init: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    for w in workloads:
        spec = w["spec"]["template"]["spec"]
        component = w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        pod_security = spec.get("securityContext", {})
        renamed: dict[str, str] = {}
        for v in spec.get("volumes", []):
            new = f"{name}-{component}-{v['name']}"
            renamed[v["name"]] = new
            v = copy.deepcopy(v)
            v["name"] = new
            if "emptyDir" in v:
                out.volumes[new] = "emptyDir"
                v = {"name": new, "persistentVolumeClaim": {"claimName": new}}
            elif "persistentVolumeClaim" in v:
                out.volumes[new] = f"pvc:{pod_security.get('fsGroup', 0)}"
                v["persistentVolumeClaim"] = {"claimName": new}
            volumes.append(v)
        for target, source in ((init, spec.get("initContainers", [])), (containers, spec["containers"])):
            for c in copy.deepcopy(source):
                env = _resolve_env(c, name)
                for key in ("command", "args"):
                    if key in c:
                        c[key] = [_expand(str(a), env) for a in c[key]]
                security = c.setdefault("securityContext", {})
                for key in POD_SECURITY_TO_CONTAINER:
                    if key in pod_security:
                        security.setdefault(key, pod_security[key])
                out.users[c["name"]] = int(security.get("runAsUser", -1))
                if target is init:
                    out.init.append(c["name"])
                for m in c.get("volumeMounts", []):
                    m["name"] = renamed[m["name"]]
                for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                    probe = c.pop(kind, None)
                    if probe and target is containers:
                        how = "httpGet" if "httpGet" in probe else "tcpSocket"
                        out.probes.append(Probe(c["name"], how, _port(c, probe[how]["port"]),
                                                probe[how].get("path", "")))
                c.pop("resources", None)
                target.append(c)
    hosts = sorted({h for s in services for h in (s, f"{s}.{namespace}", f"{s}.{namespace}.svc",
                                                  f"{s}.{namespace}.svc.cluster.local")})
    ports = [p["containerPort"] for c in containers for p in c.get("ports", [])]
    if len(ports) != len(set(ports)):
        raise ValueError(f"containers of one pod share ports: {sorted(ports)}")
    out.pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "msb"}},
        "spec": {
            # Deployments restart what fails; the replay Job's container ends with exit 0 and stays done.
            "restartPolicy": "OnFailure",
            "hostAliases": [{"ip": "127.0.0.1", "hostnames": hosts}],
            "initContainers": init, "containers": containers, "volumes": volumes,
        },
    }
    return out


def podman(*args: str, check: bool = True, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: exit {res.returncode}\n"
                           f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


def create_volumes(pod: ChartPod) -> None:
    """emptyDir: world-writable like the kubelet's; PVC: group-owned by the pod's fsGroup."""
    for vol, kind in pod.volumes.items():
        podman("volume", "rm", "-f", vol, check=False)
        podman("volume", "create", vol)
        mount = Path(podman("volume", "inspect", vol, "--format", "{{.Mountpoint}}").stdout.strip())
        if kind == "emptyDir":
            mount.chmod(0o1777)
        else:
            gid = int(kind.split(":")[1])
            subprocess.run(["chown", f"0:{gid}", str(mount)], check=True)
            mount.chmod(0o2775)


def volume_path(volume: str) -> Path:
    return Path(podman("volume", "inspect", volume, "--format", "{{.Mountpoint}}").stdout.strip())


def remove(pod: ChartPod) -> None:
    podman("pod", "rm", "-f", "-t", "5", pod.name, check=False, timeout=120)
    for vol in pod.volumes:
        podman("volume", "rm", "-f", vol, check=False)


def run_pod(pod: ChartPod, spec: Path) -> float:
    """Volumes created, the pod played; returns the monotonic time `podman kube play` started."""
    remove(pod)
    create_volumes(pod)
    spec.write_text(pod.yaml())
    started = time.monotonic()
    podman("kube", "play", str(spec), timeout=900)
    return started


def exec_in(pod: str, container: str, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return podman("exec", f"{pod}-{container}", *cmd, check=False, timeout=timeout)


def http_get(pod: str, container: str, port: int, path: str) -> tuple[int, str]:
    """GET from inside a container (the images carry Python, not curl): (status, body), 0 if refused."""
    code = ("import sys, urllib.request, urllib.error\n"
            "try:\n r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status); print(r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode())\n")
    res = exec_in(pod, container, "python3", "-c", code, f"http://127.0.0.1:{port}{path}")
    if res.returncode != 0:
        return 0, res.stderr
    status, _, body = res.stdout.partition("\n")
    return int(status), body


def metric(text: str, name: str) -> float:
    """Sum of a metric's samples in Prometheus text format (0 when absent)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#") and line[len(name)] in " {")


def classified_candids(pod: str, bootstrap: str) -> list[int]:
    """Every candid on `classified`, read with `msb consume` from inside the crossmatch container."""
    res = exec_in(pod, "crossmatch", "msb", "consume", "--topic", "classified", "--json", "--idle", "3",
                  "--bootstrap", bootstrap, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return [json.loads(line)["candid"] for line in res.stdout.splitlines() if line.startswith("{")]


def wait_for(what: str, check: Any, timeout: float, every: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def state(pod: str, container: str) -> str:
    """'running 0', 'exited 0', ... ('' for no such container)."""
    return podman("inspect", f"{pod}-{container}", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                  check=False).stdout.strip()


def containers_conf(path: Path) -> Path:
    """runc and explicit ulimits for every container (crun and the host's defaults fail here).
    Soft = hard: podman 4.3 swaps the two of a `default_ulimits` pair. Use as CONTAINERS_CONF."""
    path.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
                    '[engine]\nruntime = "runc"\n')
    return path
