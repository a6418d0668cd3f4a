"""Every pod the chart runs meets the restricted Pod Security Standard, for every values variant and
the dev cluster's values: msb's namespace enforces it (k8s/namespace.yaml)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from k8s_support import REPO, load_yaml, render, values_of, variants
from pod_security import Violation, pods_of, restricted_violations

DEV_VALUES = REPO / "k8s" / "values-dev.yaml"
VARIANTS = variants(DEV_VALUES)


def _development_only(values: dict[str, Any]) -> set[Violation]:
    """The one exception: sharedData.hostPath, a node folder for single-host development runs (named
    so in values.yaml). It is a hostPath volume, which the standard forbids; nothing else may be."""
    path = (values.get("sharedData") or {}).get("hostPath")
    if not path:
        return set()
    return {Violation("HostPath Volumes", f"volume shared ({path})"),
            Violation("Volume Types", "volume shared (hostPath)")}


@pytest.mark.parametrize("path", VARIANTS)
def test_every_pod_meets_the_restricted_profile(path: Path | None) -> None:
    values = values_of(path)
    docs = render(values)
    pods = pods_of(docs)
    kinds = {where.split("/")[0] for where, _, _ in pods}
    assert "Deployment" in kinds
    if values.get("stream", {}).get("mode") != "sparkApplication":
        assert any("executor pod template" in where for where, _, _ in pods)
    if values.get("kafka", {}).get("mode", "strimzi") == "strimzi":
        assert any(where.startswith("Kafka/") for where, _, _ in pods)  # Strimzi's containers are covered
    allowed = _development_only(values)
    problems = [f"{where}: {v}" for where, spec, annotations in pods
                for v in restricted_violations(spec, annotations) if v not in allowed]
    assert not problems, "\n".join(problems)


def test_host_path_is_the_one_exception_and_is_caught() -> None:
    """The single-host variant's hostPath is reported (and only it is excused); without it, the same
    pods pass outright."""
    values = load_yaml(REPO / "charts" / "msb" / "ci" / "embedded-values.yaml")
    found = {v for _, spec, ann in pods_of(render(values)) for v in restricted_violations(spec, ann)}
    assert found == _development_only(values) and found
    values["sharedData"] = {"existingClaim": "shared-data"}
    assert not [v for _, spec, ann in pods_of(render(values)) for v in restricted_violations(spec, ann)]


def _good_pod() -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False,
                                                          "capabilities": {"drop": ["ALL"]}},
                        "ports": [{"containerPort": 8080}], "readinessProbe": {"httpGet": {"port": 8080}}}],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "c", "configMap": {"name": "x"}},
                    {"name": "p", "persistentVolumeClaim": {"claimName": "x"}}, {"name": "s", "secret": {}}],
    }


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["containers"][0]


BREAKS = [  # (control, how to break it)
    ("HostProcess", lambda p: p["securityContext"].update(windowsOptions={"hostProcess": True})),
    ("Host Namespaces", lambda p: p.update(hostNetwork=True)),
    ("Host Namespaces", lambda p: p.update(hostPID=True)),
    ("Host Namespaces", lambda p: p.update(hostIPC=True)),
    ("Privileged Containers", lambda p: _container(p)["securityContext"].update(privileged=True)),
    ("Capabilities (baseline)", lambda p: _container(p)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"])),
    ("Capabilities", lambda p: _container(p)["securityContext"]["capabilities"].update(add=["CHOWN"])),
    ("Capabilities", lambda p: _container(p)["securityContext"]["capabilities"].update(drop=["NET_RAW"])),
    ("HostPath Volumes", lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}})),
    ("Volume Types", lambda p: p["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}})),
    ("Host Ports", lambda p: _container(p)["ports"][0].update(hostPort=8080)),
    ("Host Probes / Lifecycle Hooks", lambda p: _container(p)["readinessProbe"]["httpGet"].update(host="10.0.0.1")),
    ("Host Probes / Lifecycle Hooks",
     lambda p: _container(p).update(lifecycle={"preStop": {"tcpSocket": {"port": 1, "host": "node"}}})),
    ("AppArmor", lambda p: p["securityContext"].update(appArmorProfile={"type": "Unconfined"})),
    ("SELinux", lambda p: _container(p)["securityContext"].update(seLinuxOptions={"type": "spc_t"})),
    ("SELinux", lambda p: p["securityContext"].update(seLinuxOptions={"user": "root"})),
    ("/proc Mount Type", lambda p: _container(p)["securityContext"].update(procMount="Unmasked")),
    ("Seccomp", lambda p: p["securityContext"].update(seccompProfile={"type": "Unconfined"})),
    ("Seccomp", lambda p: p["securityContext"].pop("seccompProfile")),
    ("Seccomp", lambda p: _container(p)["securityContext"].update(seccompProfile={"type": "Unconfined"})),
    ("Sysctls", lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}])),
    ("Privilege Escalation", lambda p: _container(p)["securityContext"].pop("allowPrivilegeEscalation")),
    ("Running as Non-root", lambda p: p["securityContext"].pop("runAsNonRoot")),
    ("Running as Non-root", lambda p: _container(p)["securityContext"].update(runAsNonRoot=False)),
    ("Running as Non-root user", lambda p: _container(p)["securityContext"].update(runAsUser=0)),
    ("Privilege Escalation", lambda p: p.update(initContainers=[
        {"name": "i", "securityContext": {"capabilities": {"drop": ["ALL"]}}}])),
]


def test_a_compliant_pod_passes() -> None:
    assert restricted_violations(_good_pod()) == []
    pod = _good_pod()  # container-level settings instead of the pod's
    moved = pod.pop("securityContext")
    _container(pod)["securityContext"].update(runAsNonRoot=True, seccompProfile=moved["seccompProfile"])
    _container(pod)["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert restricted_violations(pod) == []


@pytest.mark.parametrize("control,breaking", BREAKS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(BREAKS)])
def test_each_control_is_checked(control: str, breaking: Any) -> None:
    pod = copy.deepcopy(_good_pod())
    breaking(pod)
    assert control in {v.control for v in restricted_violations(pod)}


def test_apparmor_annotation_is_checked() -> None:
    bad = {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}
    assert {v.control for v in restricted_violations(_good_pod(), bad)} == {"AppArmor"}
    ok = {"container.apparmor.security.beta.kubernetes.io/c": "runtime/default"}
    assert restricted_violations(_good_pod(), ok) == []
