"""`msb scale`: the patches it computes reproduce what the chart renders for the new count, and
it applies them through the Kubernetes API (a fake one here: no cluster on this machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from k8s_support import one, render

from msb import scale
from msb.cli import main


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


def _env(values: dict[str, Any]) -> dict[str, str]:
    return one(render(values), "ConfigMap", "msb-stream-env")["data"]


def test_stream_name_matches_the_chart() -> None:
    assert scale.stream_name("msb") == "msb-stream"
    assert scale.stream_name("prod") == "prod-msb-stream"
    assert one(render(), "Deployment", "msb-stream")


@pytest.mark.parametrize("dynamic", [False, True])
def test_submit_plan_equals_chart_render(dynamic: bool) -> None:
    da = {"enabled": dynamic, "minExecutors": 1, "maxExecutors": 8}
    before = _env({"stream": {"executors": 2, "dynamicAllocation": da}})
    after = _env({"stream": {"executors": 5, "dynamicAllocation": da}})
    cm, dep = scale.plan_submit("msb-stream", 5, "2026-01-01T00:00:00Z", before)
    assert (cm.kind, cm.name, dep.kind, dep.name) == ("ConfigMap", "msb-stream-env", "Deployment", "msb-stream")
    assert _merge(before, cm.body["data"]) == after
    annotations = dep.body["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {scale.RESTART_ANNOTATION: "2026-01-01T00:00:00Z", scale.EXECUTORS_ANNOTATION: "5"}


def test_plan_raises_max_executors_with_dynamic_allocation() -> None:
    env = {"MSB_SPARK_DYNAMIC_ALLOCATION": "true", "MSB_SPARK_MAX_EXECUTORS": "4"}
    assert scale.env_patch("s", 6, env).body == {"data": {"MSB_SPARK_EXECUTORS": "6", "MSB_SPARK_MAX_EXECUTORS": "6"}}
    assert scale.env_patch("s", 3, env).body == {"data": {"MSB_SPARK_EXECUTORS": "3"}}


@pytest.mark.parametrize("dynamic", [False, True])
def test_spark_application_plan_equals_chart_render(dynamic: bool) -> None:
    da = {"enabled": dynamic, "minExecutors": 1, "maxExecutors": 8}
    values = {"stream": {"mode": "sparkApplication", "executors": 2, "dynamicAllocation": da}}
    before_docs = render(values)
    values["stream"]["executors"] = 5
    after_docs = render(values)
    env_before = one(before_docs, "ConfigMap", "msb-stream-env")["data"]
    app_before = one(before_docs, "SparkApplication")
    cm, app = scale.plan_spark_application("msb-stream", 5, app_before, env_before)
    assert _merge(env_before, cm.body["data"]) == one(after_docs, "ConfigMap", "msb-stream-env")["data"]
    assert _merge(app_before, app.body)["spec"] == one(after_docs, "SparkApplication")["spec"]


def test_dry_run_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scale", "--executors", "3", "--mode", "submit", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(p["kind"], p["name"]) for p in printed] == [("ConfigMap", "msb-stream-env"), ("Deployment", "msb-stream")]
    assert printed[0]["patch"] == {"data": {"MSB_SPARK_EXECUTORS": "3"}}
    assert main(["scale", "--executors", "4", "--mode", "sparkApplication", "--dry-run", "--release", "x"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[1] == {"kind": "SparkApplication", "name": "x-msb-stream",
                          "patch": {"spec": {"executor": {"instances": 4}}}}
    assert main(["scale", "--executors", "0", "--dry-run", "--mode", "sparkApplication"]) == 2


class FakeApi:
    """Records patches; serves one ConfigMap and, optionally, one SparkApplication."""

    def __init__(self, env: dict[str, str], app: dict[str, Any] | None) -> None:
        self.env, self.app, self.calls = env, app, []

    def read_namespaced_config_map(self, name: str, namespace: str) -> Any:
        assert name == "msb-stream-env"
        return SimpleNamespace(data=self.env)

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                     name: str) -> Any:
        from kubernetes.client.exceptions import ApiException

        if self.app is None:
            raise ApiException(status=404, reason="Not Found")
        return self.app

    def patch_namespaced_config_map(self, name: str, namespace: str, body: Any) -> None:
        self.calls.append(("ConfigMap", namespace, name, body))

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any) -> None:
        self.calls.append(("Deployment", namespace, name, body))

    def patch_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str,
                                       body: Any) -> None:
        self.calls.append((plural, namespace, name, body))


@pytest.mark.parametrize("mode", ["submit", "sparkApplication"])
def test_applies_through_the_api(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    app = one(render({"stream": {"mode": "sparkApplication"}}), "SparkApplication") if mode != "submit" else None
    api = FakeApi(_env({"stream": {"mode": mode}}), app)
    monkeypatch.setattr(scale, "_clients", lambda context: (api, api, api))
    assert main(["scale", "--executors", "6", "--namespace", "astro"]) == 0  # --mode auto finds the right one
    assert api.calls[0] == ("ConfigMap", "astro", "msb-stream-env", {"data": {"MSB_SPARK_EXECUTORS": "6"}})
    if mode == "submit":
        assert [c[:3] for c in api.calls[1:]] == [("Deployment", "astro", "msb-stream")]
    else:
        assert api.calls[1:] == [("sparkapplications", "astro", "msb-stream",
                                  {"spec": {"executor": {"instances": 6}}})]


def test_cli_help_does_not_import_kubernetes() -> None:
    code = ("import sys; from msb.cli import build_parser; build_parser(); import msb.scale; "
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
