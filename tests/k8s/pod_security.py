"""The Pod Security Standards' *restricted* profile as a check on a PodSpec, written from the standard
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, Kubernetes v1.34): every
control of the baseline profile, which restricted includes, then restricted's own controls. Each
violation names the control (the standard's name for it) and where it is.

`pods_of` finds every pod the rendered chart would run: the workloads' pod templates, the Spark
executor pod template, the driver and executors of a SparkApplication, and the containers of Strimzi's
Kafka pods whose settings the chart gives in the Kafka resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

# Baseline "Capabilities": what may be added at all (restricted narrows it to NET_BIND_SERVICE).
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_CAPABILITIES = {"NET_BIND_SERVICE"}
# Baseline "Sysctls": the safe, namespaced set.
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
PROFILE_TYPES = {"RuntimeDefault", "Localhost"}  # seccomp (restricted) and AppArmor (baseline)
# Restricted "Volume Types".
VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                "secret"}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
HANDLERS = ("livenessProbe", "readinessProbe", "startupProbe")


@dataclass(frozen=True)
class Violation:
    control: str
    where: str

    def __str__(self) -> str:
        return f"{self.control}: {self.where}"


def _containers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{key}[{c.get('name', i)}]", c) for key in CONTAINER_LISTS for i, c in enumerate(spec.get(key) or [])]


def _host_handlers(where: str, c: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [(f"{where}.{h}", c[h]) for h in HANDLERS if c.get(h)]
    out += [(f"{where}.lifecycle.{h}", c["lifecycle"][h]) for h in ("postStart", "preStop")
            if (c.get("lifecycle") or {}).get(h)]
    return out


def restricted_violations(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> list[Violation]:
    """Every way the PodSpec `spec` (with its pod's annotations) breaks the restricted profile."""
    out: list[Violation] = []
    pod_ctx = spec.get("securityContext") or {}
    containers = _containers(spec)
    contexts = [("spec.securityContext", pod_ctx)] + [(f"{w}.securityContext", c.get("securityContext") or {})
                                                      for w, c in containers]

    def bad(control: str, where: str) -> None:
        out.append(Violation(control, where))

    # ---- baseline
    for where, ctx in contexts:
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            bad("HostProcess", where)
        apparmor = (ctx.get("appArmorProfile") or {}).get("type")
        if apparmor is not None and apparmor not in PROFILE_TYPES:
            bad("AppArmor", f"{where}.appArmorProfile {apparmor}")
        selinux = ctx.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            bad("SELinux", f"{where}.seLinuxOptions {selinux}")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            bad("Host Namespaces", f"spec.{field}")
    for key, value in (annotations or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                value == "runtime/default" or value.startswith("localhost/")):
            bad("AppArmor", f"metadata.annotations[{key}] {value}")
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            bad("Sysctls", f"spec.securityContext.sysctls {sysctl.get('name')}")
    for where, c in containers:
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            bad("Privileged Containers", where)
        if ctx.get("procMount") not in (None, "Default"):
            bad("/proc Mount Type", f"{where} {ctx['procMount']}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                bad("Host Ports", f"{where} hostPort {port['hostPort']}")
        for handler_where, handler in _host_handlers(where, c):
            for kind in ("httpGet", "tcpSocket"):
                if (handler.get(kind) or {}).get("host"):
                    bad("Host Probes / Lifecycle Hooks", f"{handler_where}.{kind}.host")
        added = set((ctx.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            bad("Capabilities (baseline)", f"{where} adds {sorted(added - BASELINE_CAPABILITIES)}")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            bad("HostPath Volumes", f"volume {volume['name']} ({volume['hostPath'].get('path')})")

    # ---- restricted
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            bad("Volume Types", f"volume {volume['name']} ({', '.join(sorted(kinds - VOLUME_TYPES))})")
    pod_non_root = pod_ctx.get("runAsNonRoot") is True
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in PROFILE_TYPES:
        bad("Seccomp", f"spec.securityContext.seccompProfile {pod_seccomp}")
    if pod_ctx.get("runAsNonRoot") is False:
        bad("Running as Non-root", "spec.securityContext.runAsNonRoot false")
    if pod_ctx.get("runAsUser") == 0:
        bad("Running as Non-root user", "spec.securityContext.runAsUser 0")
    if not containers:
        bad("Running as Non-root", "no containers")
    for where, c in containers:
        ctx = c.get("securityContext") or {}
        if ctx.get("allowPrivilegeEscalation") is not False:
            bad("Privilege Escalation", f"{where} allowPrivilegeEscalation {ctx.get('allowPrivilegeEscalation')}")
        non_root = ctx.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            bad("Running as Non-root", f"{where} runAsNonRoot {non_root}")
        if ctx.get("runAsUser") == 0:
            bad("Running as Non-root user", f"{where} runAsUser 0")
        seccomp = (ctx.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in PROFILE_TYPES:
            bad("Seccomp", f"{where} seccompProfile {seccomp}")
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            bad("Capabilities", f"{where} does not drop ALL")
        added = set(capabilities.get("add") or [])
        if added - RESTRICTED_CAPABILITIES:
            bad("Capabilities", f"{where} adds {sorted(added - RESTRICTED_CAPABILITIES)}")
    return out


# ------------------------------------------------------------------------------ the chart's pods

WORKLOADS = ("Deployment", "Job", "StatefulSet", "DaemonSet", "ReplicaSet")


def _spark_application_pod(app: dict[str, Any], role: str) -> dict[str, Any]:
    """The pod the Spark operator builds for a role: the role's contexts and ports on its container,
    the application's volumes the role mounts, the role's pod template on top."""
    part = app["spec"][role]
    mounted = {m["name"] for m in part.get("volumeMounts") or []}
    template = (part.get("template") or {}).get("spec") or {}
    container = {"name": f"spark-kubernetes-{role}", "securityContext": part.get("securityContext") or {},
                 "ports": part.get("ports") or [], "env": part.get("env") or [],
                 "volumeMounts": part.get("volumeMounts") or []}
    for c in template.get("containers") or []:
        if c["name"] == container["name"]:
            container = {**c, **container, "securityContext": {**(c.get("securityContext") or {}),
                                                                **container["securityContext"]}}
    pod = {k: v for k, v in template.items() if k != "containers"}
    pod.update({
        "securityContext": part.get("podSecurityContext") or {},
        "hostNetwork": part.get("hostNetwork", False),
        "containers": [container, *(part.get("sidecars") or [])],
        "initContainers": part.get("initContainers") or [],
        "volumes": [v for v in app["spec"].get("volumes") or [] if v["name"] in mounted],
    })
    return pod


def _strimzi_pods(kafka: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Strimzi's pods as far as the chart sets them in the Kafka resource: the pod template (if any)
    and the security context of each container template. Strimzi adds the rest (image, volumes it
    manages); a container the chart gives no settings for appears with none, and fails."""
    spec = kafka["spec"]
    parts = [("Kafka brokers", spec["kafka"].get("template") or {}, ("kafkaContainer", "initContainer")),
             ("entity operator", (spec.get("entityOperator") or {}).get("template") or {},
              ("topicOperatorContainer", "userOperatorContainer"))]
    if "kafkaExporter" in spec:
        parts.append(("Kafka exporter", spec["kafkaExporter"].get("template") or {}, ("container",)))
    out = []
    for name, template, containers in parts:
        pod_template = template.get("pod") or {}
        out.append((f"{kafka['kind']}/{kafka['metadata']['name']} {name}", {
            "securityContext": pod_template.get("securityContext") or {},
            "volumes": pod_template.get("volumes") or [],
            "containers": [{"name": c, "securityContext": (template.get(c) or {}).get("securityContext") or {}}
                           for c in containers],
        }))
    return out


def pods_of(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(where, PodSpec, pod annotations) for every pod the rendered chart makes Kubernetes run."""
    out = []
    for d in docs:
        name = f"{d['kind']}/{d['metadata'].get('name')}"
        if d["kind"] in WORKLOADS or d["kind"] == "CronJob":
            spec = d["spec"]["jobTemplate"]["spec"] if d["kind"] == "CronJob" else d["spec"]
            template = spec["template"]
            out.append((name, template["spec"], (template.get("metadata") or {}).get("annotations") or {}))
        elif d["kind"] == "ConfigMap" and "executor-pod-template.yaml" in (d.get("data") or {}):
            pod = yaml.safe_load(d["data"]["executor-pod-template.yaml"])
            out.append((f"{name} executor pod template", pod["spec"],
                        (pod.get("metadata") or {}).get("annotations") or {}))
        elif d["kind"] == "SparkApplication":
            for role in ("driver", "executor"):
                out.append((f"{name} {role}", _spark_application_pod(d, role),
                            d["spec"][role].get("annotations") or {}))
        elif d["kind"] == "Kafka":
            out += [(where, pod, {}) for where, pod in _strimzi_pods(d)]
    return out
