{{/*
Names, labels, images, security contexts and Kafka settings shared by every template.
*/}}

{{- define "msb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "msb.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>" for a dict (root, component). */}}
{{- define "msb.componentName" -}}
{{- printf "%s-%s" (include "msb.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "msb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "msb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "msb.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels for a dict (root, component). */}}
{{- define "msb.labels" -}}
helm.sh/chart: {{ include "msb.chart" .root }}
{{ include "msb.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: msb
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Image reference for a dict (root, image: component image values). */}}
{{- define "msb.image" -}}
{{- $repo := .image.repository }}
{{- with .root.Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}{{ end }}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{- define "msb.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod security context: chart defaults overlaid with the component's (dict root, values). */}}
{{- define "msb.podSecurityContext" -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.podSecurityContext) (default dict .values.podSecurityContext)) }}
{{- end }}

{{- define "msb.containerSecurityContext" -}}
{{- $ctx := mergeOverwrite (deepCopy .root.Values.containerSecurityContext) (default dict .values.containerSecurityContext) }}
{{- with .values.podSecurityContext }}{{ with .runAsUser }}{{ $_ := set $ctx "runAsUser" . }}{{ end }}{{ end }}
{{- toYaml $ctx }}
{{- end }}

{{/* ---------------------------------------------------------------- Kafka ---------- */}}

{{- define "msb.kafka.clusterName" -}}
{{- default (printf "%s-kafka" (include "msb.fullname" .)) .Values.kafka.strimzi.clusterName | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "msb.kafka.bootstrap" -}}
{{- if eq .Values.kafka.mode "strimzi" }}
{{- printf "%s-kafka-bootstrap:%d" (include "msb.kafka.clusterName" .) (int .Values.kafka.strimzi.listener.port) }}
{{- else if eq .Values.kafka.mode "embedded" }}
{{- printf "%s:%d" (include "msb.componentName" (dict "root" . "component" "kafka")) (int .Values.kafka.embedded.port) }}
{{- else }}
{{- required "kafka.external.bootstrap is required when kafka.mode is external" .Values.kafka.external.bootstrap }}
{{- end }}
{{- end }}

{{/* KafkaUser name of a component (dict root, component). */}}
{{- define "msb.kafka.userName" -}}
{{- printf "%s-%s" (include "msb.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Kafka topics of the stream filters, comma-separated (use with splitList): with
stream.distribution fink, <topicPrefix> + format per filter and survey (Fink's names: ztf, lsst),
as `msb stream --fink-topics` names them; with container, <topicPrefix>filter-<name>. */}}
{{- define "msb.kafka.filterTopics" -}}
{{- $f := .Values.kafka.topics.filters }}
{{- $topics := list }}
{{- range .Values.stream.filters }}
{{- $filter := . }}
{{- if eq $.Values.stream.distribution "fink" }}
{{- range list "ztf" "lsst" }}
{{- $topics = append $topics (printf "%s%s" $f.topicPrefix ($f.format | replace "{filter}" $filter | replace "{survey}" .)) }}
{{- end }}
{{- else }}
{{- $topics = append $topics (printf "%sfilter-%s" $f.topicPrefix $filter) }}
{{- end }}
{{- end }}
{{- join "," (uniq $topics) }}
{{- end }}

{{/* The subscribers' KafkaUser name. */}}
{{- define "msb.kafka.subscriberUser" -}}
{{- include "msb.kafka.userName" (dict "root" . "component" "subscriber") }}
{{- end }}

{{/* True when clients must present a CA file. */}}
{{- define "msb.kafka.caSecret" -}}
{{- if eq .Values.kafka.mode "strimzi" }}
{{- if .Values.kafka.strimzi.listener.tls }}{{ printf "%s-cluster-ca-cert" (include "msb.kafka.clusterName" .) }}{{ end }}
{{- else }}
{{- .Values.kafka.external.caSecret }}
{{- end }}
{{- end }}

{{- define "msb.kafka.caKey" -}}
{{- if eq .Values.kafka.mode "strimzi" }}ca.crt{{ else }}{{ .Values.kafka.external.caKey }}{{ end }}
{{- end }}

{{/*
Kafka environment of a component (dict root, component): MSB_BOOTSTRAP and, when the cluster
asks for them, the security protocol and SASL credentials read from a Secret (never values).
*/}}
{{- define "msb.kafka.env" -}}
{{- $root := .root }}
{{- $v := $root.Values.kafka }}
- name: MSB_BOOTSTRAP
  value: {{ include "msb.kafka.bootstrap" $root | quote }}
{{- if eq $v.mode "strimzi" }}
{{- if $v.strimzi.authentication }}
- name: MSB_KAFKA_SECURITY_PROTOCOL
  value: {{ ternary "SASL_SSL" "SASL_PLAINTEXT" $v.strimzi.listener.tls | quote }}
- name: MSB_KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: MSB_KAFKA_SASL_USERNAME
  value: {{ include "msb.kafka.userName" . | quote }}
- name: MSB_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      # The Secret the Strimzi user operator creates for the KafkaUser.
      name: {{ include "msb.kafka.userName" . }}
      key: password
{{- else if $v.strimzi.listener.tls }}
- name: MSB_KAFKA_SECURITY_PROTOCOL
  value: SSL
{{- end }}
{{- else if eq $v.mode "external" }}
- name: MSB_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.external.securityProtocol | quote }}
{{- if $v.external.existingSecret }}
- name: MSB_KAFKA_SASL_MECHANISM
  value: {{ $v.external.saslMechanism | quote }}
- name: MSB_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $v.external.existingSecret }}
      key: {{ $v.external.usernameKey }}
- name: MSB_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.external.existingSecret }}
      key: {{ $v.external.passwordKey }}
{{- end }}
{{- end }}
{{- if include "msb.kafka.caSecret" $root }}
- name: MSB_KAFKA_OPTIONS
  value: "ssl.ca.location=/etc/msb/kafka-ca/{{ include "msb.kafka.caKey" $root }}"
{{- end }}
{{- end }}

{{/* Volume and mount for the Kafka CA, when one is needed. */}}
{{- define "msb.kafka.caVolume" -}}
{{- with include "msb.kafka.caSecret" . }}
- name: kafka-ca
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}

{{- define "msb.kafka.caVolumeMount" -}}
{{- if include "msb.kafka.caSecret" . }}
- name: kafka-ca
  mountPath: /etc/msb/kafka-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* The pods that talk to Kafka (msb's clients of this release), for the policies admitting them
to the brokers (Strimzi's listener peers, the embedded broker's NetworkPolicy). */}}
{{- define "msb.kafka.clientPodSelector" -}}
matchLabels:
  app.kubernetes.io/instance: {{ .Release.Name }}
  app.kubernetes.io/part-of: msb
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: ["replay", "stream", "stream-executor", "crossmatch"]
{{- end }}

{{/* ---------------------------------------------------------------- shared data ---- */}}

{{- define "msb.sharedData.enabled" -}}
{{- if or .Values.sharedData.existingClaim .Values.sharedData.hostPath }}true{{ end }}
{{- end }}

{{/* sharedData.hostPath is for development clusters only: a hostPath volume is outside the
restricted Pod Security Standard, so a namespace enforcing it (k8s/install-operators.sh) refuses
the pod; sharedData.existingClaim is the way on a real cluster (k8s/shared-data.yaml for kind). */}}
{{- define "msb.sharedData.volume" -}}
{{- if .Values.sharedData.existingClaim }}
- name: shared
  persistentVolumeClaim:
    claimName: {{ .Values.sharedData.existingClaim }}
    readOnly: true
{{- else if .Values.sharedData.hostPath }}
- name: shared
  hostPath:
    path: {{ .Values.sharedData.hostPath }}
    type: Directory
{{- end }}
{{- end }}

{{- define "msb.sharedData.volumeMount" -}}
{{- if include "msb.sharedData.enabled" . }}
- name: shared
  mountPath: {{ .Values.sharedData.mountPath }}
  readOnly: true
{{- end }}
{{- end }}
