package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

func TestConsentEndpointAgainstTheFake(t *testing.T) {
	ann := blueshift.Customer{Email: "ann@example.com"}
	for _, tc := range []struct {
		name        string
		setup       func(*blueshifttest.Server)
		body        string
		wantStatus  int
		wantTracked bool
	}{
		{"opt in", nil, `{"email":"ann@example.com","consent":true}`, 204, true},
		{"opt out", nil, `{"email":"ann@example.com","consent":false}`, 204, false},
		{"no identifier", nil, `{"consent":true}`, 400, false},
		{"no consent field", nil, `{"email":"ann@example.com"}`, 400, false},
		{"not json", nil, `consent=yes`, 400, false},
		{"transient failures are retried", func(s *blueshifttest.Server) { s.FailNext(2, 503) }, `{"email":"ann@example.com","consent":true}`, 204, true},
		{"blueshift down", func(s *blueshifttest.Server) { s.FailNext(10, 503) }, `{"email":"ann@example.com","consent":true}`, 503, false},
		{"rate limited", func(s *blueshifttest.Server) { s.FailNext(10, 429) }, `{"email":"ann@example.com","consent":true}`, 503, false},
		{"bad key", func(s *blueshifttest.Server) { s.FailNext(1, 401) }, `{"email":"ann@example.com","consent":true}`, 502, false},
		{"rejected identifiers", func(s *blueshifttest.Server) { s.FailNext(1, 422) }, `{"email":"ann@example.com","consent":true}`, 400, false},
		{"dropped connections", func(s *blueshifttest.Server) { s.DropNext(10) }, `{"email":"ann@example.com","consent":true}`, 503, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			if tc.setup != nil {
				tc.setup(fake)
			}
			client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL),
				blueshift.WithRetryWait(time.Millisecond, 2*time.Millisecond))
			require.NoError(t, err)
			handler := consentHandler(client, slog.New(slog.NewTextHandler(io.Discard, nil)))

			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(tc.body)))
			assert.Equal(t, tc.wantStatus, rec.Code, rec.Body.String())
			assert.Equal(t, tc.wantTracked, fake.IsTracked(ann))
			if rec.Code == 503 {
				assert.Equal(t, "30", rec.Header().Get("Retry-After"))
			}
			assert.NotContains(t, rec.Body.String(), fake.APIKey)
		})
	}
}

func TestConsentEndpointGivesUpAtItsDeadline(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(time.Hour)
	client, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	require.NoError(t, err)
	handler := consentHandler(client, slog.New(slog.NewTextHandler(io.Discard, nil)))

	req := httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(`{"customer_id":"C1","consent":true}`))
	ctx, cancel := context.WithTimeout(req.Context(), 50*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req.WithContext(ctx))
	assert.Equal(t, 503, rec.Code)
}
