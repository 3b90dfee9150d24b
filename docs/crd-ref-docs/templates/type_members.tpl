{{- define "type_members" -}}
{{- $field := . -}}
{{- if eq $field.Name "metadata" -}}
Refer to Kubernetes API documentation for fields of `metadata`.
{{- else -}}
{{ $field.Doc | replace "<" "&lt;" | markdownRenderFieldDoc }}
{{- end -}}
{{- end -}}

{{- define "field_validation" -}}
{{- range .Validation -}}
{{- if eq . "Required: {}" }}Required <br />{{ else if ne . "Optional: {}" }}{{ markdownRenderFieldDoc . }} <br />{{ end -}}
{{- end -}}
{{- range (index .Markers "kubebuilder:validation:XValidation") }}{{ .Message | replace "<" "&lt;" | markdownRenderFieldDoc }} <br />{{ end -}}
{{- end -}}
