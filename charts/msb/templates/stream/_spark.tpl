{{/*
Spark settings of the stream job as YAML (a map of strings), shared by the spark-defaults
ConfigMap (submit mode) and the SparkApplication (sparkApplication mode).
*/}}
{{- define "msb.stream.sparkConf" -}}
{{- $s := .Values.stream }}
{{- $name := include "msb.componentName" (dict "root" . "component" "stream") }}
{{- $conf := dict }}
{{- $_ := set $conf "spark.kubernetes.namespace" .Release.Namespace }}
{{- $_ := set $conf "spark.kubernetes.container.image" (include "msb.image" (dict "root" . "image" $s.image)) }}
{{- $_ := set $conf "spark.kubernetes.container.image.pullPolicy" .Values.image.pullPolicy }}
{{- $_ := set $conf "spark.kubernetes.authenticate.driver.serviceAccountName" $name }}
{{- $_ := set $conf "spark.kubernetes.authenticate.executor.serviceAccountName" (printf "%s-executor" $name) }}
{{- /* Least privilege: these keep the driver's API calls within the Role of stream/rbac.yaml (no
ConfigMap for the executors, no PVCs owned by the driver, no Service deleted by it, pods deleted
rather than patched, the direct allocator); values.schema.json rejects them in stream.sparkConf. */}}
{{- $_ := set $conf "spark.kubernetes.allocation.pods.allocator" "direct" }}
{{- $_ := set $conf "spark.kubernetes.executor.disableConfigMap" "true" }}
{{- $_ := set $conf "spark.kubernetes.driver.ownPersistentVolumeClaim" "false" }}
{{- $_ := set $conf "spark.kubernetes.driver.reusePersistentVolumeClaim" "false" }}
{{- $_ := set $conf "spark.kubernetes.driver.service.deleteOnTermination" "false" }}
{{- $_ := set $conf "spark.kubernetes.executor.deleteOnTermination" "true" }}
{{- $_ := set $conf "spark.kubernetes.executor.podNamePrefix" (printf "%s-exec" $name | trunc 40 | trimSuffix "-") }}
{{- $_ := set $conf "spark.executor.instances" (toString $s.executors) }}
{{- $_ := set $conf "spark.executor.cores" (toString $s.executor.cores) }}
{{- $_ := set $conf "spark.executor.memory" $s.executor.memory }}
{{- $_ := set $conf "spark.executor.memoryOverhead" $s.executor.memoryOverhead }}
{{- $_ := set $conf "spark.driver.cores" (toString $s.driver.cores) }}
{{- $_ := set $conf "spark.driver.memory" $s.driver.memory }}
{{- $_ := set $conf "spark.ui.enabled" "true" }}
{{- $_ := set $conf "spark.ui.port" (toString $s.uiPort) }}
{{- /* The UI is reachable from Prometheus' namespace (its metrics): no killing jobs from there. */}}
{{- $_ := set $conf "spark.ui.killEnabled" "false" }}
{{- /* Spark's own metrics in Prometheus format on the UI port (driver and executors). */}}
{{- $_ := set $conf "spark.ui.prometheus.enabled" "true" }}
{{- $_ := set $conf "spark.sql.streaming.metricsEnabled" "true" }}
{{- $_ := set $conf "spark.metrics.conf.*.sink.prometheusServlet.class" "org.apache.spark.metrics.sink.PrometheusServlet" }}
{{- $_ := set $conf "spark.metrics.conf.*.sink.prometheusServlet.path" "/metrics/prometheus" }}
{{- $_ := set $conf "spark.metrics.namespace" "msb_stream" }}
{{- $_ := set $conf "spark.local.dir" "/tmp/spark" }}
{{- $_ := set $conf "spark.kubernetes.executor.label.app.kubernetes.io/part-of" "msb" }}
{{- $_ := set $conf "spark.kubernetes.executor.label.app.kubernetes.io/instance" .Release.Name }}
{{- $_ := set $conf "spark.kubernetes.executor.label.app.kubernetes.io/name" (include "msb.name" .) }}
{{- $_ := set $conf "spark.kubernetes.executor.label.app.kubernetes.io/component" "stream-executor" }}
{{- if $s.dynamicAllocation.enabled }}
{{- /* No external shuffle service on Kubernetes: shuffle tracking keeps executors that hold data. */}}
{{- $_ := set $conf "spark.dynamicAllocation.enabled" "true" }}
{{- $_ := set $conf "spark.dynamicAllocation.shuffleTracking.enabled" "true" }}
{{- $_ := set $conf "spark.dynamicAllocation.minExecutors" (toString $s.dynamicAllocation.minExecutors) }}
{{- $_ := set $conf "spark.dynamicAllocation.maxExecutors" (toString $s.dynamicAllocation.maxExecutors) }}
{{- $_ := set $conf "spark.dynamicAllocation.initialExecutors" (toString $s.executors) }}
{{- end }}
{{- if eq $s.storage.type "pvc" }}
{{- /* Executors write the Parquet archive: the same claim is mounted into them. */}}
{{- $claim := default (printf "%s-data" $name) $s.storage.pvc.existingClaim }}
{{- $_ := set $conf "spark.kubernetes.executor.volumes.persistentVolumeClaim.data.options.claimName" $claim }}
{{- $_ := set $conf "spark.kubernetes.executor.volumes.persistentVolumeClaim.data.mount.path" "/data" }}
{{- else }}
{{- $_ := set $conf "spark.hadoop.fs.s3a.path.style.access" (toString $s.storage.s3.pathStyleAccess) }}
{{- $_ := set $conf "spark.hadoop.fs.s3a.aws.credentials.provider" "com.amazonaws.auth.EnvironmentVariableCredentialsProvider" }}
{{- with $s.storage.s3.endpoint }}
{{- $_ := set $conf "spark.hadoop.fs.s3a.endpoint" . }}
{{- end }}
{{- end }}
{{- range $k, $v := $s.sparkConf }}
{{- $_ := set $conf $k (toString $v) }}
{{- end }}
{{- toYaml $conf }}
{{- end }}

{{/* Checkpoint and archive locations. */}}
{{- define "msb.stream.checkpoint" -}}
{{- if eq .Values.stream.storage.type "pvc" }}/data/checkpoint{{ else }}{{ required "stream.storage.s3.uri is required with S3 storage" .Values.stream.storage.s3.uri | trimSuffix "/" }}/checkpoint{{ end }}
{{- end }}

{{- define "msb.stream.archive" -}}
{{- if eq .Values.stream.storage.type "pvc" }}/data/archive{{ else }}{{ .Values.stream.storage.s3.uri | trimSuffix "/" }}/archive{{ end }}
{{- end }}

{{/* `msb stream` arguments (after the command), following its CLI contract. */}}
{{- define "msb.stream.args" -}}
{{- $s := .Values.stream }}
{{- $t := .Values.kafka.topics }}
- --bootstrap
- $(MSB_BOOTSTRAP)
- --topic
- {{ $t.raw.name | quote }}
- --quality
- {{ $s.quality | quote }}
{{- with $s.filters }}
- --filters
- {{ join "," . | quote }}
{{- end }}
- --kafka-format
- {{ $s.kafkaFormat | quote }}
- --processed-topic
- {{ $t.processed.name | quote }}
- --dead-letter-topic
- {{ $t.deadLetters.name | quote }}
{{- with $t.filters.topicPrefix }}
- --topic-prefix
- {{ . | quote }}
{{- end }}
- --distribution
- {{ $s.distribution | quote }}
{{- if eq $s.distribution "fink" }}
- --fink-topics
- {{ $t.filters.format | quote }}
{{- end }}
{{- if $s.maxOffsetsPerTrigger }}
- --max-offsets-per-trigger
- {{ $s.maxOffsetsPerTrigger | quote }}
{{- end }}
- --archive
- {{ include "msb.stream.archive" . | quote }}
- --checkpoint
- {{ include "msb.stream.checkpoint" . | quote }}
- --metrics-port
- {{ $s.metricsPort | quote }}
{{- range $s.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
spark-defaults.conf of the driver Deployment (submit mode): every Spark setting in one file, which
Spark reads itself at start-up (SPARK_CONF_DIR). The one place the executor count lives, so
`msb scale` and `helm upgrade --set stream.executors=N` change this file and restart the driver.
*/}}
{{- define "msb.stream.defaultsConf" -}}
{{- $s := .Values.stream }}
{{- $name := include "msb.componentName" (dict "root" . "component" "stream") }}
{{- $conf := include "msb.stream.sparkConf" . | fromYaml }}
{{- /* The driver's fixed address for its executors: a headless Service, stable ports. */}}
{{- $_ := set $conf "spark.driver.host" (printf "%s-driver.%s.svc" $name .Release.Namespace) }}
{{- $_ := set $conf "spark.driver.bindAddress" "0.0.0.0" }}
{{- $_ := set $conf "spark.driver.port" "7078" }}
{{- $_ := set $conf "spark.driver.blockManager.port" "7079" }}
{{- $_ := set $conf "spark.kubernetes.executor.podTemplateFile" "/etc/msb/spark/executor-pod-template.yaml" }}
{{- $_ := set $conf "spark.kubernetes.executor.podTemplateContainerName" "spark-kubernetes-executor" }}
{{- range $k := keys $conf | sortAlpha }}
{{ $k }} {{ get $conf $k }}
{{- end }}
{{- end }}

{{/* "true" when the driver calls the Kubernetes API (executor pods), "" when they are its threads. */}}
{{- define "msb.stream.usesKubernetesApi" -}}
{{- if or (eq .Values.stream.mode "sparkApplication") (ne .Values.stream.master "local") }}true{{ end }}
{{- end }}

{{/* The stream driver's Spark master: executor pods on Kubernetes, or threads in the driver pod. */}}
{{- define "msb.stream.master" -}}
{{- if eq .Values.stream.master "local" }}local[{{ .Values.stream.localThreads }}]{{ else }}k8s://https://kubernetes.default.svc:443{{ end }}
{{- end }}

{{/* Spark keys covered by MSB_SPARK_* (submit mode) or by SparkApplication spec fields. */}}
{{- define "msb.stream.isSpecKey" -}}
{{- if or (hasPrefix "spark.dynamicAllocation." .) (eq . "spark.kubernetes.container.image") (has . (list "spark.executor.instances" "spark.executor.cores" "spark.executor.memory" "spark.executor.memoryOverhead" "spark.driver.cores" "spark.driver.memory" "spark.kubernetes.namespace" "spark.kubernetes.authenticate.driver.serviceAccountName" "spark.kubernetes.authenticate.executor.serviceAccountName")) }}true{{ end }}
{{- end }}

{{/* Environment of the driver and the executors: Kafka, S3 credentials, the outputs. */}}
{{- define "msb.stream.env" -}}
{{- $s := .Values.stream }}
{{- include "msb.kafka.env" (dict "root" . "component" "stream") }}
- name: HOME
  value: /tmp
{{- if and (eq $s.storage.type "s3") $s.storage.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $s.storage.s3.existingSecret }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s.storage.s3.existingSecret }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- with $s.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
