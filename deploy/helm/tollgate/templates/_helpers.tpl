{{/* Shared names, labels and checks for the Tollgate chart. */}}

{{- define "tollgate.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tollgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tollgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tollgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: control-plane
{{- end -}}

{{- define "tollgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "tollgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "tollgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tollgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image: call with (dict "root" . "image" .Values.image.sidecar) */}}
{{- define "tollgate.image" -}}
{{- printf "%s%s:%s" .root.Values.image.registry .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* The service names the serving certificate covers. */}}
{{- define "tollgate.dnsNames" -}}
{{- $svc := include "tollgate.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson -}}
{{- end -}}

{{/* Fails rendering on value combinations that cannot work. */}}
{{- define "tollgate.validate" -}}
{{- if and (gt (int .Values.controlPlane.replicas) 1) (ne .Values.audit.backend "postgres") -}}
{{- fail "controlPlane.replicas > 1 needs audit.backend: postgres (the embedded SQLite store has a single writer); set audit.backend=postgres and audit.postgres.existingSecret" -}}
{{- end -}}
{{- if not (has .Values.audit.backend (list "sqlite" "postgres")) -}}
{{- fail (printf "audit.backend must be sqlite or postgres, got %q" .Values.audit.backend) -}}
{{- end -}}
{{- if and (eq .Values.audit.backend "postgres") (not .Values.audit.postgres.existingSecret) -}}
{{- fail "audit.backend: postgres needs audit.postgres.existingSecret (a Secret with the connection string)" -}}
{{- end -}}
{{- if not (has .Values.injection.mode (list "native" "classic")) -}}
{{- fail (printf "injection.mode must be native or classic, got %q" .Values.injection.mode) -}}
{{- end -}}
{{- if not (has .Values.webhook.failurePolicy (list "Fail" "Ignore")) -}}
{{- fail "webhook.failurePolicy must be Fail or Ignore" -}}
{{- end -}}
{{- end -}}
