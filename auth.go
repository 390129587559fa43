package blueshift

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// credential holds the ready-made Authorization header value. It is kept
// behind a pointer and formats itself as "[redacted]", so that printing any
// value that holds it (with %v, %+v or %#v) never shows the key, and the
// key's forms are sealed, so that printers that walk fields through
// pointers (spew, testify's diffs) see only a func's address.
type credential struct {
	forms sealed[keyForms]
}

// keyForms are the ready-made header and the forms of the key that must
// never be shown.
type keyForms struct {
	header string // "Basic " + base64(key + ":")
	// secrets are the key and its base64 encoding.
	secrets [2]string
}

// header returns the Authorization header value.
func (c *credential) header() string { return c.forms.open().header }

// secrets returns the key and base64(key:), for redaction.
func (c *credential) secrets() [2]string { return c.forms.open().secrets }

// newCredential validates an API key and builds its Basic-auth header: the
// key is the user name and the password is empty, so the encoded text is the
// key followed by a colon.
func newCredential(apiKey string) (*credential, error) {
	key := strings.TrimSpace(apiKey) // keys read from files end in a newline
	if key == "" {
		return nil, ErrMissingAPIKey
	}
	if !utf8.ValidString(key) {
		return nil, ErrInvalidAPIKey
	}
	for _, r := range key {
		if r == ':' || unicode.IsControl(r) { // C0, DEL and C1 (U+0080-U+009F)
			return nil, ErrInvalidAPIKey
		}
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(key + ":"))
	return &credential{forms: seal(keyForms{header: "Basic " + encoded, secrets: [2]string{key, encoded}})}, nil
}

// String returns "[redacted]".
func (*credential) String() string { return "[redacted]" }

// GoString returns "[redacted]".
func (*credential) GoString() string { return "[redacted]" }

// Format prints "[redacted]" for every verb.
func (c *credential) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// authTransport adds the API key to requests for the configured endpoint
// and refuses to send anything elsewhere: requests carry the key and a
// customer's identifiers, so a request to any other host is a bug or an
// attack, never something to complete.
//
// It deliberately has no CloseIdleConnections method: go-retryablehttp calls
// http.Client.CloseIdleConnections every time a call gives up, which would
// otherwise tear down the pooled connections of every other call in flight.
type authTransport struct {
	base    sealed[http.RoundTripper] // the pool's buffers hold the last request, key included
	cred    *credential
	scheme  string // lower case
	rawHost string // as configured, for the fast path
	host    string // lower case, with an explicit port
}

func newAuthTransport(base http.RoundTripper, cred *credential, endpoint *url.URL) *authTransport {
	return &authTransport{base: seal(base), cred: cred, scheme: endpoint.Scheme, rawHost: endpoint.Host, host: canonicalHost(endpoint)}
}

// errForeignHost is returned for a request to any host but the configured one.
var errForeignHost = errors.New("blueshift: refusing to send the API key to a host other than the configured base URL")

// RoundTrip implements http.RoundTripper.
func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.scheme || (req.URL.Host != t.rawHost && canonicalHost(req.URL) != t.host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errForeignHost
	}
	// The request is ours (built by Client.post for this call), so the header
	// can be set in place without cloning it.
	req.Header.Set("Authorization", t.cred.header())
	return t.base.open().RoundTrip(req)
}

// canonicalHost returns u's host in lower case with the scheme's default
// port made explicit, so that "Example.com" and "example.com:443" compare equal.
func canonicalHost(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
