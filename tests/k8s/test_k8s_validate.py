"""Every rendered object is valid: built-in kinds against Kubernetes' own schemas (strict),
custom resources against their CRD's openAPIV3Schema with unknown fields rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from k8s_support import KUBE_VERSION, crd_schemas, render, strip, values_of, variants

VARIANTS = variants()
BUILTIN_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
                  "networking.k8s.io/v1", "autoscaling/v2"}


def _validate_builtin(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def _validate_custom(doc: dict[str, Any]) -> None:
    schemas = crd_schemas()
    key = (doc["apiVersion"], doc["kind"])
    assert key in schemas, f"no CRD in ../shared/k8s-schemas for {key}"
    validator = jsonschema.Draft202012Validator(schemas[key])
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])


@pytest.mark.parametrize("path", VARIANTS)
def test_every_object_valid(path: Path | None) -> None:
    docs = render(values_of(path))
    customs = 0
    for doc in docs:
        obj = strip(doc)
        where = f"{doc['__template__']}: {doc['kind']}/{doc['metadata'].get('name')}"
        try:
            if doc["apiVersion"] in BUILTIN_GROUPS:
                _validate_builtin(obj)
            else:
                customs += 1
                _validate_custom(obj)
        except (kubernetes_validate.ValidationError, AssertionError) as exc:
            pytest.fail(f"{where}: {exc}")
        # Embedded pod templates (Spark executors) are Kubernetes objects too.
        if doc["kind"] == "ConfigMap" and "executor-pod-template.yaml" in doc.get("data", {}):
            _validate_builtin(yaml.safe_load(doc["data"]["executor-pod-template.yaml"]))
    if path is None:
        assert customs >= 10  # Kafka, node pool, topics, users, monitors, rules


def test_crd_schemas_reject_unknown_fields() -> None:
    """The strict CRD schemas catch a misspelt field (the API server would prune it silently)."""
    topic = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic", "metadata": {"name": "t"},
             "spec": {"partitions": 1, "replicas": 1, "partitons": 3}}
    with pytest.raises(AssertionError, match="partitons"):
        _validate_custom(topic)
    # Free-form maps stay free: Kafka topic config preserves unknown fields.
    topic["spec"] = {"partitions": 1, "config": {"anything.goes": "1"}}
    _validate_custom(topic)
    user = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaUser", "metadata": {"name": "u"},
            "spec": {"authorization": {"type": "simple", "acls": [
                {"resource": {"type": "topic", "name": "raw"}, "operation": "Read"}]}}}
    with pytest.raises(AssertionError):
        _validate_custom(user)  # Strimzi 1.x: `operations` (a list), `operation` is gone


def test_builtin_validation_is_strict() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dataa": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_builtin(cm)
