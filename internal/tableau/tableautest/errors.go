package tableautest

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// Error codes the simulator answers with. Tableau's six-digit codes start with the HTTP status;
// where REFERENCE.md §5.2 leaves a code unknown, the simulator's choice is marked "chosen".
const (
	// CodeBadRequest is the generic malformed-request code (unparseable body, failed validation).
	CodeBadRequest = "400000"
	// CodeTestWebhookNotFound answers Test Webhook for an unknown webhook id. Tableau documents
	// 400113 for it, so the simulator answers HTTP 400 (not 404) with this code.
	CodeTestWebhookNotFound = "400113"
	// CodeReasonWithEnabled answers Update Webhook when statusChangeReason comes with isEnabled=true.
	CodeReasonWithEnabled = "400127"
	// CodeNoCredentials answers a request without an X-Tableau-Auth header.
	CodeNoCredentials = "401000"
	// CodeSignInError answers a failed sign-in (bad credentials or unknown site).
	CodeSignInError = "401001"
	// CodeInvalidCredentials answers an unknown, expired, signed-out or superseded token.
	CodeInvalidCredentials = "401002"
	// CodeSiteMismatch (chosen) answers a valid token used on another site's URI.
	CodeSiteMismatch = "403000"
	// CodeForbidden answers a signed-in user who is not a site or server administrator;
	// Tableau uses 403004 for the sibling notification methods.
	CodeForbidden = "403004"
	// CodeSiteNotFound answers a site id in the URI that does not exist.
	CodeSiteNotFound = "404000"
	// CodeUnknownResource answers an unknown path or an API version the endpoint does not exist in.
	CodeUnknownResource = "404003"
	// CodeWebhookNotFound (chosen) answers Get, Update and Delete of an unknown webhook id.
	CodeWebhookNotFound = "404040"
	// CodeMethodNotAllowed answers a known path called with the wrong HTTP method.
	CodeMethodNotAllowed = "405000"
	// CodeTooManyRequests answers a 429 injected with Faults.RetryAfterInDetail, as Tableau
	// Cloud's "429000: Too Many Requests" (REFERENCE 10.2).
	CodeTooManyRequests = "429000"
	// CodeInternal answers injected 500 faults.
	CodeInternal = "500000"
)

// apiError is a Tableau error response: an HTTP status and an <error code><summary><detail> body.
type apiError struct {
	status  int
	code    string
	summary string
	detail  string
}

// Error renders the error for logs and test failures.
func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s: %s", e.status, e.code, e.summary, e.detail)
}

func errBadRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, CodeBadRequest, "Bad Request", fmt.Sprintf(format, args...)}
}

func errSignIn(detail string) *apiError {
	return &apiError{http.StatusUnauthorized, CodeSignInError, "Signin Error", detail}
}

func errNoCredentials() *apiError {
	return &apiError{http.StatusUnauthorized, CodeNoCredentials, "Unauthorized Access",
		"No authentication credentials were provided"}
}

func errInvalidCredentials() *apiError {
	return &apiError{http.StatusUnauthorized, CodeInvalidCredentials, "Unauthorized Access",
		"Invalid authentication credentials were provided."}
}

func errSiteMismatch(siteID string) *apiError {
	return &apiError{http.StatusForbidden, CodeSiteMismatch, "Forbidden",
		fmt.Sprintf("The authentication token is not valid for site '%s'.", siteID)}
}

func errForbidden() *apiError {
	return &apiError{http.StatusForbidden, CodeForbidden, "Forbidden",
		"Only site administrators and server administrators can manage webhooks."}
}

func errSiteNotFound(siteID string) *apiError {
	return &apiError{http.StatusNotFound, CodeSiteNotFound, "Resource Not Found",
		fmt.Sprintf("Site '%s' could not be found.", siteID)}
}

func errUnknownResource(path string) *apiError {
	return &apiError{http.StatusNotFound, CodeUnknownResource, "Resource Not Found",
		fmt.Sprintf("Unknown resource '%s' specified in URI.", path)}
}

func errWebhookNotFound(id string) *apiError {
	return &apiError{http.StatusNotFound, CodeWebhookNotFound, "Resource Not Found",
		fmt.Sprintf("Webhook '%s' could not be found.", id)}
}

func errTestWebhookNotFound(id string) *apiError {
	return &apiError{http.StatusBadRequest, CodeTestWebhookNotFound, "Bad Request",
		fmt.Sprintf("Webhook '%s' does not exist.", id)}
}

func errReasonWithEnabled() *apiError {
	return &apiError{http.StatusBadRequest, CodeReasonWithEnabled, "Bad Request",
		"statusChangeReason can only be provided when isEnabled is false."}
}

func errMethodNotAllowed(method string) *apiError {
	return &apiError{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "Method Not Allowed",
		fmt.Sprintf("Request method '%s' is not supported for this resource.", method)}
}

// errInjected is the body of a fault-injected error with the given status.
func errInjected(status int) *apiError {
	if status == http.StatusInternalServerError {
		return &apiError{status, CodeInternal, "Internal Server Error",
			"The server encountered an error and cannot complete your request. Contact your server administrator."}
	}
	return &apiError{status, fmt.Sprintf("%d000", status), http.StatusText(status), "Simulated fault."}
}

// errRateLimited is Tableau Cloud's rate-limit answer (REFERENCE 10.2): the retry hint is in
// the detail, in whole minutes when the wait is a whole number of minutes, else in seconds
// rounded up. The resource name after "api.rest." is the simulator's, derived from the
// operation ("api.rest.list_webhooks"); Tableau names its own limits.
func errRateLimited(op string, wait time.Duration) *apiError {
	var hint string
	switch {
	case wait >= time.Minute && wait%time.Minute == 0:
		hint = plural(int64(wait/time.Minute), "minute")
	default:
		hint = plural(max(int64(math.Ceil(wait.Seconds())), 0), "second")
	}
	return &apiError{http.StatusTooManyRequests, CodeTooManyRequests, "Too Many Requests",
		fmt.Sprintf("Too many requests for 'api.rest.%s'. Please retry after %s.", snakeCase(op), hint)}
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// snakeCase turns an operation name like "ListWebhooks" into "list_webhooks".
func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
