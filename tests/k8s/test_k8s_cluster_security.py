"""The cluster side of least privilege (k8s/): msb's namespace enforces the restricted Pod Security
Standard, Strimzi runs with its restricted pod security provider, and the dev cluster's shared data
comes as a claim (allowed there) rather than a hostPath volume.

install-operators.sh is run for real against recording stand-ins for kubectl and helm (no cluster
here): what it applies and installs, in which order, is what is checked."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kubernetes_validate
import yaml
from k8s_support import KUBE_VERSION, REPO, load_yaml, render

K8S = REPO / "k8s"
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
              "pod-security.kubernetes.io/audit": "restricted"}

# Each stand-in appends its arguments (and what it reads on stdin for `apply -f -`) to $CALLS.
STAND_IN = """#!/usr/bin/env bash
{ printf '%s' "$(basename "$0")"; printf ' %s' "$@"; printf '\\n'; } >> "$CALLS"
if [ "$1" = apply ] || [ "$2" = apply ]; then cat >> "$CALLS"; printf '\\n...\\n' >> "$CALLS"; fi
exit 0
"""


def test_namespace_enforces_the_restricted_profile() -> None:
    namespace = load_yaml(K8S / "namespace.yaml")
    kubernetes_validate.validate(namespace, KUBE_VERSION, strict=True)
    assert namespace["kind"] == "Namespace" and namespace["metadata"]["name"] == "msb"
    labels = namespace["metadata"]["labels"]
    assert {k: labels[k] for k in RESTRICTED} == RESTRICTED
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"


def test_strimzi_values_select_the_restricted_provider() -> None:
    values = load_yaml(K8S / "strimzi-values.yaml")
    assert {"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"} in values["extraEnvs"]
    operator = values["securityContext"]
    assert operator["allowPrivilegeEscalation"] is False and operator["capabilities"]["drop"] == ["ALL"]
    assert operator["runAsNonRoot"] is True and operator["seccompProfile"]["type"] == "RuntimeDefault"


def test_install_operators_labels_the_namespace_before_installing(tmp_path: Path) -> None:
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("kubectl", "helm"):
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "MSB_NAMESPACE": "alerts"}
    res = subprocess.run(["bash", str(K8S / "install-operators.sh")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    log = calls.read_text()
    applied = log.split("kubectl apply -f -\n", 1)[1].split("\n...\n", 1)[0]
    namespace = yaml.safe_load(applied)
    assert namespace["metadata"]["name"] == "alerts"
    assert {k: namespace["metadata"]["labels"][k] for k in RESTRICTED} == RESTRICTED
    strimzi = next(line for line in log.splitlines() if line.startswith("helm upgrade --install strimzi "))
    assert f"--values {K8S / 'strimzi-values.yaml'}" in strimzi and "watchNamespaces={alerts}" in strimzi
    assert log.index("kubectl apply -f -") < log.index("helm upgrade --install strimzi")


def test_dev_cluster_shared_data_is_a_claim() -> None:
    volume, claim = yaml.safe_load_all((K8S / "shared-data.yaml").read_text())
    for doc in (volume, claim):
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    # The kind node's /shared (kind-config.yaml), read-only, bound to exactly this claim.
    nodes = load_yaml(K8S / "kind-config.yaml")["nodes"]
    mounts = [m["containerPath"] for n in nodes for m in n.get("extraMounts", [])]
    assert volume["spec"]["hostPath"]["path"] in mounts
    assert volume["spec"]["accessModes"] == claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert volume["spec"]["claimRef"] == {k: claim["metadata"][k] for k in ("namespace", "name")}
    assert claim["spec"]["volumeName"] == volume["metadata"]["name"]
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    dev = load_yaml(K8S / "values-dev.yaml")
    assert dev["sharedData"] == {"existingClaim": claim["metadata"]["name"]}
    workloads = [d for d in render(dev) if d["kind"] in ("Deployment", "Job")]
    assert all("hostPath" not in v for d in workloads for v in d["spec"]["template"]["spec"].get("volumes", []))
    # `make cluster` applies it in the release's namespace.
    out = subprocess.run(["make", "-n", "-f", "k8s/k8s.mk", "shared-data", "K8S_NAMESPACE=alerts"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert "namespace: alerts" in out.stdout and "k8s/shared-data.yaml" in out.stdout, out.stderr
