// Command optin is a small consent service: the code a team copies to call
// Blueshift when customers opt in or out.
//
//	POST /consent  {"email": "...", "customer_id": "...", "consent": true}
//
// consent true starts tracking the customer in Blueshift; false stops it
// (Blueshift then deletes the customer's personal data). Each call to
// Blueshift gets its own deadline, detached from the caller's connection (a
// caller that hangs up must not abort an erasure half-way through its
// retries), and SDK errors become sensible HTTP answers:
// 204 on success, 400 when the request is at fault, 503 with Retry-After
// when Blueshift is struggling (so the caller retries later), 502 when our
// own Blueshift configuration is wrong. On SIGINT or SIGTERM it stops
// accepting requests, lets the calls in flight finish (up to a bound) and
// exits 0.
//
// Without BLUESHIFT_API_KEY it talks to the in-process fake Blueshift.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
)

// blueshiftDeadline bounds one consent call to Blueshift, retries included.
const blueshiftDeadline = 10 * time.Second

// shutdownGrace bounds how long a shutdown waits for calls in flight: a
// little more than one call may take.
const shutdownGrace = blueshiftDeadline + 5*time.Second

type consentRequest struct {
	Email      string `json:"email"`
	CustomerID string `json:"customer_id"`
	Cookie     string `json:"cookie"`
	DeviceID   string `json:"device_id"`
	Consent    *bool  `json:"consent"`
}

// consentHandler serves POST /consent with client, giving each call to
// Blueshift deadline.
func consentHandler(client *blueshift.Client, log *slog.Logger, deadline time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		var req consentRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&req); err != nil || req.Consent == nil || dec.More() {
			http.Error(w, `body must be {"email": ..., "customer_id": ..., "consent": true|false}`, http.StatusBadRequest)
			return
		}

		// Detached from r.Context(): the change goes through even if the
		// caller disconnects; it is bounded by its own deadline instead.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), deadline)
		defer cancel()
		customer := blueshift.Customer{Email: req.Email, CustomerID: req.CustomerID, Cookie: req.Cookie, DeviceID: req.DeviceID}
		call := client.StartTracking
		if !*req.Consent {
			call = client.StopTracking
		}
		resp, err := call(ctx, customer)
		if err != nil {
			status, message := httpAnswer(err)
			// err never holds the API key or the customer's identifiers.
			log.Warn("blueshift call failed", "consent", *req.Consent, "error", err, "answer", status)
			if status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "30")
			}
			http.Error(w, message, status)
			return
		}
		log.Info("consent recorded", "consent", *req.Consent, "request_id", resp.RequestID, "attempts", resp.Attempts)
		w.WriteHeader(http.StatusNoContent)
	})
}

// httpAnswer maps an SDK error to the status and message our caller gets.
func httpAnswer(err error) (int, string) {
	var apiErr *blueshift.APIError
	switch {
	case errors.Is(err, blueshift.ErrMissingIdentifier):
		return http.StatusBadRequest, "an email, customer_id, cookie or device_id is required"
	case errors.Is(err, blueshift.ErrInvalidIdentifier):
		return http.StatusBadRequest, "an identifier is malformed (invalid UTF-8, a control character, or over 512 bytes)"
	case errors.Is(err, blueshift.ErrBadRequest), errors.Is(err, blueshift.ErrUnprocessableEntity):
		return http.StatusBadRequest, "Blueshift rejected the customer's identifiers"
	case errors.Is(err, blueshift.ErrUnauthorized), errors.Is(err, blueshift.ErrForbidden):
		return http.StatusBadGateway, "our Blueshift credentials are misconfigured"
	case errors.As(err, &apiErr) && !blueshift.IsRetryable(err) && !errors.Is(err, context.DeadlineExceeded):
		return http.StatusBadGateway, "Blueshift refused the request"
	default: // retries exhausted, network trouble, or our deadline ran out
		return http.StatusServiceUnavailable, "Blueshift is unavailable, try again later"
	}
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var client *blueshift.Client
	var err error
	if os.Getenv("BLUESHIFT_API_KEY") == "" {
		fake := blueshifttest.NewServer()
		defer fake.Close()
		log.Info("BLUESHIFT_API_KEY is not set: using the in-process fake Blueshift", "url", fake.URL)
		client, err = blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	} else {
		client, err = blueshift.NewClientFromEnv(blueshift.WithUserAgent("optin-example"))
	}
	if err != nil {
		log.Error("configuring Blueshift", "error", err)
		os.Exit(2)
	}

	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("listening", "error", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("listening", "addr", l.Addr().String())
	err = serve(ctx, l, consentHandler(client, log, blueshiftDeadline), shutdownGrace)
	switch {
	case err != nil && ctx.Err() == nil: // serving failed by itself
		log.Error("serving", "error", err)
		os.Exit(1)
	case err != nil: // asked to stop, but a call outlived the grace period
		log.Warn("stopped with requests in flight", "error", err)
	default:
		log.Info("stopped")
	}
}

// serve answers /consent on l until ctx ends, then shuts down gracefully:
// it stops accepting, waits up to grace for the requests in flight to be
// answered, and returns nil once they have been.
func serve(ctx context.Context, l net.Listener, consent http.Handler, grace time.Duration) error {
	mux := http.NewServeMux()
	mux.Handle("/consent", consent)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served: // failed before any shutdown
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("requests still in flight after %v: %w", grace, err)
	}
	<-served // http.ErrServerClosed
	return nil
}
