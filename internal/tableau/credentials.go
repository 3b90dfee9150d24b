/*
Copyright 2026 The tableau-webhook-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package tableau

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Credentials sign in to Tableau: exactly one of a personal access token (PATName and
// PATSecret) or a username and password.
//
// Every way of printing Credentials (fmt verbs, logr, slog, JSON) shows only Identity, so a
// Config or Credentials that ends up in a log line or an error message cannot leak a secret.
type Credentials struct {
	// PATName and PATSecret are a personal access token's name and secret.
	PATName, PATSecret string
	// Username and Password are a Tableau user's sign-in.
	Username, Password string
}

// Identity is the non-secret name of the credentials: "pat:<name>" or "user:<name>", or ""
// when none is set. Logs and messages name credentials by it. It does not identify a
// credential (two Tableau users may each have a PAT of the same name): sessions are keyed by
// a fingerprint of name and secret instead.
func (c Credentials) Identity() string {
	switch {
	case c.PATName != "":
		return "pat:" + c.PATName
	case c.Username != "":
		return "user:" + c.Username
	}
	return ""
}

// isPAT reports a personal access token, which Tableau allows one session at a time.
func (c Credentials) isPAT() bool { return c.PATName != "" }

// validate enforces exactly one complete kind of credentials; its messages name no secret.
func (c Credentials) validate() error {
	pat := c.PATName != "" || c.PATSecret != ""
	user := c.Username != "" || c.Password != ""
	switch {
	case pat && user:
		return errors.New("credentials: set either a personal access token or a username/password, not both")
	case pat && (c.PATName == "" || c.PATSecret == ""):
		return errors.New("credentials: a personal access token needs both a name and a secret")
	case user && (c.Username == "" || c.Password == ""):
		return errors.New("credentials: a username/password sign-in needs both")
	case !pat && !user:
		return errors.New("credentials: none given")
	}
	return nil
}

// fingerprint identifies the credentials by what proves them, name and secret together, so
// that the Pool keys sessions by the credential itself: PAT names are chosen per Tableau
// user, so two teams may hold different tokens of the same name, and keying by name would
// let one replace the other's session. It is an HMAC under a key drawn at start-up rather
// than a bare hash, so that even a leaked fingerprint of a weak password cannot be checked
// against a dictionary offline; fingerprints are compared only within this process. It is
// never logged or shown: Identity is the name for that.
func (c Credentials) fingerprint() string {
	h := hmac.New(sha256.New, fingerprintKey)
	for _, s := range []string{c.PATName, c.PATSecret, c.Username, c.Password} {
		// Length-prefixed, so that moving bytes between fields changes the fingerprint.
		_, _ = fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fingerprintKey keys fingerprint for the life of the process.
var fingerprintKey = func() []byte {
	k := make([]byte, sha256.Size)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (it crashes the program instead)
	return k
}()

// secrets lists the values that must never appear in output.
func (c Credentials) secrets() []string { return []string{c.PATSecret, c.Password} }

// String shows the identity only.
func (c Credentials) String() string {
	if id := c.Identity(); id != "" {
		return "tableau.Credentials{" + id + ", secret redacted}"
	}
	return "tableau.Credentials{}"
}

// GoString keeps %#v from printing the fields.
func (c Credentials) GoString() string { return c.String() }

// Format makes every fmt verb (%d, %x, %+v ... not only %v and %s) print String, because the
// default struct formatting would print the secret fields.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// MarshalLog is what logr sinks print instead of the fields.
func (c Credentials) MarshalLog() any { return c.Identity() }

// LogValue is what slog handlers print instead of the fields.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.Identity()) }

// MarshalJSON keeps a JSON-encoded Config (debug dumps) free of secrets.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"identity": c.Identity()})
}
