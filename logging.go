package blueshift

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// logAttempt logs one attempt's outcome at Debug level, when the client
// has a logger. It logs facts only: never the key, a body or an identifier.
func (c *Client) logAttempt(ctx context.Context, st *call, resp *http.Response, err error) {
	if c.logger == nil || !c.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("method", http.MethodPost), slog.String("path", st.path), slog.Int("attempt", st.attempts)}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
		if id := requestID(resp, st.secrets[:]); id != "" {
			attrs = append(attrs, slog.String("request_id", id))
		}
	} else if err != nil {
		attrs = append(attrs, slog.String("error", redactCause(err, st.secrets[:], c.baseURL+st.path)))
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "blueshift: attempt", attrs...)
}

// beforeAttempt logs each retry, with the time waited since the previous
// attempt ended.
func (c *Client) beforeAttempt(_ retryablehttp.Logger, req *http.Request, retry int) {
	if c.hooks != nil {
		c.hooks.attemptStart(req.Context(), callFrom(req.Context())) // hooks.go
	}
	if c.logger == nil || retry == 0 {
		return
	}
	st := callFrom(req.Context())
	c.logger.LogAttrs(req.Context(), slog.LevelDebug, "blueshift: retrying",
		slog.String("method", req.Method), slog.String("path", st.path),
		slog.Int("attempt", st.attempts+1), slog.Duration("waited", time.Since(st.ended)))
}
