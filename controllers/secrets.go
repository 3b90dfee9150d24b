package controllers

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/go-logr/logr"
)

// secretValues reads Secret data for destination URLs. Secrets are watched by metadata
// only, to keep the manager's memory independent of the cluster's Secrets; the data of a
// referenced Secret is read from the API server once per resourceVersion and kept.
type secretValues struct {
	cache     client.Reader // metadata informer
	apiReader client.Reader

	mu   sync.Mutex
	data map[types.NamespacedName]secretData
}

type secretData struct {
	resourceVersion string
	data            map[string][]byte
	// digest is dataDigest(data), computed once per resourceVersion: every reconcile of a
	// site's webhooks compares it.
	digest string
}

func newSecretValues(cache, apiReader client.Reader) *secretValues {
	return &secretValues{cache: cache, apiReader: apiReader, data: map[types.NamespacedName]secretData{}}
}

// forget drops what is kept of a Secret: it was deleted, or nothing references it any more.
func (s *secretValues) forget(key types.NamespacedName) {
	s.mu.Lock()
	delete(s.data, key)
	s.mu.Unlock()
}

// size is the number of Secrets whose data is kept.
func (s *secretValues) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

// get returns the Secret's data; a NotFound error when it does not exist.
func (s *secretValues) get(ctx context.Context, key types.NamespacedName) (map[string][]byte, error) {
	d, err := s.current(ctx, key)
	return d.data, err
}

// digest returns dataDigest of the Secret's data; a NotFound error when it does not exist.
func (s *secretValues) digest(ctx context.Context, key types.NamespacedName) (string, error) {
	d, err := s.current(ctx, key)
	return d.digest, err
}

// current returns what is kept of the Secret at its current resourceVersion, reading it first
// when the cache has a newer one.
func (s *secretValues) current(ctx context.Context, key types.NamespacedName) (secretData, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := s.cache.Get(ctx, key, m); err != nil {
		s.mu.Lock()
		delete(s.data, key)
		s.mu.Unlock()
		return secretData{}, err
	}
	s.mu.Lock()
	d, ok := s.data[key]
	s.mu.Unlock()
	if ok && d.resourceVersion == m.ResourceVersion {
		return d, nil
	}
	// client-go logs response bodies at V(8), and a Secret's body is its data: read it with
	// logging off so that no log level shows a credential or a Secret-sourced URL (DESIGN 3.4).
	secret := &corev1.Secret{}
	if err := s.apiReader.Get(logr.NewContext(ctx, logr.Discard()), key, secret); err != nil {
		return secretData{}, err
	}
	d = secretData{resourceVersion: secret.ResourceVersion, data: secret.Data, digest: dataDigest(secret.Data)}
	s.mu.Lock()
	s.data[key] = d
	s.mu.Unlock()
	return d, nil
}
