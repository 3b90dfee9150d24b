{{/*
The chart's name, or nameOverride.
*/}}
{{- define "tableau-webhook-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name, which prefixes the name of every object: fullnameOverride, or the release
name when it holds the chart's name (a release named tableau-webhook-operator names its objects
as dist/install.yaml does), or "<release>-<chart name>".
*/}}
{{- define "tableau-webhook-operator.fullname" -}}
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

{{/*
The name of an object: the full name, then "-" and a suffix (the name config/ gives it, e.g.
controller-manager), at most 63 characters with the whole suffix kept.
Takes a dict: "suffix" and "context" (the root context).
*/}}
{{- define "tableau-webhook-operator.resourceName" -}}
{{- $fullname := include "tableau-webhook-operator.fullname" .context }}
{{- $maxLen := sub 62 (len .suffix) | int }}
{{- printf "%s-%s" ($fullname | trunc $maxLen | trimSuffix "-") .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The chart and its version, for the helm.sh/chart label.
*/}}
{{- define "tableau-webhook-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The labels of every object.
*/}}
{{- define "tableau-webhook-operator.labels" -}}
helm.sh/chart: {{ include "tableau-webhook-operator.chart" . }}
app.kubernetes.io/name: {{ include "tableau-webhook-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The labels that select the manager's pods (the Deployment's selector, the metrics Service's):
never changed by an upgrade, since a Deployment's selector cannot change.
*/}}
{{- define "tableau-webhook-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tableau-webhook-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end }}

{{/*
The manager's ServiceAccount: serviceAccount.name, or "<full name>-controller-manager". With
serviceAccount.create false, serviceAccount.name must name one that exists.
*/}}
{{- define "tableau-webhook-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tableau-webhook-operator.resourceName" (dict "suffix" "controller-manager" "context" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: with serviceAccount.create=false, name the ServiceAccount the manager runs as" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The manager's image: repository:tag (tag defaults to the chart's appVersion), or
repository@digest when image.digest is set.
*/}}
{{- define "tableau-webhook-operator.image" -}}
{{- $img := .Values.manager.image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag | toString) }}
{{- end }}
{{- end }}

{{/*
The metrics Service's port name: https with metrics.secure, else http.
*/}}
{{- define "tableau-webhook-operator.metricsPortName" -}}
{{- if .Values.metrics.secure }}https{{ else }}http{{ end }}
{{- end }}
