package tableautest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"
)

// session is a signed-in token.
type session struct {
	siteID           string
	userID, userName string
	admin            bool
	patName          string // "" for password sessions
	expires          time.Time
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
		c := s.users[*f.Name]
		if c != nil && f.Password != nil && secretsEqual(c.secret, *f.Password) {
			cred = c
		}
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
	sess := &session{siteID: st.id, userID: cred.userID, userName: cred.userName, admin: cred.admin,
		expires: now.Add(s.cfg.tokenTTL)}
	if f.PATName != nil {
		// One session per PAT: the new sign-in ends the previous one, on any site.
		sess.patName = *f.PATName
		delete(s.sessions, s.patSessions[sess.patName])
		s.patSessions[sess.patName] = token
	}
	s.sessions[token] = sess
	out := credentialsOut{Token: token, Expiration: formatExpiration(s.cfg.tokenTTL),
		SiteID: st.id, ContentURL: st.contentURL, UserID: cred.userID}
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
// timer.
func (s *Server) authenticate(x *exchange) (string, session, *apiError) {
	token := x.r.Header.Get("X-Tableau-Auth")
	if token == "" {
		return "", session{}, errNoCredentials()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[token]
	if !ok {
		return "", session{}, errInvalidCredentials()
	}
	now := s.cfg.now()
	if !now.Before(sess.expires) {
		s.endSession(token)
		return "", session{}, errInvalidCredentials()
	}
	sess.expires = now.Add(s.cfg.tokenTTL)
	return token, *sess, nil
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
