{{- define "parley.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "parley.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "parley.selector" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "parley.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "parley.natsUrl" -}}
{{- if .Values.nats.externalUrl -}}
{{ .Values.nats.externalUrl }}
{{- else -}}
nats://{{ include "parley.fullname" . }}-nats:4222
{{- end -}}
{{- end -}}

{{/* The workers' probes: httpGet on their side port (the container port named http, 8090),
     which they bind on 0.0.0.0 (PARLEY_<SVC>_HTTP_HOST). The startup probe allows
     probes.startupSeconds for loading the models. */}}
{{- define "parley.workerProbes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: {{ div .Values.probes.startupSeconds 2 }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .Values.probes.periodSeconds }}
  failureThreshold: {{ .Values.probes.failureThreshold }}
  timeoutSeconds: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: {{ .Values.probes.periodSeconds }}
  failureThreshold: {{ .Values.probes.failureThreshold }}
  timeoutSeconds: 3
{{- end -}}

{{- define "parley.commonEnv" -}}
- name: PARLEY_CONFIG
  value: /etc/parley/parley.json
{{- range $k, $v := .Values.extraEnv }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}
