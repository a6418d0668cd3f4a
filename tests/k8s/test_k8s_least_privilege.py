"""Least privilege in the chart: the Spark driver's Role (none at all in local mode), the NetworkPolicies
(the embedded broker admits only msb's clients; every pod's egress is DNS, Kafka and its own needs),
TLS to Strimzi Kafka with the cluster CA in every client, and bounded emptyDirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_support import CHART, find, load_yaml, one, pod_spec, render, spark_defaults, values_of, variants
from pod_security import pods_of

from msb import kafka as msb_kafka

helm_python = pytest.importorskip("helm_python")

VARIANTS = variants()
EMBEDDED = CHART / "ci" / "embedded-values.yaml"
ROLE_VERBS = ["get", "list", "watch", "create", "delete", "deletecollection"]
CLIENTS = ("replay", "stream", "stream-executor", "crossmatch")



def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against a pod's labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        value, op = labels.get(e["key"]), e["operator"]
        if ((op == "In" and value not in e["values"]) or (op == "NotIn" and value in e["values"])
                or (op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None)):
            return False
    return True


def _pod_labels(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """component -> pod labels, for the workloads and the Spark executor pod template."""
    out = {}
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            labels = d["spec"]["template"]["metadata"]["labels"]
            out[labels["app.kubernetes.io/component"]] = labels
        elif d["kind"] == "ConfigMap" and "executor-pod-template.yaml" in d.get("data", {}):
            out["stream-executor"] = yaml.safe_load(d["data"]["executor-pod-template.yaml"])["metadata"]["labels"]
    return out


def _policy_for(docs: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    found = [p for p in find(docs, "NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]
    assert len(found) == 1, (labels, [p["metadata"]["name"] for p in found])
    return found[0]


def _egress_ports(policy: dict[str, Any]) -> set[Any]:
    """Every (port, protocol) the policy lets out; ("any", peer component) for rules without ports."""
    out: set[Any] = set()
    for rule in policy["spec"]["egress"]:
        if "ports" not in rule:
            out |= {("any", p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]) for p in rule["to"]}
        for port in rule.get("ports", []):
            out.add((port["port"], port["protocol"]))
    return out


# ----------------------------------------------------------------------------- the driver's Role


@pytest.mark.parametrize("values", [
    pytest.param(load_yaml(EMBEDDED), id="embedded"),
    pytest.param({"stream": {"master": "local"}}, id="strimzi"),
])
def test_local_master_has_no_role_and_no_token(values: dict[str, Any]) -> None:
    docs = render(values)
    assert not find(docs, "Role") and not find(docs, "RoleBinding") and not find(docs, "ClusterRole")
    assert one(docs, "ServiceAccount", "msb-stream")["automountServiceAccountToken"] is False
    assert not find(docs, "ServiceAccount", "msb-stream-executor")
    driver = pod_spec(one(docs, "Deployment", "msb-stream"))
    assert driver["serviceAccountName"] == "msb-stream" and driver["automountServiceAccountToken"] is False
    args = driver["containers"][0]["args"]
    assert args[args.index("--master") + 1].startswith("local[")
    # No executor pods, so no policy for them, no API server in the driver's egress.
    assert not find(docs, "NetworkPolicy", "msb-stream-executor")
    assert (6443, "TCP") not in _egress_ports(one(docs, "NetworkPolicy", "msb-stream"))
    for d in docs:  # no pod of the chart carries an API token
        if d["kind"] in ("Deployment", "Job"):
            assert pod_spec(d).get("automountServiceAccountToken") is False, d["metadata"]["name"]


@pytest.mark.parametrize("values", [
    pytest.param({}, id="submit"),
    pytest.param({"stream": {"mode": "sparkApplication"}}, id="sparkApplication"),
    pytest.param(load_yaml(CHART / "ci" / "embedded-kubernetes-values.yaml"), id="embedded-kubernetes"),
])
def test_kubernetes_mode_role_is_exactly_what_spark_calls(values: dict[str, Any]) -> None:
    """Pods only, the verbs Spark's backend uses (templates/stream/rbac.yaml says which call needs
    which); nothing on services, configmaps, PVCs, secrets or Kafka resources; no patch/update."""
    docs = render(values)
    assert [r["metadata"]["name"] for r in find(docs, "Role")] == ["msb-stream"]
    assert not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding")
    assert one(docs, "Role")["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ROLE_VERBS}]
    binding = one(docs, "RoleBinding", "msb-stream")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "msb-stream"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "msb-stream", "namespace": "msb"}]
    assert one(docs, "ServiceAccount", "msb-stream")["automountServiceAccountToken"] is True
    # The executors run as their own token-less identity, which no binding names.
    assert one(docs, "ServiceAccount", "msb-stream-executor")["automountServiceAccountToken"] is False
    if values.get("stream", {}).get("mode") == "sparkApplication":
        app = one(docs, "SparkApplication")["spec"]
        assert app["driver"]["serviceAccount"] == "msb-stream"
        assert app["executor"]["serviceAccount"] == "msb-stream-executor"
        assert app["executor"]["template"]["spec"]["automountServiceAccountToken"] is False
    else:
        assert pod_spec(one(docs, "Deployment", "msb-stream"))["automountServiceAccountToken"] is True
        conf = spark_defaults(docs)
        assert conf["spark.kubernetes.authenticate.executor.serviceAccountName"] == "msb-stream-executor"
        template = yaml.safe_load(one(docs, "ConfigMap", "msb-stream-conf")["data"]["executor-pod-template.yaml"])
        assert template["spec"]["automountServiceAccountToken"] is False


# Settings that keep Spark's API calls inside the Role (rbac.yaml), and the UI harmless.
LEAST_PRIVILEGE_CONF = {
    "spark.ui.killEnabled": "false",
    "spark.kubernetes.allocation.pods.allocator": "direct",
    "spark.kubernetes.executor.disableConfigMap": "true",
    "spark.kubernetes.driver.ownPersistentVolumeClaim": "false",
    "spark.kubernetes.driver.reusePersistentVolumeClaim": "false",
    "spark.kubernetes.driver.service.deleteOnTermination": "false",
    "spark.kubernetes.executor.deleteOnTermination": "true",
}


def test_spark_settings_keep_the_driver_inside_its_role() -> None:
    conf = spark_defaults(render())
    assert {k: conf[k] for k in LEAST_PRIVILEGE_CONF} == LEAST_PRIVILEGE_CONF
    assert not [k for k in conf if "OnDemand" in conf[k]]
    app = one(render({"stream": {"mode": "sparkApplication"}}), "SparkApplication")["spec"]["sparkConf"]
    assert {k: app[k] for k in LEAST_PRIVILEGE_CONF} == LEAST_PRIVILEGE_CONF


@pytest.mark.parametrize("key,value", [
    *[(k, "true" if v == "false" else "false") for k, v in LEAST_PRIVILEGE_CONF.items()],
    ("spark.kubernetes.allocation.pods.allocator", "statefulset"),
    ("spark.kubernetes.executor.decommissionLabel", "draining"),
    ("spark.kubernetes.driver.annotateExitException", "true"),
    ("spark.kubernetes.authenticate.driver.serviceAccountName", "default"),
    ("spark.kubernetes.executor.volumes.persistentVolumeClaim.spill.options.claimName", "OnDemand"),
])
def test_spark_conf_beyond_the_role_is_rejected(key: str, value: str) -> None:
    chart = helm_python.Chart.load(str(CHART))
    with pytest.raises(helm_python.HelmError):
        chart.validate_schema({"stream": {"sparkConf": {key: value}}})


def test_spark_conf_within_the_role_is_accepted() -> None:
    chart = helm_python.Chart.load(str(CHART))
    chart.validate_schema({"stream": {"sparkConf": {
        "spark.sql.shuffle.partitions": 8,
        "spark.kubernetes.executor.volumes.persistentVolumeClaim.spill.options.claimName": "my-claim"}}})


# ----------------------------------------------------------------------------- NetworkPolicies


def test_embedded_broker_admits_only_msbs_clients() -> None:
    docs = render(load_yaml(CHART / "ci" / "embedded-kubernetes-values.yaml"))
    policy = one(docs, "NetworkPolicy", "msb-kafka")
    labels = _pod_labels(docs)
    assert policy is _policy_for(docs, labels["kafka"])
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 9092, "protocol": "TCP"}]
    [peer] = rule["from"]
    assert set(peer) == {"podSelector"}  # this namespace only: no namespaceSelector, no ipBlock
    selector = peer["podSelector"]
    assert selector["matchLabels"] == {"app.kubernetes.io/instance": "msb", "app.kubernetes.io/part-of": "msb"}
    assert selector["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": list(CLIENTS)}]
    for component in CLIENTS:
        assert selects(selector, labels[component]), component
    assert not selects(selector, labels["kafka"])
    assert not selects(selector, {**labels["replay"], "app.kubernetes.io/instance": "other"})
    assert not selects(selector, {"run": "debug"})
    # The broker itself only resolves names.
    assert _egress_ports(policy) == {(53, "UDP"), (53, "TCP")}
    # ... and each client may reach it.
    broker_selector = {"app.kubernetes.io/name": "msb", "app.kubernetes.io/instance": "msb",
                       "app.kubernetes.io/component": "kafka"}
    for component in CLIENTS:
        client = _policy_for(docs, labels[component])
        to_kafka = [r for r in client["spec"]["egress"] if {"port": 9092, "protocol": "TCP"} in r.get("ports", [])]
        assert [p["podSelector"]["matchLabels"] for r in to_kafka for p in r["to"]] == [broker_selector]


def test_strimzi_listener_admits_only_msbs_clients() -> None:
    docs = render()
    [peer] = one(docs, "Kafka")["spec"]["kafka"]["listeners"][0]["networkPolicyPeers"]
    labels = _pod_labels(docs)
    assert all(selects(peer["podSelector"], labels[c]) for c in CLIENTS)
    assert not selects(peer["podSelector"], {"app.kubernetes.io/instance": "msb", "app.kubernetes.io/part-of": "msb"})


@pytest.mark.parametrize("path", VARIANTS)
def test_every_pod_has_ingress_and_egress_policies(path: Path | None) -> None:
    values = values_of(path)
    docs = render(values)
    if not values.get("networkPolicy", {}).get("enabled", True):
        assert not find(docs, "NetworkPolicy")
        return
    executors = values.get("stream", {}).get("master", "kubernetes") != "local"
    for component, labels in _pod_labels(docs).items():
        if component == "stream-executor" and not executors:
            continue
        policy = _policy_for(docs, labels)
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"], component
        assert {(53, "UDP"), (53, "TCP")} <= _egress_ports(policy), component
        for rule in policy["spec"]["egress"]:
            # No rule lets everything out: each has ports, or names msb pods it may reach.
            assert rule.get("ports") or all(set(p) == {"podSelector"} for p in rule["to"]), (component, rule)


def test_egress_of_each_component() -> None:
    docs = render()
    labels = _pod_labels(docs)
    dns, kafka = {(53, "UDP"), (53, "TCP")}, {(9092, "TCP")}
    ports = {c: _egress_ports(_policy_for(docs, labels[c])) for c in CLIENTS}
    assert ports["crossmatch"] == dns | kafka
    assert ports["replay"] == dns | kafka | {(443, "TCP")}  # the public night's download
    assert ports["stream"] == dns | kafka | {("any", "stream-executor"), (443, "TCP"), (6443, "TCP")}
    assert ports["stream-executor"] == dns | kafka | {(7078, "TCP"), (7079, "TCP"), ("any", "stream-executor")}
    to_kafka = next(r for r in _policy_for(docs, labels["crossmatch"])["spec"]["egress"]
                    if r["ports"] == [{"port": 9092, "protocol": "TCP"}])
    assert to_kafka["to"] == [{"podSelector": {"matchLabels": {"strimzi.io/cluster": "msb-kafka",
                                                               "strimzi.io/kind": "Kafka"}}}]
    # The download goes to public addresses only.
    download = next(r for r in _policy_for(docs, labels["replay"])["spec"]["egress"]
                    if r["ports"] == [{"port": 443, "protocol": "TCP"}])
    block = download["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in block["except"]


def test_egress_follows_the_configured_endpoints() -> None:
    docs = render({
        "kafka": {"mode": "external", "external": {"bootstrap": "k0.example:9093,k1.example:9093,k2.example"}},
        "replay": {"data": {"source": "pvc"}},
        "crossmatch": {"cds": {"url": "http://cdsxmatch.u-strasbg.fr/xmatch/api/v1/sync"}},
        "stream": {"storage": {"type": "s3", "s3": {"uri": "s3a://b/p", "endpoint": "http://minio.storage:9000"}}},
        "networkPolicy": {"egress": {"extra": {"crossmatch": [{"ports": [{"port": 8081, "protocol": "TCP"}]}]}}},
    })
    labels = _pod_labels(docs)
    ports = {c: _egress_ports(_policy_for(docs, labels[c])) for c in CLIENTS}
    external = {(9093, "TCP"), (9092, "TCP")}
    assert ports["replay"] == {(53, "UDP"), (53, "TCP")} | external  # no download from a PVC
    assert ports["crossmatch"] == {(53, "UDP"), (53, "TCP"), (80, "TCP"), (8081, "TCP")} | external
    assert (9000, "TCP") in ports["stream"] and (9000, "TCP") in ports["stream-executor"]


# ----------------------------------------------------------------------------- TLS to Kafka


def _kafka_clients(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, pod spec, container) of every container that talks to Kafka."""
    out = []
    for where, spec, _ in pods_of(docs):
        for c in spec.get("containers", []):
            if any(e["name"] == "MSB_BOOTSTRAP" for e in c.get("env", [])):
                out.append((where, spec, c))
    return out


@pytest.mark.parametrize("values", [pytest.param({}, id="submit"),
                                    pytest.param({"stream": {"mode": "sparkApplication"}}, id="sparkApplication")])
def test_strimzi_listener_is_tls_and_every_client_has_the_cluster_ca(values: dict[str, Any],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(values)
    listener = one(docs, "Kafka")["spec"]["kafka"]["listeners"][0]
    assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}
    clients = _kafka_clients(docs)
    assert len(clients) == 4  # replay, crossmatch, the driver, the executors
    for where, spec, c in clients:
        env = {e["name"]: e for e in c["env"]}
        assert env["MSB_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL", where
        assert env["MSB_KAFKA_OPTIONS"]["value"] == "ssl.ca.location=/etc/msb/kafka-ca/ca.crt", where
        assert {"name": "kafka-ca", "mountPath": "/etc/msb/kafka-ca", "readOnly": True} in c["volumeMounts"], where
        assert {"name": "kafka-ca", "secret": {"secretName": "msb-kafka-cluster-ca-cert"}} in spec["volumes"], where
        # What msb's clients make of it: librdkafka's CA file, and the PEM truststore of Spark's Java client.
        for name, var in env.items():
            if "value" in var:
                monkeypatch.setenv(name, var["value"])
        conf = msb_kafka.client_config("b:9092")
        assert conf["security.protocol"] == "SASL_SSL" and conf["ssl.ca.location"] == "/etc/msb/kafka-ca/ca.crt"
        java = msb_kafka.java_client_config({**conf, "sasl.username": "u", "sasl.password": "p"})
        assert (java["ssl.truststore.type"], java["ssl.truststore.location"]) == ("PEM", "/etc/msb/kafka-ca/ca.crt")


def test_plaintext_listener_only_when_asked() -> None:
    docs = render({"kafka": {"strimzi": {"listener": {"tls": False}}}})
    assert one(docs, "Kafka")["spec"]["kafka"]["listeners"][0]["tls"] is False
    for where, spec, c in _kafka_clients(docs):
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["MSB_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" and "MSB_KAFKA_OPTIONS" not in env, where
        assert all(v["name"] != "kafka-ca" for v in spec["volumes"]), where


# ----------------------------------------------------------------------------- bounded emptyDirs


@pytest.mark.parametrize("path", VARIANTS)
def test_every_empty_dir_has_a_size_limit(path: Path | None) -> None:
    docs = render(values_of(path))
    empty_dirs = [(where, v) for where, spec, _ in pods_of(docs) for v in spec.get("volumes", []) if "emptyDir" in v]
    assert empty_dirs
    for where, volume in empty_dirs:
        assert volume["emptyDir"].get("sizeLimit"), f"{where}: emptyDir {volume['name']} without sizeLimit"


def test_size_limits_follow_the_values() -> None:
    docs = render({"stream": {"executor": {"tmpSizeLimit": "7Gi"}}, "crossmatch": {"catalogs": {"sizeLimit": "3Gi"}}})
    template = yaml.safe_load(one(docs, "ConfigMap", "msb-stream-conf")["data"]["executor-pod-template.yaml"])
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "7Gi"}} in template["spec"]["volumes"]
    assert {"name": "catalogs", "emptyDir": {"sizeLimit": "3Gi"}} in pod_spec(
        one(docs, "Deployment", "msb-crossmatch"))["volumes"]
