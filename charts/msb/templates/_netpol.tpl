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
