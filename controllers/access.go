package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tableauv1 "github.com/tableau-webhook-operator/tableau-webhook-operator/api/v1alpha1"
	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/tableau"
)

// siteAccess decides what a namespace may do with a TableauSite (DESIGN 3.7): whether its
// TableauWebhooks may use the site at all (spec.webhookNamespaces) and whether they may adopt
// webhooks the operator did not create (spec.adoption). Both reconcilers decide through it, so
// that a refused namespace is refused the same way on every path: it makes no Tableau request,
// claims no name, is not counted and does not hold up the site.
type siteAccess struct {
	reader client.Reader // the manager's cached client: namespaces by metadata
}

// admits reports whether the site's webhookNamespaces admit the namespace.
func (a siteAccess) admits(ctx context.Context, site *tableauv1.TableauSite, namespace string) (bool, error) {
	switch site.AdmittedFrom() {
	case tableauv1.NamespacesFromAll:
		return true, nil
	case tableauv1.NamespacesFromSelector:
		return a.selects(ctx, site.Spec.WebhookNamespaces.Selector, namespace)
	default:
		return namespace == site.Namespace, nil
	}
}

// mayAdopt reports whether the site's owner lets TableauWebhooks of the namespace adopt
// webhooks the operator did not create. The namespace must also be admitted.
func (a siteAccess) mayAdopt(ctx context.Context, site *tableauv1.TableauSite, namespace string) (bool, error) {
	switch site.AdoptionFrom() {
	case tableauv1.AdoptionFromAll:
		return true, nil
	case tableauv1.AdoptionFromSelector:
		return a.selects(ctx, site.Spec.Adoption.Selector, namespace)
	case tableauv1.AdoptionFromNone:
		return false, nil
	default:
		return namespace == site.Namespace, nil
	}
}

// selects reports whether the namespace's labels match the selector. A selector that does not
// parse selects nothing: refusing is the safe reading of a site owner's mistake.
func (a siteAccess) selects(ctx context.Context, selector *metav1.LabelSelector, namespace string) (bool, error) {
	if selector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return false, nil //nolint:nilerr // an invalid selector admits nothing; authorizeSite's message says why
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := a.reader.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return sel.Matches(labels.Set(ns.Labels)), nil
}

// siteKeyOf is the TableauSite a TableauWebhook references.
func siteKeyOf(wh *tableauv1.TableauWebhook) types.NamespacedName {
	return types.NamespacedName{Namespace: wh.SiteNamespace(), Name: wh.Spec.SiteRef.Name}
}

// authorizeSite is the one door through which every Tableau call made for a TableauWebhook
// passes, on every path (create, update, test, delete): it finds the TableauSite and checks
// that the site admits the webhook's namespace. It fails with SiteNotFound or SiteNotAllowed.
func (r *TableauWebhookReconciler) authorizeSite(ctx context.Context, wh *tableauv1.TableauWebhook) (*tableauv1.TableauSite, error) {
	key := siteKeyOf(wh)
	site := &tableauv1.TableauSite{}
	if err := r.Get(ctx, key, site); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &problem{reason: tableauv1.ReasonSiteNotFound, message: fmt.Sprintf("TableauSite %s not found", key), retry: retryOnChange, err: err}
		}
		return nil, err
	}
	allowed, err := r.access.admits(ctx, site, wh.Namespace)
	if err != nil {
		return nil, err
	}
	if !allowed {
		msg := fmt.Sprintf("TableauSite %s does not admit TableauWebhooks from namespace %q (spec.webhookNamespaces.from is %s)", key, wh.Namespace, site.AdmittedFrom())
		if err := site.WebhookNamespacesSelectorError(); err != nil {
			msg = fmt.Sprintf("TableauSite %s has an invalid spec.webhookNamespaces.selector, which admits no namespace: %v", key, err)
		}
		return site, &problem{reason: tableauv1.ReasonSiteNotAllowed, message: msg}
	}
	return site, nil
}

// siteIdentity names one Tableau site, whichever TableauSite objects connect to it: the
// normalised server URL and the site's LUID. Name conflicts and the observation cache are
// per identity, so that two TableauSites of one Tableau site see each other's webhooks as
// the operator's own, not as foreign ones.
func siteIdentity(serverURL, siteLUID string) string {
	if siteLUID == "" {
		return ""
	}
	if normalized, err := tableau.NormalizeServerURL(serverURL); err == nil {
		serverURL = normalized
	}
	return serverURL + "\x00" + siteLUID
}

// claimsOnSite reports whether another TableauWebhook takes part in name conflicts on the
// Tableau site of the given identity: its own site admits it and connects to that Tableau site.
func (r *TableauWebhookReconciler) claimsOnSite(ctx context.Context, other *tableauv1.TableauWebhook, identity string) (bool, error) {
	site := &tableauv1.TableauSite{}
	if err := r.Get(ctx, siteKeyOf(other), site); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if siteIdentity(site.Spec.ServerURL, site.Status.SiteID) != identity {
		return false, nil
	}
	return r.access.admits(ctx, site, other.Namespace)
}
