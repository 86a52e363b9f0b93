{{- define "wagate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wagate.labels" -}}
app.kubernetes.io/name: wagate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "wagate.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Non-root, read-only, no privileges: shared by every container of the chart. */}}
{{- define "wagate.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "wagate.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "wagate.apiKeysSecret" -}}
{{- .Values.apiKeys.existingSecret | default (printf "%s-api-keys" (include "wagate.fullname" .)) -}}
{{- end -}}

{{/* The operator's default name for it; session pods mount it by this name. */}}
{{- define "wagate.internalTokenSecret" -}}
{{- printf "%s-internal-token" (include "wagate.fullname" .) -}}
{{- end -}}

{{/* A value kept from the live Secret on upgrade, else freshly generated. */}}
{{- define "wagate.keep" -}}
{{- $secret := lookup "v1" "Secret" .ns .name -}}
{{- if and $secret (index ($secret.data | default dict) .key) -}}
{{- index $secret.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}

{{/* Ingress rule: the metrics port (9090), from the release's namespace and the namespaces in metrics.allowedNamespaces. */}}
{{- define "wagate.metricsScrapers" -}}
- from:
    - namespaceSelector:
        matchExpressions:
          - key: kubernetes.io/metadata.name
            operator: In
            values: {{- toYaml (append (.Values.metrics.allowedNamespaces | default list) .Release.Namespace) | nindent 14 }}
  ports:
    - { port: 9090, protocol: TCP }
{{- end }}

{{/* Env of the operator and the router for defaultWebhook (the same on both). */}}
{{- define "wagate.defaultWebhookEnv" -}}
{{- with .Values.defaultWebhook }}
{{- if .url }}
- name: WAGATE_DEFAULT_WEBHOOK_URL
  value: {{ .url | quote }}
{{- with .events }}
- name: WAGATE_DEFAULT_WEBHOOK_EVENTS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .secretName }}
- name: WAGATE_DEFAULT_WEBHOOK_SECRET_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
