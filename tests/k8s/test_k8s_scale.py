"""`msb scale`: the patches it computes reproduce what the chart renders for the new count, and
it applies them through the Kubernetes API (a stand-in serving the chart's rendering: no cluster here)."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from k8s_support import one, render

from msb.cli import main
from msb_app import scale


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386), as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _conf(values: dict[str, Any]) -> str:
    return one(render(values), "ConfigMap", "msb-stream-conf")["data"]["spark-defaults.conf"]


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("new", [1, 5, 12])
def test_submit_plan_equals_chart_render(dynamic: bool, new: int) -> None:
    da = {"enabled": dynamic, "minExecutors": 1, "maxExecutors": 8}
    before = _conf({"stream": {"executors": 2, "dynamicAllocation": da}})
    after = {"stream": {"executors": new, "dynamicAllocation": {**da, "maxExecutors": max(8, new)}}}
    cm, dep = scale.plan_submit("msb-stream", "msb-stream-conf", before, new, "2026-01-01T00:00:00Z")
    assert (cm.kind, cm.name, dep.kind, dep.name) == ("ConfigMap", "msb-stream-conf", "Deployment", "msb-stream")
    assert scale.parse_conf(cm.body["data"]["spark-defaults.conf"]) == scale.parse_conf(_conf(after))
    annotations = dep.body["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {scale.RESTART_ANNOTATION: "2026-01-01T00:00:00Z", scale.EXECUTORS_ANNOTATION: str(new)}


@pytest.mark.parametrize("dynamic", [False, True])
def test_spark_application_plan_equals_chart_render(dynamic: bool) -> None:
    da = {"enabled": dynamic, "minExecutors": 1, "maxExecutors": 8}
    values = {"stream": {"mode": "sparkApplication", "executors": 2, "dynamicAllocation": da}}
    app_before = one(render(values), "SparkApplication")
    values["stream"]["executors"] = 5
    (app,) = scale.plan_spark_application("msb-stream", 5, app_before)
    assert _merge(app_before, app.body)["spec"] == one(render(values), "SparkApplication")["spec"]


def _typed(doc: dict[str, Any]) -> Any:
    """A rendered object as the kubernetes client's typed models read (attributes, not keys)."""
    return SimpleNamespace(metadata=SimpleNamespace(name=doc["metadata"]["name"]), data=doc.get("data"))


class FakeApi:
    """The API server's reads and patches over the chart's rendered objects (no cluster here)."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs, self.calls = docs, []

    def _select(self, kind: str, label_selector: str) -> list[dict[str, Any]]:
        want = dict(p.split("=") for p in label_selector.split(","))
        return [d for d in self.docs if d["kind"] == kind
                and want.items() <= d["metadata"].get("labels", {}).items()]

    def list_namespaced_deployment(self, namespace: str, label_selector: str) -> Any:
        return SimpleNamespace(items=[_typed(d) for d in self._select("Deployment", label_selector)])

    def list_namespaced_config_map(self, namespace: str, label_selector: str) -> Any:
        return SimpleNamespace(items=[_typed(d) for d in self._select("ConfigMap", label_selector)])

    def list_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                      label_selector: str) -> Any:
        return {"items": self._select("SparkApplication", label_selector)}

    def patch_namespaced_config_map(self, name: str, namespace: str, body: Any) -> None:
        self.calls.append(("ConfigMap", namespace, name, body))

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any) -> None:
        self.calls.append(("Deployment", namespace, name, body))

    def patch_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str,
                                       body: Any) -> None:
        self.calls.append((plural, namespace, name, body))


@pytest.mark.parametrize("mode", ["submit", "sparkApplication"])
@pytest.mark.parametrize("release", ["msb", "prod"])
def test_applies_through_the_api(monkeypatch: pytest.MonkeyPatch, mode: str, release: str) -> None:
    api = FakeApi(render({"stream": {"mode": mode}}, release=release))
    monkeypatch.setattr(scale, "_clients", lambda context: (api, api, api))
    name = "msb-stream" if release == "msb" else "prod-msb-stream"  # found by labels, whatever the name
    args = ["scale", "--executors", "6", "--namespace", "astro", "--release", release]
    assert main(args) == 0  # --mode auto finds the right one
    if mode == "submit":
        assert [c[:3] for c in api.calls] == [("ConfigMap", "astro", f"{name}-conf"), ("Deployment", "astro", name)]
        conf = scale.parse_conf(api.calls[0][3]["data"]["spark-defaults.conf"])
        assert conf["spark.executor.instances"] == "6"
    else:
        assert api.calls == [("sparkapplications", "astro", name, {"spec": {"executor": {"instances": 6}}})]


def test_dry_run_prints_without_applying(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi(render())
    monkeypatch.setattr(scale, "_clients", lambda context: (api, api, api))
    assert main(["scale", "--executors", "3", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(p["kind"], p["name"]) for p in printed] == [("ConfigMap", "msb-stream-conf"), ("Deployment", "msb-stream")]
    assert api.calls == []
    assert main(["scale", "--executors", "0", "--dry-run"]) == 2


def test_no_release_there_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi(render())
    monkeypatch.setattr(scale, "_clients", lambda context: (api, api, api))
    with pytest.raises(SystemExit, match="no stream driver of release other"):
        main(["scale", "--executors", "3", "--release", "other"])


def test_cli_help_does_not_import_kubernetes() -> None:
    code = ("import sys; from msb.cli import build_parser; build_parser(); import msb_app.scale; "
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
