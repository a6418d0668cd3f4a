# Kubernetes targets, included from the top-level Makefile (`include k8s/k8s.mk`).
#   make cluster               kind cluster, msb namespace (restricted), Strimzi, kube-prometheus-stack
#                              (SPARK_OPERATOR=1: Spark operator), the shared data claim
#   make shared-data           the node's /shared as PVC msb-shared-data (k8s/shared-data.yaml)
#   make deploy                build the images and install/upgrade charts/msb once (skaffold run)
#   make dev                   skaffold dev: rebuild and redeploy on change, port-forwards
#   make scale EXECUTORS=N     set the stream's Spark executor count (msb scale)
#   make cluster-delete        delete the kind cluster
KIND ?= kind
SKAFFOLD ?= skaffold
KIND_CLUSTER ?= msb
K8S_NAMESPACE ?= msb
K8S_RELEASE ?= msb
SKAFFOLD_PROFILE ?= kind
SPARK_OPERATOR ?= 0
EXECUTORS ?=
MSB ?= .venv/bin/msb
MSB_SHARED ?= $(abspath ../shared)
KIND_CONFIG ?= /tmp/msb-kind-config.yaml

.PHONY: cluster shared-data deploy dev scale scale-args cluster-delete

cluster:
	@$(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)' || \
		{ sed 's|MSB_SHARED_DIR|$(MSB_SHARED)|' k8s/kind-config.yaml > $(KIND_CONFIG) && \
		  $(KIND) create cluster --name $(KIND_CLUSTER) --config $(KIND_CONFIG) --wait 120s; }
	kubectl config use-context kind-$(KIND_CLUSTER)
	MSB_NAMESPACE=$(K8S_NAMESPACE) SPARK_OPERATOR=$(SPARK_OPERATOR) bash k8s/install-operators.sh
	$(MAKE) shared-data

# The node's /shared (../shared) as the claim msb-shared-data, for k8s/values-dev.yaml.
shared-data:
	sed 's/namespace: msb$$/namespace: $(K8S_NAMESPACE)/' k8s/shared-data.yaml | kubectl apply -f -

deploy:
	$(SKAFFOLD) run --profile $(SKAFFOLD_PROFILE) --status-check=false

dev:
	$(SKAFFOLD) dev --profile $(SKAFFOLD_PROFILE) --port-forward

# The argument check comes first, so a forgotten EXECUTORS fails before anything is installed.
scale-args:
	@test -n "$(EXECUTORS)" || { echo "usage: make scale EXECUTORS=N" >&2; exit 2; }

scale: scale-args install
	$(MSB) scale --executors $(EXECUTORS) --namespace $(K8S_NAMESPACE) --release $(K8S_RELEASE)

cluster-delete:
	$(KIND) delete cluster --name $(KIND_CLUSTER)
