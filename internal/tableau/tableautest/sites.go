package tableautest

import (
	"fmt"
	"slices"
	"strings"
)

// DeleteSite deletes the site with that contentUrl as a server administrator would, under
// the operator's feet:
//   - its webhooks go (Webhooks and Trigger no longer see the site);
//   - signing in to its contentUrl answers 401 (401001, "Signin Error"): Tableau does not say
//     that the site is gone;
//   - a session issued for it keeps authenticating for its idle limit, and its site-scoped
//     webhook calls answer 404 (404000, site not found) rather than 401, so that its client
//     can tell "the site is gone" from "the token is refused" while the session lasts.
//
// The Default site ("") can be deleted too, which Tableau does not allow, so that
// single-site tests can use it. Deleting a deleted site does nothing. It fails with
// ErrNotFound when no site, live or deleted, has that contentUrl.
func (s *Server) DeleteSite(contentURL string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.siteByContentURL(contentURL)
	if st == nil {
		if s.deletedSite(contentURL) != nil {
			return nil
		}
		return fmt.Errorf("%w: no site with contentUrl %q", ErrNotFound, contentURL)
	}
	s.deletions++
	st.deleted, st.deletion = true, s.deletions
	return nil
}

// RestoreSite recreates the latest deleted site with that contentUrl, with its LUID, name and
// contentUrl, so that tests can check recovery. With keepWebhooks it holds the webhooks it had
// when deleted (an undo); without, it is empty, as a site created again would be, so that the
// operator has to create its webhooks anew. Sessions issued before the deletion stay ended
// (401002): a client signs in again. Restoring a live site does nothing. It fails with
// ErrNotFound when no site has that contentUrl and ErrConflict when a live site took the
// contentUrl meanwhile (RenameSite).
func (s *Server) RestoreSite(contentURL string, keepWebhooks bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.deletedSite(contentURL)
	live := s.siteByContentURL(contentURL)
	switch {
	case st == nil && live != nil:
		return nil
	case st == nil:
		return fmt.Errorf("%w: no deleted site with contentUrl %q", ErrNotFound, contentURL)
	case live != nil:
		return fmt.Errorf("%w: contentUrl %q is used by site %s", ErrConflict, contentURL, live.id)
	}
	st.deleted, st.deletion = false, 0
	if !keepWebhooks {
		clear(st.webhooks)
	}
	s.endSessionsWhere(func(sess *session) bool { return strings.EqualFold(sess.siteID, st.id) })
	return nil
}

// RenameSite changes the contentUrl of a live site, keeping its LUID, name and webhooks:
// sessions already open keep working (webhook URIs use the LUID), and new sign-ins must use
// newContentURL (the old contentUrl answers 401001). It fails with ErrNotFound for an unknown
// site and ErrConflict when another live site has newContentURL.
func (s *Server) RenameSite(contentURL, newContentURL string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.siteByContentURL(contentURL)
	if st == nil {
		return fmt.Errorf("%w: no site with contentUrl %q", ErrNotFound, contentURL)
	}
	if other := s.siteByContentURL(newContentURL); other != nil && other != st {
		return fmt.Errorf("%w: contentUrl %q is used by site %s", ErrConflict, newContentURL, other.id)
	}
	st.contentURL = newContentURL
	return nil
}

// DeletedSites returns the sites DeleteSite removed and RestoreSite has not brought back,
// latest deletion first.
func (s *Server) DeletedSites() []Site {
	s.mu.Lock()
	defer s.mu.Unlock()
	var deleted []*site
	for _, st := range s.sites {
		if st.deleted {
			deleted = append(deleted, st)
		}
	}
	slices.SortFunc(deleted, func(a, b *site) int { return b.deletion - a.deletion })
	out := make([]Site, 0, len(deleted))
	for _, st := range deleted {
		out = append(out, Site{ID: st.id, ContentURL: st.contentURL, Name: st.name})
	}
	return out
}

// deletedSite finds the latest deleted site with that contentUrl: after a rename, two deleted
// sites may share one. Callers hold s.mu.
func (s *Server) deletedSite(contentURL string) *site {
	var latest *site
	for _, st := range s.sites {
		if st.deleted && strings.EqualFold(st.contentURL, contentURL) && (latest == nil || st.deletion > latest.deletion) {
			latest = st
		}
	}
	return latest
}
