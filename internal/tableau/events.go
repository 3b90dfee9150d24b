package tableau

import "strings"

// EventInfo describes one Tableau webhook trigger event.
type EventInfo struct {
	// Name is the API event name sent in the webhook's event attribute (API 3.9+).
	Name string
	// Legacy is the element name used inside <webhook-source> by the older request form.
	Legacy string
	// Resource is the resource kind Tableau reports in the delivery payload.
	Resource string
}

// Events is Tableau's catalogue of webhook trigger events, in the order of Tableau's
// "Trigger Events" table. The legacy names are irregular as documented: the admin events
// lack the "source-" infix and LabelDeleted keeps Tableau's documented spelling.
var Events = []EventInfo{
	{Name: "AdminPromoted", Legacy: "webhook-event-user-promoted-admin", Resource: "USER"},
	{Name: "AdminDemoted", Legacy: "webhook-event-user-demoted-admin", Resource: "USER"},
	{Name: "DatasourceUpdated", Legacy: "webhook-source-event-datasource-updated", Resource: "DATASOURCE"},
	{Name: "DatasourceCreated", Legacy: "webhook-source-event-datasource-created", Resource: "DATASOURCE"},
	{Name: "DatasourceDeleted", Legacy: "webhook-source-event-datasource-deleted", Resource: "DATASOURCE"},
	{Name: "DatasourceRefreshStarted", Legacy: "webhook-source-event-datasource-refresh-started", Resource: "EXTRACTS"},
	{Name: "DatasourceRefreshSucceeded", Legacy: "webhook-source-event-datasource-refresh-succeeded", Resource: "EXTRACTS"},
	{Name: "DatasourceRefreshFailed", Legacy: "webhook-source-event-datasource-refresh-failed", Resource: "EXTRACTS"},
	{Name: "LabelCreated", Legacy: "webhook-source-event-label-created", Resource: "DATASOURCE"},
	{Name: "LabelUpdated", Legacy: "webhook-source-event-label-updated", Resource: "DATASOURCE"},
	{Name: "LabelDeleted", Legacy: "webhook-source-event-label-LabelDeleted", Resource: "DATASOURCE"},
	{Name: "SiteCreated", Legacy: "webhook-source-event-site-created", Resource: "SITE"},
	{Name: "SiteUpdated", Legacy: "webhook-source-event-site-updated", Resource: "SITE"},
	{Name: "SiteDeleted", Legacy: "webhook-source-event-site-deleted", Resource: "SITE"},
	{Name: "UserDeleted", Legacy: "webhook-source-event-user-deleted", Resource: "USER"},
	{Name: "ViewDeleted", Legacy: "webhook-source-event-view-deleted", Resource: "VIEW"},
	{Name: "WorkbookUpdated", Legacy: "webhook-source-event-workbook-updated", Resource: "WORKBOOK"},
	{Name: "WorkbookCreated", Legacy: "webhook-source-event-workbook-created", Resource: "WORKBOOK"},
	{Name: "WorkbookDeleted", Legacy: "webhook-source-event-workbook-deleted", Resource: "WORKBOOK"},
	{Name: "WorkbookRefreshStarted", Legacy: "webhook-source-event-workbook-refresh-started", Resource: "EXTRACTS"},
	{Name: "WorkbookRefreshSucceeded", Legacy: "webhook-source-event-workbook-refresh-succeeded", Resource: "EXTRACTS"},
	{Name: "WorkbookRefreshFailed", Legacy: "webhook-source-event-workbook-refresh-failed", Resource: "EXTRACTS"},
}

var (
	eventsByName   = map[string]EventInfo{}
	eventsByLegacy = map[string]EventInfo{}
)

func init() {
	for _, e := range Events {
		eventsByName[e.Name] = e
		eventsByLegacy[e.Legacy] = e
		eventsByLegacy[strings.ToLower(e.Legacy)] = e
	}
	// Spellings Tableau's clients use besides the documented ones: the regular form of
	// LabelDeleted, and the "webhook-source-event-" prefix on the admin events.
	eventsByLegacy["webhook-source-event-label-deleted"] = eventsByName["LabelDeleted"]
	eventsByLegacy["webhook-source-event-user-promoted-admin"] = eventsByName["AdminPromoted"]
	eventsByLegacy["webhook-source-event-user-demoted-admin"] = eventsByName["AdminDemoted"]
}

// LookupEvent returns the event with the given API name (e.g. "DatasourceRefreshFailed").
func LookupEvent(name string) (EventInfo, bool) {
	e, ok := eventsByName[name]
	return e, ok
}

// LookupLegacyEvent returns the event with the given legacy <webhook-source> element name,
// accepting every spelling Tableau and its clients have used: the names are case-insensitive,
// and Tableau used both the "webhook-source-event-" and the shorter "webhook-event-" prefix
// (TSC handles both), so either form of any event is accepted.
func LookupLegacyEvent(legacy string) (EventInfo, bool) {
	lower := strings.ToLower(legacy)
	for _, name := range []string{legacy, lower, swapLegacyPrefix(lower)} {
		if e, ok := eventsByLegacy[name]; ok {
			return e, true
		}
	}
	return EventInfo{}, false
}

// swapLegacyPrefix turns "webhook-event-X" into "webhook-source-event-X" and back.
func swapLegacyPrefix(legacy string) string {
	const long, short = "webhook-source-event-", "webhook-event-"
	switch {
	case strings.HasPrefix(legacy, long):
		return short + strings.TrimPrefix(legacy, long)
	case strings.HasPrefix(legacy, short):
		return long + strings.TrimPrefix(legacy, short)
	}
	return ""
}

// KnownEvent reports whether the webhook's event is one of the catalogue's. A webhook made by
// hand or by a newer Tableau may carry an event this client does not know (a legacy element
// such as webhook-source-event-flow-completed, or a newer event name): it is decoded all the
// same, with Event empty (and LegacyEvent set) or holding the name as Tableau sent it.
func (w Webhook) KnownEvent() bool {
	_, ok := LookupEvent(w.Event)
	return ok
}
