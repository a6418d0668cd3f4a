{{/*
NetworkPolicy pieces. Every msb pod gets an ingress and an egress policy: egress is DNS, Kafka and
what the component itself needs (see each component's networkpolicy.yaml), nothing else.
*/}}

{{/* Ingress rule letting Prometheus (monitoring namespaces) reach the given ports (dict root, ports). */}}
{{- define "msb.netpol.fromMonitoring" -}}
- from:
    - namespaceSelector:
        matchLabels:
          {{- toYaml .root.Values.networkPolicy.monitoringNamespaceSelector | nindent 10 }}
  ports:
    {{- range .ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}

{{/* Egress rule to the cluster's DNS. */}}
{{- define "msb.netpol.toDns" -}}
- to:
    {{- toYaml .Values.networkPolicy.egress.dns | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/* Egress rule to the Kafka brokers the chart's clients use (Strimzi pods, the embedded broker or
the external bootstrap ports). */}}
{{- define "msb.netpol.toKafka" -}}
{{- $k := .Values.kafka }}
{{- if eq $k.mode "strimzi" }}
- to:
    - podSelector:
        matchLabels:
          strimzi.io/cluster: {{ include "msb.kafka.clusterName" . }}
          strimzi.io/kind: Kafka
  ports:
    - port: {{ $k.strimzi.listener.port }}
      protocol: TCP
{{- else if eq $k.mode "embedded" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "msb.selectorLabels" (dict "root" . "component" "kafka") | nindent 10 }}
  ports:
    - port: {{ $k.embedded.port }}
      protocol: TCP
{{- else }}
-
  {{- with .Values.networkPolicy.egress.externalKafkaTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    {{- $ports := list }}
    {{- range splitList "," $k.external.bootstrap }}
    {{- $m := regexFind ":[0-9]+$" (trim .) }}
    {{- $ports = append $ports (ternary (trimPrefix ":" $m) "9092" (ne $m "")) }}
    {{- end }}
    {{- range uniq $ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end }}

{{/* The TCP port of a URL ("https://h/p" -> 443, "http://h:8080" -> 8080, "h:9000" -> 9000). */}}
{{- define "msb.urlPort" -}}
{{- $rest := . }}
{{- $port := "443" }}
{{- if contains "://" . }}
{{- $parts := splitn "://" 2 . }}
{{- if eq (lower $parts._0) "http" }}{{ $port = "80" }}{{ end }}
{{- $rest = $parts._1 }}
{{- end }}
{{- $m := regexFind ":[0-9]+$" (first (splitList "/" $rest)) }}
{{- ternary (trimPrefix ":" $m) $port (ne $m "") }}
{{- end }}

{{/* Egress rule to the port of a URL, towards the given peers ([] = any address) (dict url peers). */}}
{{- define "msb.netpol.toUrl" -}}
-
  {{- with .peers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - port: {{ include "msb.urlPort" .url }}
      protocol: TCP
{{- end }}

{{/* Extra egress rules of a component from networkPolicy.egress.extra (dict root, key). */}}
{{- define "msb.netpol.extraEgress" -}}
{{- with get .root.Values.networkPolicy.egress.extra .key }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* The stream's S3 endpoint, when the checkpoint and archive live in S3. */}}
{{- define "msb.netpol.toS3" -}}
{{- $s3 := .Values.stream.storage.s3 }}
{{- if eq .Values.stream.storage.type "s3" }}
{{- include "msb.netpol.toUrl" (dict "url" (default "https://s3.amazonaws.com" $s3.endpoint) "peers" .Values.networkPolicy.egress.s3To) }}
{{- end }}
{{- end }}
