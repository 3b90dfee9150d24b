package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// badInputWindow is how long a test watches request counts to show there is no hot loop.
const badInputWindow = 4 * time.Second

// Each kind of bad input yields a clear condition on the resource a user looks at, and the
// Tableau requests stay bounded (no hot loop). Every case has a simulator of its own so that
// its counts are its own; they share one manager.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type want struct {
		status   metav1.ConditionStatus
		reason   string
		terminal bool   // Stalled (terminal) rather than Reconciling
		message  string // a part of Ready's message
	}
	cases := []struct {
		name    string
		simOpts []tableautest.Option
		faults  *tableautest.Faults
		// setup creates what the case needs and returns the site and webhook.
		setup func(e *testEnv, sim *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook)
		site  want
		hook  want
		// maxRequests bounds the simulator's requests over the window, after the conditions.
		maxRequests int
		// unreachable: the site points at a closed port, the simulator is not used.
		unreachable bool
		// check makes the case's own assertions at the end.
		check func(t *testing.T, sim *tableautest.Server, wh *tableauv1.TableauWebhook)
	}{{
		name: "wrong PAT secret",
		setup: func(e *testEnv, sim *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook) {
			e.create(e.secretObj("wrong-pat", map[string]string{"tokenName": patName, "tokenSecret": "not-the-secret"}))
			return e.siteOn("wrong-pat", sim.URL, "wrong-pat"), e.webhookObj("wrong-pat", "wrong-pat", "WorkbookCreated", "https://hooks.example.com/")
		},
		site: want{metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed, true, "401"},
		hook: want{metav1.ConditionFalse, tableauv1.ReasonSiteNotReady, false, "AuthenticationFailed"},
		// The site retries after the resync period (a minute here), not before.
		maxRequests: 0,
	}, {
		name:        "unreachable server",
		unreachable: true,
		setup: func(e *testEnv, _ *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook) {
			e.create(e.patSecretObj("closed-port-pat"))
			return e.siteOn("closed-port", closedPortURL(e.t), "closed-port-pat"), e.webhookObj("closed-port", "closed-port", "WorkbookCreated", "https://hooks.example.com/")
		},
		site: want{metav1.ConditionFalse, tableauv1.ReasonServerUnreachable, false, "serverinfo"},
		hook: want{metav1.ConditionFalse, tableauv1.ReasonSiteNotReady, false, "ServerUnreachable"},
	}, {
		name:   "server errors",
		faults: &tableautest.Faults{ErrorRate: 1, Statuses: []int{503}, IncludeServerInfo: true},
		setup: func(e *testEnv, sim *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook) {
			e.create(e.patSecretObj("server-errors-pat"))
			return e.siteOn("server-errors", sim.URL, "server-errors-pat"), e.webhookObj("server-errors", "server-errors", "WorkbookCreated", "https://hooks.example.com/")
		},
		site: want{metav1.ConditionFalse, tableauv1.ReasonServerUnreachable, false, "503"},
		hook: want{metav1.ConditionFalse, tableauv1.ReasonSiteNotReady, false, "ServerUnreachable"},
		// Backoff from 1 s doubling: attempts at about 0, 1, 3, 7 s; a handful in the window.
		maxRequests: 6,
	}, {
		name:   "rate limited",
		faults: &tableautest.Faults{Operations: []string{tableautest.OpCreateWebhook}, Statuses: []int{429}, ErrorRate: 1, RetryAfter: 2 * time.Second},
		setup: func(e *testEnv, sim *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook) {
			e.create(e.patSecretObj("rate-limited-pat"))
			return e.siteOn("rate-limited", sim.URL, "rate-limited-pat"), e.webhookObj("rate-limited", "rate-limited", "WorkbookCreated", "https://hooks.example.com/")
		},
		site: want{metav1.ConditionTrue, tableauv1.ReasonConnected, false, ""},
		hook: want{metav1.ConditionFalse, tableauv1.ReasonTableauError, false, "429"},
		// Retries wait for Retry-After (2 s): two in the window (+1 for timing), each a List
		// (create-pending: the failed create might have happened) and a Create.
		maxRequests: 6,
	}, {
		name: "unknown site",
		setup: func(e *testEnv, sim *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook) {
			e.create(e.patSecretObj("unknown-site-pat"))
			site := e.siteOn("unknown-site", sim.URL, "unknown-site-pat")
			site.Spec.Site = "no-such-site"
			return site, e.webhookObj("unknown-site", "unknown-site", "WorkbookCreated", "https://hooks.example.com/")
		},
		site: want{metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed, true, "no-such-site"},
		hook: want{metav1.ConditionFalse, tableauv1.ReasonSiteNotReady, false, "AuthenticationFailed"},
	}, {
		name:    "non-admin PAT",
		simOpts: []tableautest.Option{tableautest.WithNonAdminPAT(patName, patSecret)},
		setup: func(e *testEnv, sim *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook) {
			e.create(e.patSecretObj("non-admin-pat"))
			return e.siteOn("non-admin", sim.URL, "non-admin-pat"), e.webhookObj("non-admin", "non-admin", "WorkbookCreated", "https://hooks.example.com/")
		},
		// A 403 is the site's problem (its user is not a site administrator), not the spec's:
		// the site says so and the webhook waits for it.
		site: want{metav1.ConditionFalse, tableauv1.ReasonInsufficientPermissions, true, "site administrator"},
		hook: want{metav1.ConditionFalse, tableauv1.ReasonSiteNotReady, false, "site administrator"},
	}, {
		name:   "Tableau answers 400 to the create",
		faults: &tableautest.Faults{Operations: []string{tableautest.OpCreateWebhook}, Statuses: []int{400}, ErrorRate: 1},
		setup: func(e *testEnv, sim *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook) {
			e.create(e.patSecretObj("rejected-pat"))
			return e.siteOn("rejected", sim.URL, "rejected-pat"), e.webhookObj("rejected", "rejected", "WorkbookCreated", "https://hooks.example.com/")
		},
		site: want{metav1.ConditionTrue, tableauv1.ReasonConnected, false, ""},
		hook: want{metav1.ConditionFalse, tableauv1.ReasonRejected, true, "400"},
		check: func(t *testing.T, sim *tableautest.Server, _ *tableauv1.TableauWebhook) {
			if n := sim.Count(tableautest.OpCreateWebhook); n != 1 {
				t.Errorf("%d Create Webhook requests, want 1: a rejected spec is not sent again", n)
			}
		},
	}, {
		name: "urlFrom Secret holds an http URL",
		setup: func(e *testEnv, sim *tableautest.Server) (*tableauv1.TableauSite, *tableauv1.TableauWebhook) {
			e.create(e.patSecretObj("http-url-pat"))
			e.create(e.secretObj("http-url", map[string]string{"url": "http://hooks.example.com/plain-text-secret"}))
			wh := e.webhookObj("http-url", "http-url", "WorkbookCreated", "")
			wh.Spec.Destination = tableauv1.Destination{URLFrom: &tableauv1.URLSource{SecretKeyRef: tableauv1.SecretKeySelector{Name: "http-url", Key: "url"}}}
			return e.siteOn("http-url", sim.URL, "http-url-pat"), wh
		},
		site: want{metav1.ConditionTrue, tableauv1.ReasonConnected, false, ""},
		hook: want{metav1.ConditionFalse, tableauv1.ReasonRejected, true, "https"},
		check: func(t *testing.T, sim *tableautest.Server, wh *tableauv1.TableauWebhook) {
			// The site lists once for itself (its health check); the webhook adds nothing.
			if n := sim.Count(tableautest.OpListWebhooks); n > 1 {
				t.Errorf("%d List Webhooks requests, want at most the site's own one", n)
			}
			if n := sim.Count(tableautest.OpCreateWebhook); n != 0 {
				t.Errorf("%d Create Webhook requests to Tableau for a URL the operator can tell is wrong", n)
			}
			if msg := readyMessage(wh); strings.Contains(msg, "plain-text-secret") {
				t.Errorf("the message shows the Secret's URL: %q", msg)
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := e.forTest(t)
			simOpts := tc.simOpts
			if simOpts == nil {
				simOpts = []tableautest.Option{tableautest.WithPAT(patName, patSecret)}
			}
			sim := newSim(t, simOpts...)
			if tc.faults != nil {
				sim.SetFaults(*tc.faults)
			}
			site, wh := tc.setup(e, sim)
			e.create(site)
			e.create(wh)
			e.waitCondition(site, tableauv1.ConditionReady, tc.site.status, tc.site.reason)
			e.waitCondition(wh, tableauv1.ConditionReady, tc.hook.status, tc.hook.reason)
			if tc.site.status == metav1.ConditionFalse {
				if tc.site.terminal {
					expectStalled(t, site, tc.site.reason)
				} else {
					expectReconciling(t, site, tc.site.reason)
				}
			}
			if tc.hook.terminal {
				expectStalled(t, wh, tc.hook.reason)
			} else {
				expectReconciling(t, wh, tc.hook.reason)
			}
			expectCondition(t, wh, tableauv1.ConditionSynced, ptr.To(metav1.ConditionFalse), tableauv1.ReasonReconcileError)
			e.waitReadyMessage(site, tc.site.message)
			e.waitReadyMessage(wh, tc.hook.message)
			if wh.Status.WebhookID != "" {
				t.Errorf("status.webhookID = %s", wh.Status.WebhookID)
			}
			if tc.unreachable {
				return
			}
			before := sim.Stats().Total()
			staysAtMost(t, badInputWindow, "Tableau requests", before+tc.maxRequests, func() int { return sim.Stats().Total() })
			if got := sim.Webhooks(siteName); len(got) != 0 {
				t.Errorf("simulator has webhooks %+v", got)
			}
			if tc.check != nil {
				tc.check(t, sim, wh)
			}
		})
	}
}

// A missing Secret is waited for, and its creation is noticed without a restart.
func TestMissingSecretsRecover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("credentials", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		site := e.siteOn("late-credentials", sim.URL, "late-pat")
		e.create(site)
		wh := e.webhookObj("late-credentials", site.Name, "WorkbookCreated", "https://hooks.example.com/")
		e.create(wh)
		e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonCredentialsNotFound)
		expectReconciling(t, site, tableauv1.ReasonCredentialsNotFound)
		if msg := readyMessage(site); !strings.Contains(msg, "late-pat") {
			t.Errorf("message %q does not name the Secret", msg)
		}
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotReady)
		staysAtMost(t, badInputWindow, "Tableau requests without credentials", 0, func() int { return sim.Stats().Total() })

		e.create(e.patSecretObj("late-pat"))
		e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
		if got := sim.Webhooks(siteName); len(got) != 1 {
			t.Errorf("simulator has %+v, want one webhook", got)
		}
	})
	t.Run("a credentials key", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		e.create(e.secretObj("half-pat", map[string]string{"tokenName": patName}))
		site := e.siteOn("half-credentials", sim.URL, "half-pat")
		e.create(site)
		e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonCredentialsNotFound)
		if msg := readyMessage(site); !strings.Contains(msg, "tokenSecret") {
			t.Errorf("message %q does not name the missing key", msg)
		}
		secret := e.secretObj("half-pat", nil)
		e.update(secret, func() { secret.StringData = map[string]string{"tokenSecret": patSecret} })
		e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	})
	t.Run("destination", func(t *testing.T) {
		t.Parallel()
		e := e.forTest(t)
		sim := newSim(t, tableautest.WithPAT(patName, patSecret))
		site := e.readySiteOn("late-destination", sim)
		wh := e.webhookObj("late-destination", site.Name, "WorkbookCreated", "")
		wh.Spec.Destination = tableauv1.Destination{URLFrom: &tableauv1.URLSource{SecretKeyRef: tableauv1.SecretKeySelector{Name: "late-url", Key: "url"}}}
		e.create(wh)
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonDestinationSecretNotFound)
		expectReconciling(t, wh, tableauv1.ReasonDestinationSecretNotFound)
		if msg := readyMessage(wh); !strings.Contains(msg, "late-url") {
			t.Errorf("message %q does not name the Secret", msg)
		}
		requests := sim.Stats().Total()
		staysAtMost(t, badInputWindow, "Tableau requests without a destination", requests, func() int { return sim.Stats().Total() })

		e.create(e.secretObj("late-url", map[string]string{"url": "https://hooks.example.com/from-secret"}))
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
		if got := sim.Webhooks(siteName); len(got) != 1 || got[0].URL != "https://hooks.example.com/from-secret" {
			t.Errorf("simulator has %+v", got)
		}
	})
}

// A 429 whose Retry-After is longer than the resync period says so in the condition, and the
// resource waits that long: no retry before it. Both of Tableau's forms: the header, and
// Tableau Cloud's error 429000 whose detail says "Please retry after 29 minutes." (REFERENCE
// 10.2).
func TestLongRetryAfterIsReported(t *testing.T) {
	t.Parallel()
	for _, inDetail := range []bool{false, true} {
		t.Run(fmt.Sprintf("inDetail=%t", inDetail), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			site := e.readySite("tableau")
			e.sim.SetFaults(tableautest.Faults{Operations: []string{tableautest.OpCreateWebhook}, Statuses: []int{429}, ErrorRate: 1,
				RetryAfter: 29 * time.Minute, RetryAfterInDetail: inDetail})
			wh := e.webhookObj("limited", site.Name, "WorkbookCreated", "https://hooks.example.com/limited")
			e.create(wh)
			e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonTableauError)
			e.waitReadyMessage(wh, "Tableau asked to retry after 29m")
			creates := e.sim.Count(tableautest.OpCreateWebhook)
			staysAtMost(t, badInputWindow, "Create Webhook requests while Tableau asked to wait", creates, func() int { return e.sim.Count(tableautest.OpCreateWebhook) })
		})
	}
}

// status.createdAt and updatedAt say what Tableau says, and change only when Tableau's do.
func TestWebhookTimestampsFromTableau(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	wh := e.readyWebhook(e.webhookObj("dated", site.Name, "WorkbookCreated", "https://hooks.example.com/dated"))
	in := simWebhook(t, e.sim, wh.Status.WebhookID)
	if wh.Status.CreatedAt == nil || !wh.Status.CreatedAt.Time.Equal(in.CreatedAt.UTC().Truncate(time.Second)) {
		t.Errorf("status.createdAt = %v, want Tableau's %v", wh.Status.CreatedAt, in.CreatedAt)
	}
	created := wh.Status.CreatedAt.DeepCopy()
	e.update(wh, func() { wh.Spec.Destination.URL = "https://hooks.example.com/dated-2" })
	eventually(t, waitTimeout, func() error {
		e.get(wh)
		if wh.Status.UpdatedAt == nil || !wh.Status.UpdatedAt.After(created.Time) && !wh.Status.UpdatedAt.Equal(created) {
			return fmt.Errorf("status.updatedAt = %v after an update", wh.Status.UpdatedAt)
		}
		if wh.Status.ObservedGeneration != wh.Generation {
			return fmt.Errorf("not reconciled yet")
		}
		return nil
	})
	now := simWebhook(t, e.sim, wh.Status.WebhookID)
	if !wh.Status.UpdatedAt.Time.Equal(now.UpdatedAt.UTC().Truncate(time.Second)) || !wh.Status.CreatedAt.Equal(created) {
		t.Errorf("status created/updated %v/%v, want Tableau's %v/%v", wh.Status.CreatedAt, wh.Status.UpdatedAt, now.CreatedAt, now.UpdatedAt)
	}
}
