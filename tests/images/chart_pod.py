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
import re
import subprocess
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
