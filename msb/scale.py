"""`msb scale --executors N`: set the Spark executor count of the stream on Kubernetes.

`msb stream --master k8s://` takes its Spark sizing from MSB_SPARK_* variables, which the chart
keeps in the ConfigMap <name>-env (values `stream.*`). The chart runs the stream one of two ways
(`stream.mode`):
  submit            a driver Deployment: we set MSB_SPARK_EXECUTORS in <name>-env and restart the
                    driver (a pod-template annotation); it resumes from its checkpoint.
  sparkApplication  a Spark operator SparkApplication: the same ConfigMap change, plus
                    spec.executor.instances, on which the operator resubmits the application,
                    again from the checkpoint.

The patches are computed by pure functions (tested offline); `--dry-run` prints them.
A later `helm upgrade` applies the chart's `stream.executors` again: keep the two in step
(`helm upgrade --reuse-values --set stream.executors=N`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SPARK_GROUP, SPARK_VERSION, SPARK_PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
RESTART_ANNOTATION = "msb.io/restarted-at"
EXECUTORS_ANNOTATION = "msb.io/executors"
MODES = ("auto", "submit", "sparkApplication")


@dataclass
class Patch:
    """One merge patch to apply to one object."""

    kind: str
    name: str
    body: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "patch": self.body}


def stream_name(release: str, chart: str = "msb") -> str:
    """The chart's `<fullname>-stream` (fullname: the release if it contains the chart name)."""
    fullname = (release if chart in release else f"{release}-{chart}")[:63].rstrip("-")
    return f"{fullname}-stream"[:63].rstrip("-")


def env_patch(name: str, executors: int, env: dict[str, str] | None = None) -> Patch:
    """MSB_SPARK_EXECUTORS in <name>-env; with dynamic allocation on, the count is the starting
    point, and the upper bound is raised to it if lower."""
    data = {"MSB_SPARK_EXECUTORS": str(executors)}
    env = env or {}
    if env.get("MSB_SPARK_DYNAMIC_ALLOCATION", "false").lower() in ("1", "true", "yes"):
        if int(env.get("MSB_SPARK_MAX_EXECUTORS", executors)) < executors:
            data["MSB_SPARK_MAX_EXECUTORS"] = str(executors)
    return Patch("ConfigMap", f"{name}-env", {"data": data})


def plan_submit(name: str, executors: int, now: str, env: dict[str, str] | None = None) -> list[Patch]:
    """Submit mode: the executor count, then a pod-template annotation that restarts the driver."""
    annotations = {RESTART_ANNOTATION: now, EXECUTORS_ANNOTATION: str(executors)}
    return [
        env_patch(name, executors, env),
        Patch("Deployment", name, {"spec": {"template": {"metadata": {"annotations": annotations}}}}),
    ]


def plan_spark_application(name: str, executors: int, app: dict[str, Any] | None = None,
                           env: dict[str, str] | None = None) -> list[Patch]:
    """SparkApplication mode: the executor count, then spec.executor.instances (and the dynamic
    allocation's starting point and upper bound when it is on), which makes the operator resubmit."""
    spec: dict[str, Any] = {"executor": {"instances": executors}}
    dynamic = ((app or {}).get("spec") or {}).get("dynamicAllocation") or {}
    if dynamic.get("enabled"):
        spec["dynamicAllocation"] = {"initialExecutors": executors}
        if int(dynamic.get("maxExecutors", executors)) < executors:
            spec["dynamicAllocation"]["maxExecutors"] = executors
    return [env_patch(name, executors, env), Patch("SparkApplication", name, {"spec": spec})]


# ---------------------------------------------------------------------------------- cluster


def _clients(context: str | None) -> tuple[Any, Any, Any]:
    # Imported here: `msb --help` and the offline paths must not need a kubeconfig.
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(context=context)
    return client.CoreV1Api(), client.AppsV1Api(), client.CustomObjectsApi()


def _spark_application(custom: Any, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return dict(custom.get_namespaced_custom_object(SPARK_GROUP, SPARK_VERSION, namespace, SPARK_PLURAL, name))
    except ApiException as exc:
        if exc.status == 404:  # no such object, or the Spark operator's CRD is not installed
            return None
        raise


def plan_from_cluster(namespace: str, name: str, executors: int, mode: str, context: str | None,
                      now: str) -> tuple[list[Patch], tuple[Any, Any, Any]]:
    from kubernetes.client.exceptions import ApiException

    clients = _clients(context)
    core, _, custom = clients
    try:
        env = dict(core.read_namespaced_config_map(f"{name}-env", namespace).data or {})
    except ApiException as exc:
        if exc.status == 404:
            raise SystemExit(f"error: no ConfigMap {namespace}/{name}-env: is the msb chart installed there "
                             f"(--namespace, --release)?") from exc
        raise
    if mode in ("auto", "sparkApplication"):
        app = _spark_application(custom, namespace, name)
        if app is not None:
            return plan_spark_application(name, executors, app, env), clients
        if mode == "sparkApplication":
            raise SystemExit(f"error: no SparkApplication {namespace}/{name}")
    return plan_submit(name, executors, now, env), clients


def apply(patches: list[Patch], namespace: str, clients: tuple[Any, Any, Any]) -> None:
    core, apps, custom = clients
    for patch in patches:
        if patch.kind == "ConfigMap":
            core.patch_namespaced_config_map(patch.name, namespace, patch.body)
        elif patch.kind == "Deployment":
            apps.patch_namespaced_deployment(patch.name, namespace, patch.body)
        elif patch.kind == "SparkApplication":
            custom.patch_namespaced_custom_object(SPARK_GROUP, SPARK_VERSION, namespace, SPARK_PLURAL,
                                                  patch.name, patch.body)
        else:  # pragma: no cover - plans only hold the kinds above
            raise ValueError(patch.kind)


# ---------------------------------------------------------------------------------- CLI


def run(args: argparse.Namespace) -> int:
    if args.executors < 1:
        print("error: --executors must be at least 1", file=sys.stderr)
        return 2
    name = args.name or stream_name(args.release)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    clients = None
    if args.dry_run and args.mode != "auto":  # offline: nothing to read from a cluster
        if args.mode == "submit":
            patches = plan_submit(name, args.executors, now)
        else:
            patches = plan_spark_application(name, args.executors)
    else:
        patches, clients = plan_from_cluster(args.namespace, name, args.executors, args.mode, args.context, now)
    if args.dry_run:
        print(json.dumps([p.as_dict() for p in patches], indent=2))
        return 0
    assert clients is not None
    apply(patches, args.namespace, clients)
    for patch in patches:
        print(f"patched {patch.kind.lower()}/{patch.name} in {args.namespace}")
    print(f"stream {name}: {args.executors} executors; the driver resumes from its checkpoint")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "scale",
        help="set the Spark executor count of the stream on Kubernetes",
        description="Set the stream's Spark executor count on Kubernetes (the chart's driver Deployment "
        "or SparkApplication); progress carries over through the checkpoint.",
    )
    p.add_argument("--executors", type=int, required=True, metavar="N", help="executor pods")
    p.add_argument("--namespace", "-n", default="msb", help="namespace of the release (default msb)")
    p.add_argument("--release", default="msb", help="Helm release name (default msb)")
    p.add_argument("--name", help="stream object name (default: the chart's <fullname>-stream)")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="submit (driver Deployment), sparkApplication, or auto: whichever exists")
    p.add_argument("--context", help="kubeconfig context (default: current; in a pod: its service account)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the patches instead of applying them (with --mode submit|sparkApplication: "
                   "no cluster needed)")
    p.set_defaults(func=run)
