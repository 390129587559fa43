// Command optin is a small consent service: the code a team copies to call
// Blueshift when customers opt in or out.
//
//	POST /consent  {"email": "...", "customer_id": "...", "consent": true}
//
// consent true starts tracking the customer in Blueshift; false stops it
// (Blueshift then deletes the customer's personal data). Each call to
// Blueshift gets a deadline, and SDK errors become sensible HTTP answers:
// 204 on success, 400 when the request is at fault, 503 with Retry-After
// when Blueshift is struggling (so the caller retries later), 502 when our
// own Blueshift configuration is wrong.
//
// Without BLUESHIFT_API_KEY it talks to the in-process fake Blueshift.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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

type consentRequest struct {
	Email      string `json:"email"`
	CustomerID string `json:"customer_id"`
	Consent    *bool  `json:"consent"`
}

// consentHandler serves POST /consent with client.
func consentHandler(client *blueshift.Client, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		var req consentRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil || req.Consent == nil {
			http.Error(w, `body must be {"email": ..., "customer_id": ..., "consent": true|false}`, http.StatusBadRequest)
			return
		}

		ctx, cancel := context.WithTimeout(r.Context(), blueshiftDeadline)
		defer cancel()
		customer := blueshift.Customer{Email: req.Email, CustomerID: req.CustomerID}
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
		return http.StatusBadRequest, "an email or a customer_id is required"
	case errors.Is(err, blueshift.ErrBadRequest), errors.Is(err, blueshift.ErrUnprocessableEntity):
		return http.StatusBadRequest, "Blueshift rejected the customer's identifiers"
	case errors.Is(err, blueshift.ErrUnauthorized), errors.Is(err, blueshift.ErrForbidden):
		return http.StatusBadGateway, "our Blueshift credentials are misconfigured"
	case errors.As(err, &apiErr) && !apiErr.Retryable() && !errors.Is(err, context.DeadlineExceeded):
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
	mux := http.NewServeMux()
	mux.Handle("/consent", consentHandler(client, log))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), blueshiftDeadline)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Error("serving", "error", err)
		os.Exit(1)
	}
}
