// Package metricsauth guards the manager's metrics endpoint when it serves HTTPS
// (--metrics-secure): a request is served only if it carries a bearer token that the API server
// authenticates (a TokenReview) and the API server authorizes that user to the request's verb
// on its path (a SubjectAccessReview of a non-resource URL, e.g. get /metrics).
//
// It answers as controller-runtime's filters.WithAuthenticationAndAuthorization does, with the
// same cache lifetimes, but without k8s.io/apiserver: that filter links the API server's
// authentication and authorization stacks (CEL, gRPC, OpenAPI models), which were 20 MB of the
// manager's 55 MB executable, and an executable's pages count in the manager's resident memory.
// Only the two review calls are needed, and client-go's typed clients make them.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The lifetimes of cached answers are controller-runtime's filter's: a token's review for a
// minute (whether it authenticated or not), an allowed access for 5 minutes, a denied one for
// 30 seconds. A scrape every 15 to 60 seconds thus costs the API server about one review per
// minute per scraper.
const (
	tokenTTL  = time.Minute
	allowTTL  = 5 * time.Minute
	denyTTL   = 30 * time.Second
	reviewTTL = 10 * time.Second // how long one review call may take
	// cacheSize bounds each cache: scrapers are few, and a flood of made-up tokens must not
	// grow the manager's memory.
	cacheSize = 1024
)

// Filter returns the metrics server's filter: cfg and httpClient are the manager's, whose
// identity must be allowed to create TokenReviews and SubjectAccessReviews
// (config/rbac/metrics_auth_role.yaml).
func Filter(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	g := &guard{
		tokens: authn.TokenReviews(), access: authz.SubjectAccessReviews(),
		users: cache.NewLRUExpireCache(cacheSize), decisions: cache.NewLRUExpireCache(cacheSize),
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { g.serve(log, next, w, req) }), nil
	}, nil
}

// guard holds the review clients and the cached answers, keyed by digests so that no token is
// kept in memory longer than its request needs it.
type guard struct {
	tokens    authenticationclient.TokenReviewInterface
	access    authorizationclient.SubjectAccessReviewInterface
	users     *cache.LRUExpireCache // sha256 of a token -> authenticated
	decisions *cache.LRUExpireCache // sha256 of user, verb and path -> bool (allowed)
}

// authenticated is the cached answer of a TokenReview: ok false is a token the API server
// did not authenticate.
type authenticated struct {
	user authenticationv1.UserInfo
	ok   bool
}

func (g *guard) serve(log logr.Logger, next http.Handler, w http.ResponseWriter, req *http.Request) {
	token, ok := bearerToken(req)
	if !ok {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	user, ok, err := g.authenticate(req.Context(), token)
	if err != nil {
		log.Error(err, "Authentication failed")
		http.Error(w, "Authentication failed", http.StatusInternalServerError)
		return
	}
	if !ok {
		log.V(4).Info("Authentication failed")
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	verb := strings.ToLower(req.Method)
	allowed, err := g.authorize(req.Context(), user, verb, req.URL.Path)
	if err != nil {
		msg := fmt.Sprintf("Authorization for user %s failed", user.Username)
		log.Error(err, msg)
		http.Error(w, msg, http.StatusInternalServerError)
		return
	}
	if !allowed {
		msg := fmt.Sprintf("Authorization denied for user %s", user.Username)
		log.V(4).Info(msg, "verb", verb, "path", req.URL.Path)
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	// The handler has no use for the credential; the API server's own filters drop it too.
	req.Header.Del("Authorization")
	next.ServeHTTP(w, req)
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header, read as the API
// server's bearer-token authenticator reads it.
func bearerToken(req *http.Request) (string, bool) {
	parts := strings.SplitN(strings.TrimSpace(req.Header.Get("Authorization")), " ", 3)
	if len(parts) < 2 || !strings.EqualFold(parts[0], "bearer") || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

// authenticate asks the API server who token is. An answer is cached for tokenTTL; an error
// (the API server unreachable, the manager not allowed to review) is not.
func (g *guard) authenticate(ctx context.Context, token string) (authenticationv1.UserInfo, bool, error) {
	key := digest(token)
	if v, ok := g.users.Get(key); ok {
		a := v.(authenticated)
		return a.user, a.ok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTTL)
	defer cancel()
	review, err := g.tokens.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token},
	}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, false, fmt.Errorf("review the token: %w", err)
	}
	a := authenticated{ok: review.Status.Authenticated}
	if a.ok {
		a.user = review.Status.User
	}
	g.users.Add(key, a, tokenTTL)
	return a.user, a.ok, nil
}

// authorize asks the API server whether user may verb path. An allowed answer is cached for
// allowTTL, a denied one for denyTTL; an error is not cached.
func (g *guard) authorize(ctx context.Context, user authenticationv1.UserInfo, verb, path string) (bool, error) {
	key := accessKey(user, verb, path)
	if v, ok := g.decisions.Get(key); ok {
		return v.(bool), nil
	}
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTTL)
	defer cancel()
	review, err := g.access.Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("review access of %s to %s %s: %w", user.Username, verb, path, err)
	}
	allowed := review.Status.Allowed && !review.Status.Denied
	ttl := denyTTL
	if allowed {
		ttl = allowTTL
	}
	g.decisions.Add(key, allowed, ttl)
	return allowed, nil
}

// accessKey is the digest of everything a SubjectAccessReview is asked about, each part
// length-prefixed so that no two different questions share a key.
func accessKey(user authenticationv1.UserInfo, verb, path string) [sha256.Size]byte {
	h := sha256.New()
	write := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	write(user.Username)
	write(user.UID)
	fmt.Fprintf(h, "%d;", len(user.Groups))
	for _, g := range user.Groups {
		write(g)
	}
	keys := make([]string, 0, len(user.Extra))
	for k := range user.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(h, "%d;", len(keys))
	for _, k := range keys {
		write(k)
		fmt.Fprintf(h, "%d;", len(user.Extra[k]))
		for _, v := range user.Extra[k] {
			write(v)
		}
	}
	write(verb)
	write(path)
	return [sha256.Size]byte(h.Sum(nil))
}

func digest(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }
