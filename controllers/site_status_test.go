package controllers_test

import (
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau/tableautest"
)

// A TableauSite shows the site's identity, the versions in use and the webhooks attached.
func TestSiteStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSim(tableautest.WithProductVersion("2025.1.2"), tableautest.WithAPIVersion("3.25")))
	site := e.readySite("tableau")
	expectCondition(t, site, "Reconciling", nil, "")
	expectCondition(t, site, "Stalled", nil, "")
	s := site.Status
	if s.SiteID != e.sim.SiteID(siteName) || s.ServerVersion != "2025.1.2" || s.RESTAPIVersion != "3.25" ||
		s.Webhooks != 0 || s.ObservedGeneration != site.Generation {
		t.Errorf("status = %+v, want site %s, 2025.1.2, REST API 3.25, no webhooks", s, e.sim.SiteID(siteName))
	}
	e.waitEvent(site, "Connected")
	// The simulator speaks plain http: credentials travel in clear, which deserves a warning.
	if ev := e.waitEventOf(site, "InsecureServerURL"); ev.Type != corev1.EventTypeWarning {
		t.Errorf("InsecureServerURL event is %s", ev.Type)
	}

	a := e.readyWebhook(e.webhookObj("a", site.Name, "WorkbookCreated", "https://hooks.example.com/a"))
	b := e.readyWebhook(e.webhookObj("b", site.Name, "WorkbookDeleted", "https://hooks.example.com/b"))
	waitWebhookCount(e, site, 2)
	e.delete(a)
	e.waitGone(a)
	waitWebhookCount(e, site, 1)

	// Without webhooks the site has no finalizer; deleting it still ends its session.
	e.delete(b)
	e.waitGone(b)
	e.delete(site)
	e.waitGone(site)
	eventually(t, waitTimeout, func() error {
		if n := e.sim.Sessions(); n != 0 {
			return fmt.Errorf("%d sessions left after the site was deleted", n)
		}
		return nil
	})
}

func waitWebhookCount(e *testEnv, site *tableauv1.TableauSite, n int32) {
	e.t.Helper()
	eventually(e.t, waitTimeout, func() error {
		e.get(site)
		if site.Status.Webhooks != n {
			return fmt.Errorf("status.webhooks = %d, want %d", site.Status.Webhooks, n)
		}
		return nil
	})
}

// Sign-in works with a PAT or a password, over http or https with the TLS options.
func TestSiteCredentialsAndTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tlsSim := tableautest.NewTLSServer(tableautest.WithSite(siteName), tableautest.WithPAT(patName, patSecret))
	t.Cleanup(tlsSim.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSim.Certificate().Raw}))
	e.create(e.patSecretObj("tls-pat"))
	e.create(e.secretObj("ca", map[string]string{"ca.crt": caPEM, "bad.crt": "not a certificate"}))

	cases := []struct {
		name    string
		site    func() *tableauv1.TableauSite
		reason  string
		message string // a part of Ready's message
	}{{
		name: "password",
		site: func() *tableauv1.TableauSite {
			sim := newSim(t, tableautest.WithUser("admin", "s3cret-password"))
			e.create(e.secretObj("login", map[string]string{"username": "admin", "password": "s3cret-password"}))
			s := e.siteOn("password", sim.URL, "")
			s.Spec.Credentials = tableauv1.TableauCredentials{Password: &tableauv1.SecretCredentials{SecretRef: tableauv1.LocalSecretReference{Name: "login"}}}
			return s
		},
		reason: tableauv1.ReasonConnected,
	}, {
		name: "https with a CA bundle",
		site: func() *tableauv1.TableauSite {
			s := e.siteOn("tls-ca", tlsSim.URL, "tls-pat")
			s.Spec.TLS = &tableauv1.TableauTLS{CABundleSecretRef: &tableauv1.SecretKeySelector{Name: "ca", Key: "ca.crt"}}
			return s
		},
		reason: tableauv1.ReasonConnected,
	}, {
		name: "https, certificate not trusted",
		site: func() *tableauv1.TableauSite {
			return e.siteOn("tls-untrusted", tlsSim.URL, "tls-pat")
		},
		reason:  tableauv1.ReasonServerUnreachable,
		message: "certificate",
	}, {
		name: "https, insecureSkipVerify",
		site: func() *tableauv1.TableauSite {
			s := e.siteOn("tls-insecure", tlsSim.URL, "tls-pat")
			s.Spec.TLS = &tableauv1.TableauTLS{InsecureSkipVerify: true}
			return s
		},
		reason:  tableauv1.ReasonConnected,
		message: "insecureSkipVerify",
	}, {
		name: "a CA bundle that holds no certificate",
		site: func() *tableauv1.TableauSite {
			s := e.siteOn("tls-bad-ca", tlsSim.URL, "tls-pat")
			s.Spec.TLS = &tableauv1.TableauTLS{CABundleSecretRef: &tableauv1.SecretKeySelector{Name: "ca", Key: "bad.crt"}}
			return s
		},
		reason:  tableauv1.ReasonInvalidSpec,
		message: "bad.crt",
	}}
	// The TLS sites share one PAT on one server for one site: they take turns with a single
	// session, one after another.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.forTest(t)
			site := tc.site()
			e.create(site)
			status := metav1.ConditionFalse
			if tc.reason == tableauv1.ReasonConnected {
				status = metav1.ConditionTrue
			}
			e.waitCondition(site, tableauv1.ConditionReady, status, tc.reason)
			e.waitReadyMessage(site, tc.message)
			e.delete(site)
			e.waitGone(site)
		})
	}
}

// REST API versions below 3.9 are refused, pinned or discovered.
func TestSiteUnsupportedVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name   string
		simAPI string
		pin    string
		reason string
		want   string // status.restAPIVersion when Connected
	}{
		{name: "server speaks 3.8", simAPI: "3.8", reason: tableauv1.ReasonUnsupportedVersion},
		{name: "pinned to 3.8", pin: "3.8", reason: tableauv1.ReasonUnsupportedVersion},
		{name: "pinned to 3.9", pin: "3.9", reason: tableauv1.ReasonConnected, want: "3.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := e.forTest(t)
			opts := []tableautest.Option{tableautest.WithPAT(patName, patSecret)}
			if tc.simAPI != "" {
				opts = append(opts, tableautest.WithAPIVersion(tc.simAPI))
			}
			sim := newSim(t, opts...)
			name := "v" + strings.NewReplacer(" ", "-", ".", "-").Replace(strings.ToLower(tc.name))
			e.create(e.patSecretObj(name + "-pat"))
			site := e.siteOn(name, sim.URL, name+"-pat")
			site.Spec.APIVersion = tc.pin
			e.create(site)
			if tc.reason == tableauv1.ReasonConnected {
				e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tc.reason)
				if site.Status.RESTAPIVersion != tc.want {
					t.Errorf("status.restAPIVersion = %q, want %q", site.Status.RESTAPIVersion, tc.want)
				}
				return
			}
			e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tc.reason)
			expectStalled(t, site, tc.reason)
			e.waitReadyMessage(site, "3.8")
			requests := sim.Stats().Total()
			staysAtMost(t, 2*time.Second, "Tableau requests", requests, func() int { return sim.Stats().Total() })
			if n := sim.CountStatus(tableautest.OpSignIn, 200); n != 0 {
				t.Errorf("%d sign-ins to an unsupported server", n)
			}
		})
	}
}

// A TableauSite in use waits for its TableauWebhooks, whose cleanup needs it, and says which.
func TestSiteDeletionWaitsForWebhooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	site := e.readySite("tableau")
	wh := e.readyWebhook(e.webhookObj("user", site.Name, "WorkbookCreated", "https://hooks.example.com/u"))

	e.delete(site)
	eventually(t, waitTimeout, func() error {
		e.get(site)
		if site.DeletionTimestamp.IsZero() {
			return fmt.Errorf("deletion not started")
		}
		if msg := readyMessage(site); !strings.Contains(msg, e.ns+"/user") {
			return fmt.Errorf("Ready message %q does not name the webhook", msg)
		}
		return nil
	})
	if len(e.simWebhooks()) != 1 {
		t.Fatalf("simulator has %+v", e.simWebhooks())
	}

	e.delete(wh)
	e.waitGone(wh)
	e.waitGone(site)
	if got := e.simWebhooks(); len(got) != 0 {
		t.Errorf("the webhook's cleanup did not reach Tableau: %+v", got)
	}
	// Nothing uses the session any more: it is signed out.
	eventually(t, waitTimeout, func() error {
		if n := e.sim.Sessions(); n != 0 {
			return fmt.Errorf("%d sessions left", n)
		}
		return nil
	})
}

// One PAT holds one session: a second TableauSite using it for another site is refused
// instead of the two signing each other out forever.
func TestSiteCredentialsInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSim(tableautest.WithSite("finance")))
	first := e.readySite("marketing")
	wh := e.readyWebhook(e.webhookObj("w", first.Name, "WorkbookCreated", "https://hooks.example.com/w"))

	second := e.siteObj("finance", first.Name+"-pat")
	second.Spec.Site = "finance"
	e.create(second)
	e.waitCondition(second, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonCredentialsInUse)
	expectStalled(t, second, tableauv1.ReasonCredentialsInUse)
	e.waitReadyMessage(second, e.ns+"/marketing")

	signIns := e.sim.Count(tableautest.OpSignIn)
	staysAtMost(t, 3*time.Second, "sign-ins", signIns, func() int { return e.sim.Count(tableautest.OpSignIn) })
	e.waitCondition(first, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	// The first site keeps working.
	e.update(wh, func() { wh.Spec.Destination.URL = "https://hooks.example.com/still-works" })
	eventually(t, waitTimeout, func() error {
		if w := simWebhook(t, e.sim, wh.Status.WebhookID); w.URL != "https://hooks.example.com/still-works" {
			return fmt.Errorf("webhook is %+v", w)
		}
		return nil
	})
	if got := e.sim.Webhooks("finance"); len(got) != 0 {
		t.Errorf("finance site has %+v", got)
	}

	// Deleting the first site frees the token: the second connects at once, well before its
	// slow retry (the resync period, a minute here).
	e.delete(wh)
	e.waitGone(wh)
	e.delete(first)
	e.waitGone(first)
	e.waitCondition(second, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
}

// A change of the credentials Secret takes effect at once, without a restart.
func TestSiteCredentialRotation(t *testing.T) {
	t.Parallel()
	const newPAT, newSecret = "rotated-pat", "rotated-secret-value-91b2"
	e := newEnv(t, withSim(tableautest.WithPAT(newPAT, newSecret)))
	site := e.readySite("tableau")
	before := e.readyWebhook(e.webhookObj("before", site.Name, "WorkbookCreated", "https://hooks.example.com/1"))
	if o := before.Status.Owner; o == nil || o.Name != patName {
		t.Fatalf("owner = %+v, want %s", o, patName)
	}

	secret := e.patSecretObj(site.Name + "-pat")
	signIns := e.sim.CountStatus(tableautest.OpSignIn, 200)
	e.update(secret, func() { secret.StringData = map[string]string{"tokenName": newPAT, "tokenSecret": newSecret} })
	eventually(t, waitTimeout, func() error {
		if n := e.sim.CountStatus(tableautest.OpSignIn, 200); n != signIns+1 {
			return fmt.Errorf("%d sign-ins since the rotation, want 1", n-signIns)
		}
		return nil
	})
	after := e.readyWebhook(e.webhookObj("after", site.Name, "WorkbookCreated", "https://hooks.example.com/2"))
	if o := after.Status.Owner; o == nil || o.Name != newPAT {
		t.Errorf("owner = %+v, want %s: the new token is in use", o, newPAT)
	}
	// The old token's session was signed out: one session, the new one.
	if n := e.sim.Sessions(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}

	// A rotation to a secret Tableau refuses shows at once, and so does the fix.
	e.update(secret, func() { secret.StringData = map[string]string{"tokenSecret": "revoked"} })
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed)
	e.waitCondition(after, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotReady)
	e.update(secret, func() { secret.StringData = map[string]string{"tokenSecret": newSecret} })
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	e.waitCondition(after, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	if n := len(e.simWebhooks()); n != 2 {
		t.Errorf("simulator has %d webhooks, want 2", n)
	}
}

// A refused sign-in is not repeated for every event that brings the site back (here each
// TableauWebhook applied to it): a stream of failed sign-ins can lock the account. A change
// of the Secret tries again at once.
func TestSiteRefusedSignInNotRepeated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := e.secretObj("pat", map[string]string{"tokenName": patName, "tokenSecret": "wrong"})
	e.create(secret)
	site := e.siteObj("tableau", "pat")
	e.create(site)
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonAuthenticationFailed)
	signIns := e.sim.Count(tableautest.OpSignIn)
	hooks := make([]*tableauv1.TableauWebhook, 4)
	for i := range hooks {
		hooks[i] = e.webhookObj(fmt.Sprintf("w%d", i), site.Name, "WorkbookCreated", "https://hooks.example.com/")
		e.create(hooks[i])
		e.waitCondition(hooks[i], tableauv1.ConditionReady, metav1.ConditionFalse, tableauv1.ReasonSiteNotReady)
		waitWebhookCount(e, site, int32(i+1))
	}
	if n := e.sim.Count(tableautest.OpSignIn) - signIns; n != 0 {
		t.Errorf("%d more refused sign-ins while webhooks were applied, want 0", n)
	}

	e.update(secret, func() { secret.StringData = map[string]string{"tokenSecret": patSecret} })
	e.waitCondition(site, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonConnected)
	for _, wh := range hooks {
		e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
	}
}

// TableauSites that use one PAT for the same Tableau site share one session; a session that
// Tableau ends (another sign-in with the PAT, expiry) is renewed with a single sign-in.
func TestSiteSharedSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.readySite("a")
	b := e.readySite("b")
	if n := e.sim.Count(tableautest.OpSignIn); n != 1 {
		t.Errorf("%d sign-ins for two TableauSites sharing a PAT, want 1", n)
	}
	wa := e.readyWebhook(e.webhookObj("wa", a.Name, "WorkbookCreated", "https://hooks.example.com/a"))
	wb := e.readyWebhook(e.webhookObj("wb", b.Name, "WorkbookCreated", "https://hooks.example.com/b"))
	if n := e.sim.Sessions(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}

	for _, end := range []func(){func() { e.sim.ForeignSignIn(patName) }, e.sim.ExpireTokens} {
		signIns := e.sim.CountStatus(tableautest.OpSignIn, 200)
		end()
		for _, wh := range []*tableauv1.TableauWebhook{wa, wb} {
			e.update(wh, func() {
				wh.Spec.Event = map[string]string{"WorkbookCreated": "WorkbookDeleted", "WorkbookDeleted": "WorkbookCreated"}[wh.Spec.Event]
			})
		}
		for _, wh := range []*tableauv1.TableauWebhook{wa, wb} {
			e.waitCondition(wh, tableauv1.ConditionReady, metav1.ConditionTrue, tableauv1.ReasonAvailable)
			if w := simWebhook(t, e.sim, wh.Status.WebhookID); w.Event != wh.Spec.Event {
				t.Errorf("webhook in Tableau is %+v, want event %s", w, wh.Spec.Event)
			}
		}
		if n := e.sim.CountStatus(tableautest.OpSignIn, 200) - signIns; n != 1 {
			t.Errorf("%d sign-ins to renew the session, want 1", n)
		}
	}
}
