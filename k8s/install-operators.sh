#!/usr/bin/env bash
# Creates msb's namespace under the restricted Pod Security Standard (k8s/namespace.yaml) and
# installs the operators msb's chart relies on, at pinned versions (the same versions whose CRD
# schemas the offline tests validate against, in ../shared/k8s-schemas):
#   Strimzi 1.2.0            Kafka, KafkaNodePool, KafkaTopic, KafkaUser (kafka.strimzi.io/v1), with the
#                            restricted pod security provider (k8s/strimzi-values.yaml)
#   kube-prometheus-stack    prometheus-operator v0.93 (ServiceMonitor, PodMonitor, PrometheusRule), Grafana
#   Spark operator 2.5.2     SparkApplication (only with SPARK_OPERATOR=1, for stream.mode=sparkApplication)
# Needs kubectl and helm (>= 3.8 for OCI charts) pointed at the target cluster.
set -euo pipefail

STRIMZI_VERSION="${STRIMZI_VERSION:-1.2.0}"
KPS_VERSION="${KPS_VERSION:-88.2.0}"
SPARK_OPERATOR_VERSION="${SPARK_OPERATOR_VERSION:-2.5.2}"
MSB_NAMESPACE="${MSB_NAMESPACE:-msb}"
SPARK_OPERATOR="${SPARK_OPERATOR:-0}"
HERE="$(cd "$(dirname "$0")" && pwd)"

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required" >&2; exit 1; }; }
need kubectl
need helm

echo "==> namespace $MSB_NAMESPACE (Pod Security Admission: restricted, enforced)"
# Created or updated declaratively, so an existing namespace gets the labels too.
sed "s/^  name: msb$/  name: $MSB_NAMESPACE/" "$HERE/namespace.yaml" | kubectl apply -f -

echo "==> Strimzi $STRIMZI_VERSION (namespace strimzi, watching $MSB_NAMESPACE, restricted pod security provider)"
helm upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
  --version "$STRIMZI_VERSION" --namespace strimzi --create-namespace \
  --values "$HERE/strimzi-values.yaml" \
  --set "watchNamespaces={$MSB_NAMESPACE}" --wait --timeout 10m

echo "==> kube-prometheus-stack $KPS_VERSION (namespace monitoring)"
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
  --version "$KPS_VERSION" --namespace monitoring --create-namespace \
  --values "$HERE/kube-prometheus-stack-values.yaml" --wait --timeout 15m

if [ "$SPARK_OPERATOR" = "1" ]; then
  echo "==> Spark operator $SPARK_OPERATOR_VERSION (namespace spark-operator, jobs in $MSB_NAMESPACE)"
  helm repo add spark-operator https://kubeflow.github.io/spark-operator --force-update >/dev/null
  helm upgrade --install spark-operator spark-operator/spark-operator \
    --version "$SPARK_OPERATOR_VERSION" --namespace spark-operator --create-namespace \
    --set "spark.jobNamespaces={$MSB_NAMESPACE}" --wait --timeout 10m
fi

echo "==> CRDs present:"
kubectl get crd kafkas.kafka.strimzi.io kafkanodepools.kafka.strimzi.io kafkatopics.kafka.strimzi.io \
  kafkausers.kafka.strimzi.io servicemonitors.monitoring.coreos.com podmonitors.monitoring.coreos.com \
  prometheusrules.monitoring.coreos.com -o name
if [ "$SPARK_OPERATOR" = "1" ]; then kubectl get crd sparkapplications.sparkoperator.k8s.io -o name; fi
