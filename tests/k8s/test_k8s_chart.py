"""The Helm chart rendered by the real Helm engine: strict lint, every variant, template behaviour."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_support import (
    CHART,
    CI_VALUES,
    KUBE_VERSION,
    find,
    load_yaml,
    notes,
    one,
    pod_spec,
    render,
    spark_defaults,
    values_of,
    variants,
)

from msb import paths

helm_python = pytest.importorskip("helm_python")

VARIANTS = variants()
WORKLOADS = ("Deployment", "Job", "StatefulSet", "DaemonSet")



def test_ci_variants_exist() -> None:
    names = {p.stem for p in CI_VALUES}
    assert {"external-kafka-values", "spark-operator-values", "minimal-values", "scaled-values"} <= names


@pytest.mark.parametrize("path", VARIANTS)
def test_lint_strict(path: Path | None) -> None:
    report = helm_python.lint(str(CHART), values_of(path), strict=True, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


@pytest.mark.parametrize("path", VARIANTS)
def test_renders(path: Path | None) -> None:
    docs = render(values_of(path))
    assert docs
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "duplicate object names"
    for d in docs:
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "msb", d["metadata"]["name"]


def test_schema_rejects_unknown_and_bad_values() -> None:
    chart = helm_python.Chart.load(str(CHART))
    chart.validate_schema({})
    bad = [
        {"stream": {"executorz": 3}},
        {"stream": {"executors": 0}},
        {"replay": {"pace": {"mode": "warp"}}},
        {"kafka": {"mode": "external"}},  # no bootstrap
        {"containerSecurityContext": {"readOnlyRootFilesystem": False}},
        {"podSecurityContext": {"runAsNonRoot": False}},
        {"crossmatch": {"extraEnv": [{"name": "MSB_KAFKA_SASL_PASSWORD", "value": "hunter2"}]}},
        {"stream": {"sparkConf": {"spark.hadoop.fs.s3a.secret.key": "x"}}},
    ]
    for values in bad:
        with pytest.raises(helm_python.HelmError):
            chart.validate_schema(values)


def test_values_are_documented() -> None:
    """Every top-level section of values.yaml carries comments (the chart's reference)."""
    text = (CHART / "values.yaml").read_text()
    assert text.count("# --") >= 40
    for key in yaml.safe_load(text):
        assert f"\n{key}:" in "\n" + text


# ----------------------------------------------------------------------------- executors


@pytest.mark.parametrize("executors", [1, 3, 7])
def test_executors_submit_mode(executors: int) -> None:
    docs = render({"stream": {"executors": executors}})
    conf = spark_defaults(docs)
    assert conf["spark.executor.instances"] == str(executors)
    assert "spark.dynamicAllocation.enabled" not in conf
    driver = one(docs, "Deployment", "msb-stream")
    assert driver["spec"]["replicas"] == 1 and driver["spec"]["strategy"]["type"] == "Recreate"
    container = pod_spec(driver)["containers"][0]
    assert {"name": "SPARK_CONF_DIR", "value": "/etc/msb/spark"} in container["env"]
    assert {"name": "spark-pod-template", "mountPath": "/etc/msb/spark", "readOnly": True} in container["volumeMounts"]
    assert not any(a.startswith("spark.") for a in container["args"][container["args"].index("--master"):]
                   if "driver.pod.name" not in a)  # spark-defaults.conf is the one source of truth
    assert not find(docs, "SparkApplication")


def test_executor_change_restarts_driver() -> None:
    """A new executor count changes the driver's pod template (checksum), so it restarts."""
    a = one(render({"stream": {"executors": 2}}), "Deployment", "msb-stream")
    b = one(render({"stream": {"executors": 5}}), "Deployment", "msb-stream")
    key = "checksum/spark-conf"
    before, after = (d["spec"]["template"]["metadata"]["annotations"][key] for d in (a, b))
    assert before != after


def test_dynamic_allocation_bounds() -> None:
    docs = render({"stream": {"executors": 2, "dynamicAllocation": {"enabled": True, "minExecutors": 1,
                                                                     "maxExecutors": 9}}})
    conf = spark_defaults(docs)
    assert (conf["spark.dynamicAllocation.enabled"], conf["spark.dynamicAllocation.minExecutors"],
            conf["spark.dynamicAllocation.maxExecutors"], conf["spark.dynamicAllocation.initialExecutors"]) == (
        "true", "1", "9", "2")


def test_executors_spark_application_mode() -> None:
    docs = render({"stream": {"mode": "sparkApplication", "executors": 4,
                              "dynamicAllocation": {"enabled": True, "minExecutors": 2, "maxExecutors": 6}}})
    app = one(docs, "SparkApplication", "msb-stream")
    assert app["spec"]["executor"]["instances"] == 4
    assert app["spec"]["dynamicAllocation"] == {"enabled": True, "shuffleTrackingEnabled": True,
                                                "initialExecutors": 4, "minExecutors": 2, "maxExecutors": 6}
    assert app["spec"]["driver"]["serviceAccount"] == "msb-stream"
    assert not find(docs, "Deployment", "msb-stream")
    one(docs, "Role", "msb-stream")


def test_stream_args_follow_the_cli_contract() -> None:
    args = one(render(), "Deployment", "msb-stream")["spec"]["template"]["spec"]["containers"][0]["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=False))
    assert pairs["--topic"] == "raw" and pairs["--quality"] == "fink"
    assert pairs["--checkpoint"] == "/data/checkpoint" and pairs["--archive"] == "/data/archive"
    assert pairs["--metrics-port"] == "9402" and pairs["--master"].startswith("k8s://")
    assert pairs["--processed-topic"] == "processed" and pairs["--dead-letter-topic"] == "dead-letters"
    assert pairs["--filters"].split(",")[0] == "known_sso"
    confs = [args[i + 1] for i, a in enumerate(args) if a == "--conf"]
    assert confs == ["spark.kubernetes.driver.pod.name=$(POD_NAME)"]
    conf = spark_defaults(render())
    assert conf["spark.ui.prometheus.enabled"] == "true" and conf["spark.driver.host"] == "msb-stream-driver.msb.svc"


def test_stream_cli_accepts_the_chart_arguments() -> None:
    """The rendered command line parses with the real `msb stream` parser (when it exists)."""
    from msb.cli import build_parser

    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, docs, command in (
        ("stream", render(), lambda d: pod_spec(one(d, "Deployment", "msb-stream"))["containers"][0]["args"]),
        ("crossmatch", render(), lambda d: pod_spec(one(d, "Deployment", "msb-crossmatch"))["containers"][0]["args"]),
        ("replay", render(), lambda d: pod_spec(one(d, "Job"))["containers"][0]["args"]),
        ("stream", render({"stream": {"mode": "sparkApplication"}}),
         lambda d: one(d, "SparkApplication")["spec"]["arguments"][1:]),
    ):
        if name not in choices:
            continue
        parser.parse_args([name, *command(docs)])




def _stream_image_entrypoint() -> str:
    """The command the stream image installs and starts (spark/Dockerfile's ENTRYPOINT)."""
    dockerfile = (paths.REPO_ROOT / "spark" / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    assert f"COPY spark/entrypoint.sh /usr/local/bin/{entry[0]}" in dockerfile
    return entry[0]


def test_stream_pods_start_the_stream_image_entrypoint() -> None:
    """Driver and executor pods (SparkApplication and the executor pod template) run the image's own
    entrypoint, named for the stream."""
    entry = _stream_image_entrypoint()
    assert entry == "msb-stream-entrypoint"
    app = one(render({"stream": {"mode": "sparkApplication"}}), "SparkApplication")["spec"]
    template = yaml.safe_load(one(render(), "ConfigMap", "msb-stream-conf")["data"]["executor-pod-template.yaml"])
    commands = [app[role]["template"]["spec"]["containers"][0]["command"] for role in ("driver", "executor")]
    commands.append(template["spec"]["containers"][0]["command"])
    assert commands == [[entry]] * 3


def test_s3_checkpoint() -> None:
    docs = render({"stream": {"storage": {"type": "s3", "s3": {"uri": "s3a://b/p", "existingSecret": "s3"}}}})
    args = one(docs, "Deployment", "msb-stream")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "s3a://b/p/checkpoint" in args and "s3a://b/p/archive" in args
    assert not find(docs, "PersistentVolumeClaim", "msb-stream-data")


# ----------------------------------------------------------------------------- replicas


def test_crossmatch_replicas_pdb_hpa() -> None:
    docs = render({"crossmatch": {"replicas": 3}})
    assert one(docs, "Deployment", "msb-crossmatch")["spec"]["replicas"] == 3
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert not find(docs, "HorizontalPodAutoscaler")

    # One replica: a budget would block drains or protect nothing, so there is none.
    assert not find(render({"crossmatch": {"replicas": 1}}), "PodDisruptionBudget")
    assert one(render({"crossmatch": {"replicas": 2, "podDisruptionBudget": {"minAvailable": 5}}}),
               "PodDisruptionBudget")["spec"]["minAvailable"] == 1  # capped: a node can still be drained

    auto = render({"crossmatch": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 5}}})
    hpa = one(auto, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert "replicas" not in one(auto, "Deployment", "msb-crossmatch")["spec"]
    assert one(auto, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert not find(render({"crossmatch": {"replicas": 4, "autoscaling": {"enabled": True, "minReplicas": 1}}}),
                    "PodDisruptionBudget")


def test_crossmatch_probes_use_health_endpoints() -> None:
    c = pod_spec(one(render(), "Deployment", "msb-crossmatch"))["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_kafka_node_pool_and_topics() -> None:
    docs = render({"kafka": {"strimzi": {"nodePool": {"replicas": 3}}, "topics": {"replicas": 3}}})
    assert one(docs, "KafkaNodePool")["spec"]["replicas"] == 3
    topics = {t["spec"]["topicName"]: t["spec"] for t in find(docs, "KafkaTopic")}
    expected = {"raw", "processed", "classified", "dead-letters"} | {
        f"fink_{f}_{s}" for f in load_yaml(CHART / "values.yaml")["stream"]["filters"] for s in ("ztf", "lsst")}
    assert set(topics) == expected
    assert all(t["replicas"] == 3 for t in topics.values())
    assert topics["raw"]["config"]["retention.ms"] == 86400000


def test_filters_are_a_values_list() -> None:
    for values, filter_topics in (
            ({}, {"fink_a_b_ztf", "fink_a_b_lsst", "fink_cde_ztf", "fink_cde_lsst"}),
            ({"stream": {"distribution": "container"}}, {"filter-a_b", "filter-cde"})):
        docs = render({**values, "stream": {**values.get("stream", {}), "filters": ["a_b", "cde"]}})
        names = {t["spec"]["topicName"] for t in find(docs, "KafkaTopic")}
        assert names == {"raw", "processed", "classified", "dead-letters"} | filter_topics
        stream_user = one(docs, "KafkaUser", "msb-stream")
        writes = {a["resource"]["name"] for a in stream_user["spec"]["authorization"]["acls"]
                  if "Write" in a["operations"]}
        assert writes == {"processed", "dead-letters"} | filter_topics


def test_kafka_users_acls_exact() -> None:
    docs = render()
    acl = {u["metadata"]["name"]: {(a["resource"]["type"], a["resource"]["name"], op)
                                   for a in u["spec"]["authorization"]["acls"] for op in a["operations"]}
           for u in find(docs, "KafkaUser")}
    assert acl["msb-replay"] == {("topic", "raw", "Describe"), ("topic", "raw", "Write")}
    assert ("topic", "raw", "Read") in acl["msb-stream"] and ("topic", "raw", "Write") not in acl["msb-stream"]
    assert acl["msb-crossmatch"] == {
        ("topic", "processed", "Describe"), ("topic", "processed", "Read"),
        ("group", "msb-crossmatch", "Describe"), ("group", "msb-crossmatch", "Read"),
        ("topic", "classified", "Describe"), ("topic", "classified", "Write")}


# ----------------------------------------------------------------------------- external Kafka


def test_external_kafka() -> None:
    values = load_yaml(CHART / "ci" / "external-kafka-values.yaml")
    docs = render(values)
    assert not [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io")]
    for workload in find(docs, "Deployment"):
        env = {e["name"]: e for e in pod_spec(workload)["containers"][0]["env"]}
        assert env["MSB_BOOTSTRAP"]["value"] == values["kafka"]["external"]["bootstrap"]
        assert env["MSB_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        for var, key in (("MSB_KAFKA_SASL_USERNAME", "username"), ("MSB_KAFKA_SASL_PASSWORD", "password")):
            ref = env[var]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "msb-kafka-credentials", "key": key}
        assert env["MSB_KAFKA_OPTIONS"]["value"] == "ssl.ca.location=/etc/msb/kafka-ca/ca.crt"


def test_external_kafka_requires_bootstrap() -> None:
    with pytest.raises(helm_python.HelmError):
        render({"kafka": {"mode": "external"}})


def test_strimzi_credentials_come_from_user_secrets() -> None:
    docs = render()
    for name in ("msb-stream", "msb-crossmatch"):
        env = {e["name"]: e for e in pod_spec(one(docs, "Deployment", name))["containers"][0]["env"]}
        assert env["MSB_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "password"}
        assert env["MSB_KAFKA_SASL_USERNAME"]["value"] == name
        assert env["MSB_BOOTSTRAP"]["value"] == "msb-kafka-kafka-bootstrap:9092"


# ----------------------------------------------------------------------------- security


def _containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, pod securityContext, container) for every container the chart runs."""
    out = []
    for d in docs:
        if d["kind"] in WORKLOADS:
            spec = pod_spec(d)
            for c in spec.get("initContainers", []) + spec["containers"]:
                out.append((f"{d['kind']}/{d['metadata']['name']}/{c['name']}", spec.get("securityContext", {}), c))
        elif d["kind"] == "SparkApplication":
            for role in ("driver", "executor"):
                part = d["spec"][role]
                out.append((f"SparkApplication/{role}", part["podSecurityContext"], part))
        elif d["kind"] == "ConfigMap" and "executor-pod-template.yaml" in d.get("data", {}):
            pod = yaml.safe_load(d["data"]["executor-pod-template.yaml"])
            for c in pod["spec"]["containers"]:
                out.append(("executor pod template", pod["spec"]["securityContext"], c))
    return out


@pytest.mark.parametrize("path", VARIANTS)
def test_security_contexts(path: Path | None) -> None:
    containers = _containers(render(values_of(path)))
    assert containers
    for where, pod_ctx, c in containers:
        ctx = c["securityContext"]
        assert pod_ctx.get("runAsNonRoot") is True and ctx.get("runAsNonRoot") is True, where
        assert (pod_ctx.get("runAsUser") or ctx.get("runAsUser", 0)) > 0, where
        assert ctx["readOnlyRootFilesystem"] is True, where
        assert ctx["allowPrivilegeEscalation"] is False, where
        assert ctx["capabilities"]["drop"] == ["ALL"] and "add" not in ctx["capabilities"], where
        assert pod_ctx["seccompProfile"]["type"] == "RuntimeDefault", where


@pytest.mark.parametrize("path", VARIANTS)
def test_no_secret_in_rendered_values(path: Path | None) -> None:
    """Credentials only ever come from Secrets: no Secret objects, no literal secret env values."""
    docs = render(values_of(path))
    assert not find(docs, "Secret")
    for where, _, c in _containers(docs):
        for env in c.get("env", []):
            if any(w in env["name"].upper() for w in ("PASSWORD", "SECRET", "TOKEN")):
                assert "value" not in env and "secretKeyRef" in env["valueFrom"], where


def test_network_policies() -> None:
    docs = render()
    policies = {p["metadata"]["name"]: p for p in find(docs, "NetworkPolicy")}
    assert set(policies) == {"msb-replay", "msb-stream", "msb-stream-executor", "msb-crossmatch"}
    driver_from = policies["msb-stream"]["spec"]["ingress"][0]
    assert driver_from["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "stream-executor"
    peers = one(docs, "Kafka")["spec"]["kafka"]["listeners"][0]["networkPolicyPeers"]
    assert peers[0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "msb"
    assert not find(render({"networkPolicy": {"enabled": False}}), "NetworkPolicy")


# ----------------------------------------------------------------------------- gating and misc


def test_optional_custom_resources_are_gated() -> None:
    docs = render({
        "kafka": {"mode": "external", "external": {"bootstrap": "k:9092"}},
        "monitoring": {"monitors": False, "rules": {"enabled": False}},
    })
    groups = {d["apiVersion"].split("/")[0] for d in docs}
    assert groups <= {"v1", "apps", "batch", "policy", "rbac.authorization.k8s.io", "networking.k8s.io",
                      "autoscaling"}, groups


def test_monitors_cover_every_component() -> None:
    docs = render()
    pod_monitors = {m["metadata"]["name"] for m in find(docs, "PodMonitor")}
    assert pod_monitors == {"msb-replay", "msb-stream", "msb-kafka-brokers", "msb-kafka-exporter"}
    assert {m["metadata"]["name"] for m in find(docs, "ServiceMonitor")} == {"msb-crossmatch"}
    cm = one(docs, "ConfigMap", "msb-kafka-metrics")
    assert "kafka-metrics-config.yml" in cm["data"]
    assert one(docs, "Kafka")["spec"]["kafkaExporter"]["groupRegex"] == ".*"


def test_dashboards_are_labelled_configmaps() -> None:
    maps = [d for d in find(render(), "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(maps) == 2


def test_replay_modes_and_pace() -> None:
    job = one(render(), "Job")
    args = pod_spec(job)["containers"][0]["args"]
    assert args[args.index("--visit-interval") + 1] == "5" and args[args.index("--loops") + 1] == "1"
    assert pod_spec(job)["initContainers"][0]["name"] == "download"
    dep = one(render({"replay": {"mode": "deployment", "pace": {"mode": "rate", "value": 100},
                                 "data": {"source": "pvc"}}}), "Deployment", "msb-replay")
    args = pod_spec(dep)["containers"][0]["args"]
    assert "--forever" in args and args[args.index("--rate") + 1] == "100"
    assert "initContainers" not in pod_spec(dep)
    assert pod_spec(dep)["volumes"][0]["persistentVolumeClaim"]["claimName"] == "msb-replay-data"


def test_notes_render() -> None:
    text = notes()
    assert "msb scale --executors" in text and "port-forward" in text


def test_shared_data_for_catalogs_and_replay() -> None:
    """The dev cluster's values take the shared data from the claim k8s/shared-data.yaml makes (a
    hostPath volume would be refused by the restricted namespace); sharedData.hostPath still works
    for single-host runs."""
    values = load_yaml(Path(CHART).parent.parent / "k8s" / "values-dev.yaml")
    docs = render(values)
    init = pod_spec(one(docs, "Deployment", "msb-crossmatch"))["initContainers"][0]
    assert {"name": "shared", "mountPath": "/shared", "readOnly": True} in init["volumeMounts"]
    assert {"name": "MSB_SHARED", "value": "/shared"} in init["env"]
    replay = pod_spec(one(docs, "Deployment", "msb-replay"))
    args = replay["containers"][0]["args"]
    assert args[args.index("--data") + 1] == "/shared/data/ztf/alerts/ztf_public_20181129_v3.2"
    claim = [d for d in yaml.safe_load_all((Path(CHART).parent.parent / "k8s" / "shared-data.yaml").read_text())
             if d["kind"] == "PersistentVolumeClaim"][0]["metadata"]["name"]
    assert replay["volumes"][0] == {"name": "shared", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
    on_node = pod_spec(one(render({"sharedData": {"hostPath": "/shared"}, "replay": {"data": {"source": "shared"}}}),
                           "Job"))
    assert on_node["volumes"][0] == {"name": "shared", "hostPath": {"path": "/shared", "type": "Directory"}}
    with pytest.raises(helm_python.HelmError, match="sharedData"):
        render({"replay": {"data": {"source": "shared"}}})
    assert "no sharedData is set" in notes() and "no sharedData is set" not in notes(values)


def test_plain_install_comes_up_without_shared_data() -> None:
    """`helm install msb charts/msb` with no values: no catalog build that has nothing to build from
    (the crossmatch starts on an empty store), nothing that mounts a folder that is not there."""
    docs = render()
    crossmatch = pod_spec(one(docs, "Deployment", "msb-crossmatch"))
    assert "initContainers" not in crossmatch
    workloads = [d for d in docs if d["kind"] in ("Deployment", "Job")]
    assert all(v["name"] != "shared" for d in workloads for v in pod_spec(d)["volumes"])


def test_driver_service_publishes_not_ready_addresses() -> None:
    """Executors resolve the driver while it waits for them, before its readiness probe answers."""
    svc = one(render(), "Service", "msb-stream-driver")
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True


def test_values_schema_is_strict_everywhere() -> None:
    """Every object the schema describes by its properties rejects unknown keys."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    loose: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                loose.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(schema, "#")
    # allOf/if-then fragments only narrow properties that the strict object already lists.
    assert [w for w in loose if "/allOf/" not in w and "/not" not in w] == []


def test_embedded_kafka_single_host_mode() -> None:
    """kafka.mode=embedded: tansu (`msb broker`, replay image) as a Deployment + Service, which every
    client reaches by the Service's name, in plaintext (no Strimzi, no credentials)."""
    docs = render(load_yaml(CHART / "ci" / "embedded-values.yaml"))
    assert not find(docs, "Kafka") and not find(docs, "KafkaTopic")
    broker = pod_spec(one(docs, "Deployment", "msb-kafka"))["containers"][0]
    assert broker["command"] == ["msb", "broker"] and broker["image"].startswith("msb-replay:")
    args = broker["args"]
    assert args[args.index("--advertise") + 1] == "msb-kafka:9092" and args[args.index("--host") + 1] == "0.0.0.0"
    assert one(docs, "Service", "msb-kafka")["spec"]["ports"][0]["port"] == 9092
    for name in ("msb-stream", "msb-crossmatch"):
        env = {e["name"]: e.get("value") for e in pod_spec(one(docs, "Deployment", name))["containers"][0]["env"]}
        assert env["MSB_BOOTSTRAP"] == "msb-kafka:9092"
        assert not any(k.startswith("MSB_KAFKA_") for k in env), env
    driver = pod_spec(one(docs, "Deployment", "msb-stream"))["containers"][0]["args"]
    assert driver[driver.index("--master") + 1] == "local[2]"
