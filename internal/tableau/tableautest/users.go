package tableautest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Site roles a user can have (Tableau's siteRole values). The simulator lets only the
// administrator roles manage webhooks, as Tableau does; every other role signs in and gets
// 403 (403004) on each webhook call.
const (
	SiteRoleServerAdministrator       = "ServerAdministrator"
	SiteRoleSiteAdministratorCreator  = "SiteAdministratorCreator"
	SiteRoleSiteAdministratorExplorer = "SiteAdministratorExplorer"
	SiteRoleCreator                   = "Creator"
	SiteRoleExplorerCanPublish        = "ExplorerCanPublish"
	SiteRoleExplorer                  = "Explorer"
	SiteRoleViewer                    = "Viewer"
)

// siteRoles are the roles SetSiteRole accepts. Unlicensed is left out: such a user cannot sign
// in at all in Tableau, which is DeleteUser's behaviour, not a role's.
var siteRoles = []string{
	SiteRoleServerAdministrator, SiteRoleSiteAdministratorCreator, SiteRoleSiteAdministratorExplorer,
	SiteRoleCreator, SiteRoleExplorerCanPublish, SiteRoleExplorer, SiteRoleViewer,
}

func isSiteAdminRole(role string) bool {
	switch role {
	case SiteRoleServerAdministrator, SiteRoleSiteAdministratorCreator, SiteRoleSiteAdministratorExplorer:
		return true
	}
	return false
}

// PATState is the state of a personal access token.
type PATState string

// States of a personal access token. A revoked and an expired PAT behave alike: sign-in
// answers 401 (401001) and the sessions it held answer 401 (401002). The two are kept apart
// only so that a test or the admin API says which one it meant.
const (
	PATActive  PATState = "active"
	PATRevoked PATState = "revoked"
	PATExpired PATState = "expired"
)

// Errors of the state-changing methods (RevokePAT, DeleteUser, DeleteSite, ...), for
// errors.Is; the admin API answers them with 404, 409 and 400.
var (
	// ErrNotFound: no PAT, user or site of that name.
	ErrNotFound = errors.New("tableautest: not found")
	// ErrConflict: the change would give two live sites one contentUrl.
	ErrConflict = errors.New("tableautest: conflict")
	// ErrInvalid: an argument the simulator does not know, like an unknown site role.
	ErrInvalid = errors.New("tableautest: invalid argument")
)

// user is a Tableau user: the owner of one or more credentials. Users are named; a PAT's user
// has the PAT's name, so that a PAT and a password with one name are one user.
type user struct {
	id, name string
	siteRole string
	deleted  bool
}

// credential is a PAT or a password; state is PATActive for passwords, which cannot expire.
type credential struct {
	secret string
	user   *user
	state  PATState
}

// User is a user of the simulated server as Users reports it.
type User struct {
	// ID is the user's LUID, reported at sign-in and as webhook owner.
	ID string
	// Name is the user's name: the PAT name or the username.
	Name string
	// SiteRole is the user's site role (SiteRoleSiteAdministratorCreator, SiteRoleExplorer, ...).
	SiteRole string
	// SiteAdmin reports whether SiteRole may manage webhooks.
	SiteAdmin bool
	// Deleted reports a user removed by DeleteUser.
	Deleted bool
	// PATs are the names of the user's personal access tokens.
	PATs []string
	// Password reports whether the user can sign in with a username and password.
	Password bool
}

// PAT is a personal access token as PATs reports it (never its secret).
type PAT struct {
	// Name is the token name used at sign-in.
	Name string
	// UserName is the name of the user the PAT signs in as.
	UserName string
	// State is PATActive, PATRevoked or PATExpired.
	State PATState
}

// userByName finds a user, deleted or not. Callers hold s.mu.
func (s *Server) userByName(name string) *user {
	for _, u := range s.users {
		if u.name == name {
			return u
		}
	}
	return nil
}

// Users returns the users of the server, deleted ones included, in the order configured.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, s.userInfo(u))
	}
	return out
}

// userInfo describes a user. Callers hold s.mu.
func (s *Server) userInfo(u *user) User {
	out := User{ID: u.id, Name: u.name, SiteRole: u.siteRole, SiteAdmin: isSiteAdminRole(u.siteRole), Deleted: u.deleted}
	for name, c := range s.pats {
		if c.user == u {
			out.PATs = append(out.PATs, name)
		}
	}
	slices.Sort(out.PATs)
	if c := s.passwords[u.name]; c != nil && c.user == u {
		out.Password = true
	}
	return out
}

// PATs returns the personal access tokens of the server sorted by name.
func (s *Server) PATs() []PAT {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PAT, 0, len(s.pats))
	for name, c := range s.pats {
		out = append(out, PAT{Name: name, UserName: c.user.name, State: c.state})
	}
	slices.SortFunc(out, func(a, b PAT) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// User returns one user by name, deleted or not.
func (s *Server) User(name string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(name)
	if u == nil {
		return User{}, false
	}
	return s.userInfo(u), true
}

// RevokePAT revokes (PATRevoked) or expires (PATExpired) the personal access token name, as a
// site administrator or the token's expiry would, while the Secret holding it stays
// unchanged: from now on signing in with it answers 401 (401001, "Signin Error"), and the
// session it holds ends, so that calls with its token answer 401 (401002). RestorePAT undoes
// it. Revoking a revoked PAT again only records the new state. It fails with ErrNotFound for
// an unknown PAT and ErrInvalid for a state other than PATRevoked or PATExpired.
func (s *Server) RevokePAT(name string, state PATState) error {
	if state != PATRevoked && state != PATExpired {
		return fmt.Errorf("%w: PAT state %q (want %q or %q)", ErrInvalid, state, PATRevoked, PATExpired)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.pats[name]
	if c == nil {
		return fmt.Errorf("%w: no PAT named %q", ErrNotFound, name)
	}
	c.state = state
	s.endSessionsWhere(func(sess *session) bool { return sess.patName == name })
	return nil
}

// RestorePAT makes a revoked or expired PAT sign in again (a new PAT with the same name and
// secret, as far as a client can tell). Sessions ended by RevokePAT stay ended: the client
// must sign in again. Restoring an active PAT does nothing. It fails with ErrNotFound for an
// unknown PAT.
func (s *Server) RestorePAT(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.pats[name]
	if c == nil {
		return fmt.Errorf("%w: no PAT named %q", ErrNotFound, name)
	}
	c.state = PATActive
	return nil
}

// DeleteUser removes the user named name (the user behind the PAT of that name, or the
// username): every credential of the user behaves as a revoked PAT does, sign-in answering
// 401 (401001) and the user's sessions ending (401002). Webhooks the user owns stay. Deleting
// a deleted user does nothing. It fails with ErrNotFound for an unknown user.
func (s *Server) DeleteUser(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(name)
	if u == nil {
		return fmt.Errorf("%w: no user named %q", ErrNotFound, name)
	}
	u.deleted = true
	s.endSessionsWhere(func(sess *session) bool { return sess.user == u })
	return nil
}

// RestoreUser brings a deleted user back with the same LUID, site role and credentials (the
// state each PAT was in), so that tests can check recovery. Sessions ended by DeleteUser stay
// ended. Restoring a live user does nothing. It fails with ErrNotFound for an unknown user.
func (s *Server) RestoreUser(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(name)
	if u == nil {
		return fmt.Errorf("%w: no user named %q", ErrNotFound, name)
	}
	u.deleted = false
	return nil
}

// SetSiteRole changes the site role of the user named name (one of the SiteRole constants).
// It applies at once, to open sessions too: a user who is not a site administrator
// (SiteRoleExplorer, ...) still signs in and serverinfo works, but every webhook call (List,
// Get, Create, Update, Delete, Test) answers 403 (403004) until an administrator role is set
// back. A WithNonAdminPAT user starts with SiteRoleExplorer. It fails with ErrNotFound for an
// unknown user and ErrInvalid for an unknown role.
func (s *Server) SetSiteRole(name, role string) error {
	if !slices.Contains(siteRoles, role) {
		return fmt.Errorf("%w: site role %q (want one of %v)", ErrInvalid, role, siteRoles)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(name)
	if u == nil {
		return fmt.Errorf("%w: no user named %q", ErrNotFound, name)
	}
	u.siteRole = role
	return nil
}
