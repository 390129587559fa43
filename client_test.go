package blueshift_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

func TestNewClientRejectsBadKeys(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want error
	}{
		{"", blueshift.ErrMissingAPIKey},
		{"   \n", blueshift.ErrMissingAPIKey},
		{"user:pass", blueshift.ErrInvalidAPIKey},
		{"abc\x00def", blueshift.ErrInvalidAPIKey},
		{"abc\ndef", blueshift.ErrInvalidAPIKey},
		{"abc\x7fdef", blueshift.ErrInvalidAPIKey},       // DEL
		{"sk-live\u0085abc", blueshift.ErrInvalidAPIKey}, // C1: NEL
		{"abc\u0080def", blueshift.ErrInvalidAPIKey},
		{"abc\u009fdef", blueshift.ErrInvalidAPIKey},
		{"abc\xffdef", blueshift.ErrInvalidAPIKey},     // not UTF-8
		{"abc\xc3\x28def", blueshift.ErrInvalidAPIKey}, // not UTF-8
	} {
		t.Run(fmt.Sprintf("%q", tc.key), func(t *testing.T) {
			client, err := blueshift.NewClient(tc.key)
			assert.Nil(t, client)
			require.ErrorIs(t, err, tc.want)
			if tc.key != "" {
				assert.NotContains(t, err.Error(), tc.key)
			}
		})
	}
}

func TestOptionsValidateTheirInput(t *testing.T) {
	for name, opt := range map[string]blueshift.Option{
		"unknown region":           blueshift.WithRegion("mars"),
		"empty base url":           blueshift.WithBaseURL(""),
		"no scheme":                blueshift.WithBaseURL("api.getblueshift.com"),
		"plain http to remote":     blueshift.WithBaseURL("http://api.getblueshift.com"),
		"plain http to private ip": blueshift.WithBaseURL("http://10.0.0.1:8080"),
		"ftp":                      blueshift.WithBaseURL("ftp://127.0.0.1"),
		"credentials in url":       blueshift.WithBaseURL("https://key:@api.getblueshift.com"),
		"query":                    blueshift.WithBaseURL("https://api.getblueshift.com?x=1"),
		"nil http client":          blueshift.WithHTTPClient(nil),
		"negative retry max":       blueshift.WithRetryMax(-1),
		"zero retry wait":          blueshift.WithRetryWait(0, time.Second),
		"max below min":            blueshift.WithRetryWait(2*time.Second, time.Second),
		"zero timeout":             blueshift.WithTimeout(0),
		"nil logger":               blueshift.WithLogger(nil),
		"empty user agent":         blueshift.WithUserAgent(" "),
		"control in user agent":    blueshift.WithUserAgent("a\r\nX-Evil: 1"),
		"zero rate":                blueshift.WithRateLimit(0, 1),
		"zero burst":               blueshift.WithRateLimit(10, 0),
		"negative budget":          blueshift.WithRetryBudget(-1),
		"negative max conns":       blueshift.WithMaxConnsPerHost(-1),
	} {
		t.Run(name, func(t *testing.T) {
			client, err := blueshift.NewClient(testKey, opt)
			assert.Nil(t, client)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "blueshift: "), err.Error())
		})
	}
}

func TestBaseURLAcceptsHTTPSAndLoopback(t *testing.T) {
	for _, u := range []string{
		"https://api.getblueshift.com", "https://proxy.internal:8443/blueshift/",
		"http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:9000", "http://localhost:1234", "HTTP://LOCALHOST",
	} {
		_, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(u))
		assert.NoError(t, err, u)
	}
}

func TestBaseURLWithPathPrefix(t *testing.T) {
	_, rec := setup(t, nil)
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(rec.URL+"/proxy/"))
	require.NoError(t, err)
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.NoError(t, err)
	assert.Equal(t, "/proxy/api/v1/customers/unforget", rec.Requests()[0].Path)
}

func TestWithBaseURLWinsOverRegionInAnyOrder(t *testing.T) {
	_, rec := setup(t, nil)
	for _, opts := range [][]blueshift.Option{
		{blueshift.WithRegion(blueshift.RegionEU), blueshift.WithBaseURL(rec.URL)},
		{blueshift.WithBaseURL(rec.URL), blueshift.WithRegion(blueshift.RegionEU)},
	} {
		client, err := blueshift.NewClient(testKey, opts...)
		require.NoError(t, err)
		assert.Contains(t, client.String(), rec.URL)
	}
}

func TestRegionSelectsHost(t *testing.T) {
	for region, host := range map[blueshift.Region]string{
		blueshift.RegionUS: "https://api.getblueshift.com",
		blueshift.RegionEU: "https://api.eu.getblueshift.com",
	} {
		client, err := blueshift.NewClient(testKey, blueshift.WithRegion(region))
		require.NoError(t, err)
		assert.Contains(t, client.String(), "baseURL: "+host+",")
	}
	client, err := blueshift.NewClient(testKey)
	require.NoError(t, err)
	assert.Contains(t, client.String(), "https://api.getblueshift.com,", "US is the default")
}

func TestNewClientFromEnv(t *testing.T) {
	_, rec := setup(t, nil)

	t.Run("missing key", func(t *testing.T) {
		t.Setenv("BLUESHIFT_API_KEY", "")
		_, err := blueshift.NewClientFromEnv()
		assert.ErrorIs(t, err, blueshift.ErrMissingAPIKey)
	})
	t.Run("region", func(t *testing.T) {
		t.Setenv("BLUESHIFT_API_KEY", testKey)
		t.Setenv("BLUESHIFT_REGION", " EU ")
		t.Setenv("BLUESHIFT_BASE_URL", "")
		client, err := blueshift.NewClientFromEnv()
		require.NoError(t, err)
		assert.Contains(t, client.String(), "https://api.eu.getblueshift.com")
	})
	t.Run("bad region", func(t *testing.T) {
		t.Setenv("BLUESHIFT_API_KEY", testKey)
		t.Setenv("BLUESHIFT_REGION", "moon")
		_, err := blueshift.NewClientFromEnv()
		assert.ErrorContains(t, err, "BLUESHIFT_REGION")
	})
	t.Run("base url is used", func(t *testing.T) {
		t.Setenv("BLUESHIFT_API_KEY", testKey+"\n")
		t.Setenv("BLUESHIFT_REGION", "eu")
		t.Setenv("BLUESHIFT_BASE_URL", rec.URL)
		client, err := blueshift.NewClientFromEnv()
		require.NoError(t, err)
		_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
		require.NoError(t, err)
		assert.Equal(t, "Basic YWJjMTIzOg==", rec.Requests()[0].Header.Get("Authorization"))
	})
	t.Run("explicit options win", func(t *testing.T) {
		t.Setenv("BLUESHIFT_API_KEY", testKey)
		t.Setenv("BLUESHIFT_REGION", "moon") // ignored: the option replaces it
		t.Setenv("BLUESHIFT_BASE_URL", rec.URL)
		client, err := blueshift.NewClientFromEnv(blueshift.WithRegion(blueshift.RegionEU))
		require.NoError(t, err)
		assert.Contains(t, client.String(), "https://api.eu.getblueshift.com")
		assert.Equal(t, "https://api.eu.getblueshift.com", client.BaseURL())
	})
	t.Run("WithAPIKey replaces BLUESHIFT_API_KEY", func(t *testing.T) {
		t.Setenv("BLUESHIFT_API_KEY", "")
		t.Setenv("BLUESHIFT_REGION", "")
		t.Setenv("BLUESHIFT_BASE_URL", rec.URL)
		client, err := blueshift.NewClientFromEnv(blueshift.WithAPIKey(testKey + "\n"))
		require.NoError(t, err)
		_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
		require.NoError(t, err)
		assert.Equal(t, "Basic YWJjMTIzOg==", rec.Requests()[len(rec.Requests())-1].Header.Get("Authorization"))

		_, err = blueshift.NewClientFromEnv(blueshift.WithAPIKey(" "))
		assert.ErrorIs(t, err, blueshift.ErrMissingAPIKey)
	})
	t.Run("BaseURL is normalised", func(t *testing.T) {
		client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL("HTTPS://API.Example.COM/v2/"))
		require.NoError(t, err)
		assert.Equal(t, "https://api.example.com/v2", client.BaseURL())
	})
}

func TestWithHTTPClientUsesItsTransportWithoutMutatingIt(t *testing.T) {
	var used bool
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})
	hc := &http.Client{Transport: rt, Timeout: 7 * time.Second}
	before := *hc
	_, rec := setup(t, nil)
	client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(rec.URL), blueshift.WithHTTPClient(hc))
	require.NoError(t, err)
	_, err = client.StartTracking(context.Background(), blueshift.Customer{Email: "ann@example.com"})
	require.NoError(t, err)
	assert.True(t, used, "the caller's transport carried the request")
	assert.Equal(t, before.Timeout, hc.Timeout)
	assert.Nil(t, hc.CheckRedirect, "the caller's client was not modified")
	assert.Nil(t, hc.Jar)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBaseURLRefusesAnyQueryOrFragment(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1/?", "http://127.0.0.1?", "https://api.example.com/#", "https://api.example.com#",
		"https://api.example.com/?a=1", "https://api.example.com/p#f", "https://api.example.com/p?#"} {
		_, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(u))
		assert.Error(t, err, u)
	}
}

func TestBaseURLKeepsAnEscapedPath(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.RequestURI)
		mu.Unlock()
		okHandler(w, r)
	}))
	defer srv.Close()
	for _, path := range []string{"/a%2Fb", "/a%2fb/", "/x%20y", "/plain"} {
		client, err := blueshift.NewClient(testKey, blueshift.WithBaseURL(srv.URL+path))
		require.NoError(t, err)
		want := srv.URL + strings.TrimSuffix(path, "/")
		assert.Equal(t, want, client.BaseURL())
		_, err = client.StartTracking(context.Background(), ann)
		require.NoError(t, err)
		mu.Lock()
		assert.Equal(t, strings.TrimPrefix(want, srv.URL)+"/api/v1/customers/unforget", got[len(got)-1])
		mu.Unlock()
	}
}
