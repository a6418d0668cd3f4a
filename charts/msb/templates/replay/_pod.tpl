{{/* The replay pod spec, shared by the Job and the Deployment. */}}
{{- define "msb.replay.podSpec" -}}
{{- $r := .Values.replay }}
{{- $ctx := dict "root" . "values" $r }}
{{- include "msb.imagePullSecrets" . }}
automountServiceAccountToken: false
securityContext:
  {{- include "msb.podSecurityContext" $ctx | nindent 2 }}
{{- if eq $r.data.source "download" }}
initContainers:
  # Fetches the public ZTF night once into the data volume (skipped if already there).
  - name: download
    image: {{ include "msb.image" (dict "root" . "image" $r.image) }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["python", "-c"]
    args:
      - |
        import os, sys, urllib.request
        url, dest = os.environ["MSB_DATA_URL"], os.environ["MSB_DATA_FILE"]
        if os.path.exists(dest):
            sys.exit(0)
        print(f"downloading {url}", flush=True)
        urllib.request.urlretrieve(url, dest + ".part")
        os.replace(dest + ".part", dest)
    env:
      - name: MSB_DATA_URL
        value: {{ $r.data.url | quote }}
      - name: MSB_DATA_FILE
        value: {{ printf "/data/%s" $r.data.path | quote }}
    securityContext:
      {{- include "msb.containerSecurityContext" $ctx | nindent 6 }}
    volumeMounts:
      - name: data
        mountPath: /data
      - name: tmp
        mountPath: /tmp
{{- end }}
containers:
  - name: replay
    image: {{ include "msb.image" (dict "root" . "image" $r.image) }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    # The image's entrypoint is `msb replay`.
    args:
      - --data
      {{- if eq $r.data.source "shared" }}
      - {{ printf "%s/%s" .Values.sharedData.mountPath $r.data.path | quote }}
      {{- else }}
      - {{ printf "/data/%s" $r.data.path | quote }}
      {{- end }}
      - --bootstrap
      - $(MSB_BOOTSTRAP)
      - --topic
      - {{ .Values.kafka.topics.raw.name | quote }}
      - --partitions
      - {{ $r.partitions | quote }}
      {{- if eq $r.pace.mode "visitInterval" }}
      - --visit-interval
      - {{ $r.pace.value | quote }}
      {{- else if eq $r.pace.mode "speed" }}
      - --speed
      - {{ $r.pace.value | quote }}
      {{- else if eq $r.pace.mode "rate" }}
      - --rate
      - {{ $r.pace.value | quote }}
      {{- else }}
      - --max
      {{- end }}
      {{- if eq $r.mode "deployment" }}
      - --forever
      {{- else }}
      - --loops
      - {{ $r.loop | quote }}
      {{- end }}
      {{- if $r.limit }}
      - --limit
      - {{ $r.limit | quote }}
      {{- end }}
      - --wire-format
      - {{ $r.format }}
      - --metrics-port
      - {{ $r.metricsPort | quote }}
      - --no-progress
      {{- range $r.extraArgs }}
      - {{ . | quote }}
      {{- end }}
    env:
      {{- include "msb.kafka.env" (dict "root" . "component" "replay") | trim | nindent 6 }}
      - name: HOME
        value: /tmp
      {{- with $r.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    ports:
      - name: metrics
        containerPort: {{ $r.metricsPort }}
        protocol: TCP
    {{- if eq $r.mode "deployment" }}
    livenessProbe:
      httpGet:
        path: /metrics
        port: metrics
      initialDelaySeconds: 10
      periodSeconds: 20
    {{- end }}
    readinessProbe:
      httpGet:
        path: /metrics
        port: metrics
      periodSeconds: 10
    securityContext:
      {{- include "msb.containerSecurityContext" $ctx | nindent 6 }}
    {{- with $r.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      {{- if eq $r.data.source "shared" }}
      {{- with (include "msb.sharedData.volumeMount" .) }}{{ . | nindent 6 }}{{- end }}
      {{- else }}
      - name: data
        mountPath: /data
        readOnly: {{ eq $r.data.source "pvc" }}
      {{- end }}
      - name: tmp
        mountPath: /tmp
      {{- with (include "msb.kafka.caVolumeMount" .) }}{{ . | nindent 6 }}{{- end }}
volumes:
  {{- if eq $r.data.source "shared" }}
  {{- if not (include "msb.sharedData.enabled" .) }}
  {{- fail "replay.data.source=shared needs sharedData.existingClaim or sharedData.hostPath" }}
  {{- end }}
  {{- with (include "msb.sharedData.volume" .) }}{{ . | nindent 2 }}{{- end }}
  {{- else }}
  - name: data
    {{- if eq $r.data.source "pvc" }}
    persistentVolumeClaim:
      claimName: {{ default (include "msb.componentName" (dict "root" . "component" "replay-data")) $r.data.pvc.existingClaim }}
    {{- else }}
    emptyDir:
      sizeLimit: {{ $r.data.pvc.size }}
    {{- end }}
  {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ $r.tmpSizeLimit }}
  {{- with (include "msb.kafka.caVolume" .) }}{{ . | nindent 2 }}{{- end }}
{{- with $r.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $r.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $r.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
