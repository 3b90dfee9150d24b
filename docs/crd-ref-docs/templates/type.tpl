{{- define "type" -}}
{{- $type := . -}}
{{- if markdownShouldRenderType $type -}}
#### {{ $type.Name }}
{{ if $type.IsAlias }}
_Underlying type:_ _{{ markdownRenderTypeLink $type.UnderlyingType }}_
{{ end }}
{{ $type.Doc | replace "<" "&lt;" }}
{{ if or $type.Validation (index $type.Markers "kubebuilder:validation:XValidation") }}
_Validation:_
{{- range $type.Validation }}
- {{ . }}
{{- end }}
{{- range (index $type.Markers "kubebuilder:validation:XValidation") }}
- {{ .Message | replace "<" "&lt;" }}
{{- end }}
{{ end }}
{{- if $type.References }}
_Appears in:_
{{- range $type.SortedReferences }}
- {{ markdownRenderTypeLink . }}
{{- end }}
{{ end }}
{{- if $type.Members }}
| Field | Description | Validation |
| --- | --- | --- |
{{- if $type.GVK }}
| `apiVersion` _string_ | `{{ $type.GVK.Group }}/{{ $type.GVK.Version }}` | |
| `kind` _string_ | `{{ $type.GVK.Kind }}` | |
{{- end }}
{{- range $type.Members }}
| `{{ .Name }}` _{{ markdownRenderType .Type }}_ | {{ template "type_members" . }} | {{ template "field_validation" . }} |
{{- end }}
{{ end }}
{{- if $type.EnumValues }}
| Value | Description |
| --- | --- |
{{- range $type.EnumValues }}
| `{{ .Name }}` | {{ .Doc | replace "<" "&lt;" | markdownRenderFieldDoc }} |
{{- end }}
{{ end }}
{{- end -}}
{{- end -}}
