"""`msb scale --executors N`: set the Spark executor count of the stream on Kubernetes.

The chart runs the stream one of two ways (`stream.mode`), found here by the release's labels
(app.kubernetes.io/instance=<release>, component=stream), not by re-deriving the chart's names:
  submit            a driver Deployment whose Spark settings live in one file, spark-defaults.conf
                    (its <name>-conf ConfigMap, SPARK_CONF_DIR): we set spark.executor.instances
                    there and restart the driver (a pod-template annotation); it resumes from its
                    checkpoint.
  sparkApplication  a Spark operator SparkApplication: spec.executor.instances, on which the operator
                    resubmits the application, again from the checkpoint.

The patches are computed by pure functions (tested against the chart's own rendering); `--dry-run`
prints them instead of applying them. A later `helm upgrade` applies the chart's `stream.executors`
again: keep the two in step (`helm upgrade --reuse-values --set stream.executors=N`).
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


SPARK_DEFAULTS = "spark-defaults.conf"


def stream_selector(release: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component=stream"


def parse_conf(text: str) -> dict[str, str]:
    """spark-defaults.conf lines `key value` (or `key=value`) as a dict; comments skipped."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.replace("=", " ", 1).partition(" ")
            out[key] = value.strip()
    return out


def with_executors(text: str, executors: int) -> str:
    """The conf file with the new executor count; with dynamic allocation on, the count is the
    starting point and the upper bound is raised to it if lower. Other lines stay as they are."""
    conf = parse_conf(text)
    changes = {"spark.executor.instances": str(executors)}
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        changes["spark.dynamicAllocation.initialExecutors"] = str(executors)
        if int(conf.get("spark.dynamicAllocation.maxExecutors", executors)) < executors:
            changes["spark.dynamicAllocation.maxExecutors"] = str(executors)
    lines = []
    for line in text.splitlines():
        key = line.strip().replace("=", " ", 1).split(" ", 1)[0]
        lines.append(f"{key} {changes.pop(key)}" if key in changes else line)
    lines += [f"{k} {v}" for k, v in changes.items()]
    return "\n".join(lines) + "\n"


def plan_submit(deployment: str, configmap: str, conf_text: str, executors: int, now: str) -> list[Patch]:
    """Submit mode: the executor count in spark-defaults.conf, then a pod-template annotation that
    restarts the driver."""
    annotations = {RESTART_ANNOTATION: now, EXECUTORS_ANNOTATION: str(executors)}
    return [
        Patch("ConfigMap", configmap, {"data": {SPARK_DEFAULTS: with_executors(conf_text, executors)}}),
        Patch("Deployment", deployment, {"spec": {"template": {"metadata": {"annotations": annotations}}}}),
    ]


def plan_spark_application(name: str, executors: int, app: dict[str, Any] | None = None) -> list[Patch]:
    """SparkApplication mode: spec.executor.instances (and the dynamic allocation's starting point and
    upper bound when it is on), which makes the operator resubmit."""
    spec: dict[str, Any] = {"executor": {"instances": executors}}
    dynamic = ((app or {}).get("spec") or {}).get("dynamicAllocation") or {}
    if dynamic.get("enabled"):
        spec["dynamicAllocation"] = {"initialExecutors": executors}
        if int(dynamic.get("maxExecutors", executors)) < executors:
            spec["dynamicAllocation"]["maxExecutors"] = executors
    return [Patch("SparkApplication", name, {"spec": spec})]


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


def _spark_applications(custom: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    from kubernetes.client.exceptions import ApiException

    try:
        found = custom.list_namespaced_custom_object(SPARK_GROUP, SPARK_VERSION, namespace, SPARK_PLURAL,
                                                     label_selector=selector)
    except ApiException as exc:
        if exc.status == 404:  # the Spark operator's CRD is not installed
            return []
        raise
    return list(found.get("items", []))


def plan_from_cluster(namespace: str, release: str, executors: int, mode: str, context: str | None,
                      now: str) -> tuple[list[Patch], tuple[Any, Any, Any]]:
    clients = _clients(context)
    core, apps, custom = clients
    selector = stream_selector(release)
    if mode in ("auto", "sparkApplication"):
        found = _spark_applications(custom, namespace, selector)
        if found:
            return plan_spark_application(found[0]["metadata"]["name"], executors, found[0]), clients
        if mode == "sparkApplication":
            raise SystemExit(f"error: no SparkApplication of release {release} in {namespace}")
    deployments = apps.list_namespaced_deployment(namespace, label_selector=selector).items
    configmaps = [c for c in core.list_namespaced_config_map(namespace, label_selector=selector).items
                  if SPARK_DEFAULTS in (c.data or {})]
    if not deployments or not configmaps:
        raise SystemExit(f"error: no stream driver of release {release} in {namespace} (labels {selector}): "
                         "is the msb chart installed there (--namespace, --release)?")
    cm = configmaps[0]
    return plan_submit(deployments[0].metadata.name, cm.metadata.name, cm.data[SPARK_DEFAULTS], executors,
                       now), clients


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
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patches, clients = plan_from_cluster(args.namespace, args.release, args.executors, args.mode, args.context, now)
    if args.dry_run:
        print(json.dumps([p.as_dict() for p in patches], indent=2))
        return 0
    apply(patches, args.namespace, clients)
    for patch in patches:
        print(f"patched {patch.kind.lower()}/{patch.name} in {args.namespace}")
    print(f"stream of release {args.release}: {args.executors} executors; the driver resumes from its checkpoint")
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
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="submit (driver Deployment), sparkApplication, or auto: whichever exists")
    p.add_argument("--context", help="kubeconfig context (default: current; in a pod: its service account)")
    p.add_argument("--dry-run", action="store_true", help="print the patches instead of applying them")
    p.set_defaults(func=run)
