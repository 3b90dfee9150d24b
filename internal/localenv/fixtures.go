package localenv

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
)

// SiteFixture names the objects SiteObjects makes.
type SiteFixture struct {
	// Namespace holds the TableauSite, its Secrets and usually its TableauWebhooks.
	Namespace string
	// Name is the TableauSite's name.
	Name string
	// ContentURL is the Tableau site (one of the simulator's Sites).
	ContentURL string
	// PATSecret is the name of the Secret with tokenName and tokenSecret.
	PATSecret string
	// CASecret is the name of the Secret with the simulator's certificate (TLS only).
	CASecret string
}

// SiteObjects returns a Namespace, the simulator's PAT in a Secret, its CA certificate in a
// Secret (when it serves TLS), and a TableauSite that connects to site contentURL of the
// simulator: everything a TableauWebhook in namespace needs. Apply them with Env.Apply.
func (s *Simulator) SiteObjects(namespace, name, contentURL string) (SiteFixture, []client.Object) {
	f := SiteFixture{Namespace: namespace, Name: name, ContentURL: contentURL, PATSecret: name + "-pat"}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	pat := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: f.PATSecret},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{"tokenName": s.PATName, "tokenSecret": s.PATSecret},
	}
	pat.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	site := &tableauv1.TableauSite{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: tableauv1.TableauSiteSpec{
			ServerURL: s.URL,
			Site:      contentURL,
			Credentials: tableauv1.TableauCredentials{
				PersonalAccessToken: &tableauv1.SecretCredentials{SecretRef: tableauv1.LocalSecretReference{Name: f.PATSecret}},
			},
		},
	}
	site.SetGroupVersionKind(tableauv1.GroupVersion.WithKind("TableauSite"))
	objs := []client.Object{ns, pat}
	if len(s.CAPEM) > 0 {
		f.CASecret = name + "-ca"
		ca := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: f.CASecret},
			Type:       corev1.SecretTypeOpaque,
			StringData: map[string]string{"ca.crt": string(s.CAPEM)},
		}
		ca.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		site.Spec.TLS = &tableauv1.TableauTLS{CABundleSecretRef: &tableauv1.SecretKeySelector{Name: f.CASecret, Key: "ca.crt"}}
		objs = append(objs, ca)
	}
	return f, append(objs, site)
}

// Site returns the fixture's TableauSite as a key-only object, for WaitReady.
func (f SiteFixture) Site() *tableauv1.TableauSite {
	site := &tableauv1.TableauSite{ObjectMeta: metav1.ObjectMeta{Namespace: f.Namespace, Name: f.Name}}
	site.SetGroupVersionKind(tableauv1.GroupVersion.WithKind("TableauSite"))
	return site
}

// Webhook returns a TableauWebhook named name in the fixture's namespace that calls url on
// event.
func (f SiteFixture) Webhook(name, event, url string) *tableauv1.TableauWebhook {
	wh := &tableauv1.TableauWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.Namespace, Name: name},
		Spec: tableauv1.TableauWebhookSpec{
			SiteRef:     tableauv1.SiteReference{Name: f.Name},
			Event:       event,
			Destination: tableauv1.Destination{URL: url},
		},
	}
	wh.SetGroupVersionKind(tableauv1.GroupVersion.WithKind("TableauWebhook"))
	return wh
}

// CreateAll creates objects with `workers` concurrent calls of c.Create (POST, not apply:
// one write each, as `kubectl create` makes), stopping at the first error.
func CreateAll(ctx context.Context, c client.Client, objs []client.Object, workers int) error {
	if workers < 1 {
		workers = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(workers, len(objs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(objs) || ctx.Err() != nil {
					return
				}
				if err := c.Create(ctx, objs[i]); err != nil {
					once.Do(func() {
						firstErr = fmt.Errorf("create %s: %w", Describe(objs[i]), err)
						cancel()
					})
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
