package blueshift

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingTransport notes the requests that get past the auth transport.
type recordingTransport struct{ seen []*http.Request }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.seen = append(r.seen, req)
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestAuthTransportSendsTheKeyOnlyToTheConfiguredHost(t *testing.T) {
	cred, err := newCredential("abc123")
	require.NoError(t, err)
	endpoint, _ := url.Parse("https://api.getblueshift.com")
	next := &recordingTransport{}
	transport := newAuthTransport(next, cred, endpoint)

	for _, tc := range []struct {
		url     string
		allowed bool
	}{
		{"https://api.getblueshift.com/api/v1/customers/unforget", true},
		{"https://API.GetBlueshift.com:443/api/v1/customers/unforget", true},
		{"http://api.getblueshift.com/api/v1/customers/unforget", false},       // scheme
		{"https://api.getblueshift.com:8443/api/v1/customers/unforget", false}, // port
		{"https://api.eu.getblueshift.com/api/v1/customers/unforget", false},   // host
		{"https://evil.example/api/v1/customers/unforget", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			next.seen = nil
			body := &closeTracker{Reader: strings.NewReader(`{"email":"x"}`)}
			req, err := http.NewRequest(http.MethodPost, tc.url, body)
			require.NoError(t, err)
			_, err = transport.RoundTrip(req)
			if tc.allowed {
				require.NoError(t, err)
				require.Len(t, next.seen, 1)
				assert.Equal(t, "Basic YWJjMTIzOg==", next.seen[0].Header.Get("Authorization"))
				return
			}
			assert.ErrorIs(t, err, errForeignHost)
			assert.Empty(t, next.seen, "nothing reached the network")
			assert.Empty(t, req.Header.Get("Authorization"))
			assert.True(t, body.closed, "the request body was closed")
		})
	}
}

func TestCredentialNeverFormatsTheKey(t *testing.T) {
	cred, err := newCredential("abc123")
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, cred)
		assert.Equal(t, "[redacted]", out, verb)
	}
}
