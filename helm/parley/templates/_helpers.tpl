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

{{/* Probes through the side port from inside the container: the workers bind it on
     127.0.0.1 only, so an exec probe (curl is in the image) rather than httpGet. */}}
{{- define "parley.execProbes" -}}
startupProbe:
  exec: {command: ["curl", "-fsS", "http://127.0.0.1:8090/healthz"]}
  periodSeconds: 2
  failureThreshold: {{ div .Values.probes.startupSeconds 2 }}
livenessProbe:
  exec: {command: ["curl", "-fsS", "http://127.0.0.1:8090/healthz"]}
  periodSeconds: {{ .Values.probes.periodSeconds }}
  failureThreshold: {{ .Values.probes.failureThreshold }}
  timeoutSeconds: 3
readinessProbe:
  exec: {command: ["curl", "-fsS", "http://127.0.0.1:8090/readyz"]}
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
