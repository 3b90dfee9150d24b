package tableautest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"
)

// session is a signed-in token. It points at its user rather than copying the site role, so
// that SetSiteRole applies to sessions already open, as a role change in Tableau does.
type session struct {
	siteID  string
	user    *user
	patName string // "" for password sessions
	expires time.Time
}

// caller is what authenticate learned about a request's session, copied under s.mu.
type caller struct {
	siteID           string
	userID, userName string
	admin            bool
}

// newToken mimics the modern token shape "<random>|<random>|<site-luid>"; clients must treat
// it as opaque.
func newToken(siteID string) string {
	var a [16]byte
	var b [24]byte
	_, _ = rand.Read(a[:])
	_, _ = rand.Read(b[:])
	enc := base64.RawURLEncoding
	return enc.EncodeToString(a[:]) + "|" + enc.EncodeToString(b[:]) + "|" + siteID
}

func secretsEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (s *Server) handleSignIn(x *exchange) {
	in, ok := requestFormat(x.r.Header.Get("Content-Type"), x.body)
	if !ok {
		s.fail(x, errBadRequest("The request body is neither XML nor JSON."))
		return
	}
	f, err := decodeSignIn(in, x.body)
	if err != nil {
		s.fail(x, errBadRequest("Could not parse the sign-in request: %v", err))
		return
	}

	s.mu.Lock()
	var cred *credential
	switch {
	case f.PATName != nil:
		c := s.pats[*f.PATName]
		if c != nil && f.PATSecret != nil && secretsEqual(c.secret, *f.PATSecret) {
			cred = c
		}
	case f.Name != nil:
		c := s.passwords[*f.Name]
		if c != nil && f.Password != nil && secretsEqual(c.secret, *f.Password) {
			cred = c
		}
	}
	// A revoked or expired PAT and a deleted user's credentials fail exactly like a wrong
	// secret: Tableau answers 401001 without saying why, so a client cannot tell them apart.
	if cred != nil && (cred.state != PATActive || cred.user.deleted) {
		cred = nil
	}
	if cred == nil {
		s.mu.Unlock()
		detail := "Error signing in to Tableau Server"
		if f.JWT != nil && f.PATName == nil && f.Name == nil {
			detail = "Error signing in to Tableau Server: the simulator does not support JWT sign-in"
		}
		s.fail(x, errSignIn(detail))
		return
	}
	st := s.siteByContentURL(f.ContentURL)
	if st == nil {
		s.mu.Unlock()
		s.fail(x, errSignIn("Error signing in to Tableau Server: site '"+f.ContentURL+"' does not exist"))
		return
	}
	now := s.cfg.now()
	token := newToken(st.id)
	sess := &session{siteID: st.id, user: cred.user, expires: now.Add(s.cfg.tokenTTL)}
	if f.PATName != nil {
		// One session per PAT: the new sign-in ends the previous one, on any site.
		sess.patName = *f.PATName
		delete(s.sessions, s.patSessions[sess.patName])
		s.patSessions[sess.patName] = token
	}
	s.sessions[token] = sess
	out := credentialsOut{Token: token, Expiration: formatExpiration(s.cfg.tokenTTL),
		SiteID: st.id, ContentURL: st.contentURL, UserID: cred.user.id}
	s.mu.Unlock()

	body, err := encodeCredentials(x.out, s.cfg.apiVersion, out)
	s.respondEncoded(x, http.StatusOK, body, err)
}

func (s *Server) handleSignOut(x *exchange) {
	token, _, apiErr := s.authenticate(x)
	if apiErr != nil {
		s.fail(x, apiErr)
		return
	}
	s.mu.Lock()
	s.endSession(token)
	s.mu.Unlock()
	s.respond(x, http.StatusNoContent, nil)
}

// endSession forgets a token. Callers hold s.mu.
func (s *Server) endSession(token string) {
	if sess, ok := s.sessions[token]; ok && sess.patName != "" && s.patSessions[sess.patName] == token {
		delete(s.patSessions, sess.patName)
	}
	delete(s.sessions, token)
}

// authenticate checks X-Tableau-Auth (any header-name case) and restarts the session's idle
// timer. It reads the user's site role now, not at sign-in.
func (s *Server) authenticate(x *exchange) (string, caller, *apiError) {
	token := x.r.Header.Get("X-Tableau-Auth")
	if token == "" {
		return "", caller{}, errNoCredentials()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[token]
	if !ok {
		return "", caller{}, errInvalidCredentials()
	}
	now := s.cfg.now()
	if !now.Before(sess.expires) {
		s.endSession(token)
		return "", caller{}, errInvalidCredentials()
	}
	sess.expires = now.Add(s.cfg.tokenTTL)
	return token, caller{siteID: sess.siteID, userID: sess.user.id, userName: sess.user.name,
		admin: isSiteAdminRole(sess.user.siteRole)}, nil
}

// endSessionsWhere ends every session for which match holds. Callers hold s.mu.
func (s *Server) endSessionsWhere(match func(*session) bool) {
	for token, sess := range s.sessions {
		if match(sess) {
			s.endSession(token)
		}
	}
}

// ExpireTokens ends every session, as a server restart or an idle timeout would: the next
// request with any issued token answers 401 (401002).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
	clear(s.patSessions)
}

// ForeignSignIn simulates someone else signing in with the PAT patName, which ends the session
// currently holding that PAT (its next request answers 401002). Unknown PATs are ignored.
func (s *Server) ForeignSignIn(patName string) { s.foreignSignIn(patName) }

// foreignSignIn is ForeignSignIn reporting whether the PAT exists, for the admin API.
func (s *Server) foreignSignIn(patName string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pats[patName]; !ok {
		return false
	}
	if token, ok := s.patSessions[patName]; ok {
		s.endSession(token)
	}
	return true
}

// Sessions returns the number of live sessions (tokens that would still authenticate, not
// counting idle expiry that has not been noticed yet).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
