// Package tableautest is an in-memory Tableau Server for tests, demos and benchmarks, in the
// style of net/http/httptest:
//
//	srv := tableautest.NewServer(tableautest.WithSite("marketing"), tableautest.WithPAT("op", "secret"))
//	defer srv.Close()
//	// point a client at srv.URL; inspect srv.Webhooks("marketing"), srv.Count(tableautest.OpCreateWebhook)
//
// It serves the REST API as the project's Tableau reference (REFERENCE.md) describes it: serverinfo (both
// "serverinfo" and "serverInfo"), sign-in and sign-out with PATs or passwords, and the six
// webhook endpoints, in XML (namespaced tsResponse) and JSON, accepting both the event
// attribute and the legacy webhook-source element, so that Tableau's own clients work against
// it unchanged. It has its own wire encoding, independent of package tableau's client, so the
// two check each other.
//
// Behaviour where REFERENCE.md is uncertain (each is the simulator's choice):
//   - API versions: any "M.N" from 2.4 on is served; webhook endpoints from 3.6, Update from
//     3.8; lower, malformed or unknown paths answer 404/404003. Versions above the reported
//     restApiVersion are served.
//   - Update answers 200 (not the documented 201) and changes only the fields given. A
//     statusChangeReason with isEnabled=true, or alone on an enabled webhook, answers
//     400/400127; isEnabled=false without a reason sets "Webhook disabled by user". On Create a
//     reason with isEnabled=true is ignored.
//   - Unknown webhook id: Get, Update and Delete answer 404/404040 (code chosen); Test answers
//     400/400113 as documented.
//   - Token of site A on site B's URI: 403/403000; unknown site id: 404/404000; non-admin user:
//     403/403004; missing token 401/401000; unknown, expired, signed-out or superseded token
//     401/401002; bad sign-in (credentials or site) 401/401001; wrong method 405/405000;
//     unparseable body or failed validation 400/400000.
//   - Sessions expire after the idle limit (WithTokenTTL, default 240 min); each
//     authenticated request restarts it. Signing in with a PAT ends that PAT's previous session.
//   - List returns every webhook sorted by name then id in one <webhooks> element without
//     <pagination>, as Tableau's schema has it, ignoring pageSize/pageNumber; WithPageSize
//     (not Tableau's behaviour, for testing a client's paging) pages with <pagination> and
//     honours those parameters. It supports filter=name:eq:… and event:eq:…. A JSON empty list
//     is "webhooks": {}.
//   - XML answers validate against Tableau's published schema (ts-api_3_29.xsd and 3_27),
//     checked by schema_test.go, except where the schema cannot describe what Tableau sends:
//     restApiVersion (the schema gives it the build-number pattern, which "3.24" cannot
//     match) and the legacy <webhook-source> names of the events the schema does not list
//     (site, user and admin events). Where the schema and the events page spell a legacy name
//     differently (LabelDeleted), the simulator answers with the schema's spelling.
//   - Server Info reports productVersion with a schema-shaped build (20242.24.0711.1636 for
//     the default 2024.2.0), prepConductorVersion, platform "linux" and fixed serverSettings.
//   - Test POSTs an empty body with Content-Type application/json and reports the
//     destination's status and body; a timeout reports 408 (as Tableau does), any other failure
//     to reach the destination reports 502 with the error text as body.
//   - Injected 429s (Faults) are HTML with a Retry-After header by default, or, with
//     Faults.RetryAfterInDetail, Tableau Cloud's error 429000 whose detail says "Please retry
//     after N minutes." and no header.
//   - Delivery (Trigger) POSTs the §4.1 payload with 3 retries; the webhook is disabled after
//     WithDisableAfter exhausted deliveries in a row with ReasonDeliveryFailures.
//   - Users are named: a PAT's user is named like the PAT, a password's like the username, and
//     a PAT and a password of one name are one user. Only the administrator site roles
//     (ServerAdministrator, SiteAdministratorCreator, SiteAdministratorExplorer) may manage
//     webhooks; WithNonAdminPAT users start as Explorer.
//
// Credentials and sites can stop working while the operator's Secret stays unchanged, each
// with its undo for recovery tests: RevokePAT/RestorePAT (revoked or expired PAT: sign-in
// 401001, its session 401002), DeleteUser/RestoreUser (the same for all the user's
// credentials), SetSiteRole (403004 on every webhook call of the user's sessions, open ones
// included, until an administrator role comes back), DeleteSite/RestoreSite (sign-in 401001,
// open sessions 404000 on webhook calls) and RenameSite (open sessions keep working, sign-in
// needs the new contentUrl). Refused requests count in Stats like any other.
//
// The admin API under /_sim/ (AdminAPIUsage) exposes triggering, statistics, faults,
// out-of-band edits and the credential and site changes above over HTTP for
// `go run ./hack/tableau-sim`.
package tableautest
