package blueshift

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Errors returned before any request is sent.
var (
	// ErrMissingAPIKey means the API key was empty or only white space.
	ErrMissingAPIKey = errors.New("blueshift: missing API key (set BLUESHIFT_API_KEY to your User API key)")
	// ErrInvalidAPIKey means the API key holds a colon or a control character
	// (C0, DEL or C1: unicode.IsControl) or is not valid UTF-8, which no
	// Blueshift key does; the key itself is never part of the message.
	ErrInvalidAPIKey = errors.New("blueshift: invalid API key: it contains ':', a control character or invalid UTF-8")
	// ErrMissingIdentifier means every identifier of the customer (email,
	// customer_id, cookie, device_id) was blank; no request was sent.
	ErrMissingIdentifier = errors.New("blueshift: customer needs an email, customer_id, cookie or device_id")
	// ErrInvalidIdentifier matches the error for an identifier that is not
	// valid UTF-8, holds a control character, or is longer than
	// MaxIdentifierBytes; no request was sent. The message names the field
	// and the reason, never the value.
	ErrInvalidIdentifier = errors.New("blueshift: invalid identifier")
)

// ErrAttemptTimeout matches a call that failed because an attempt ran out
// of its WithTimeout. It does not match context.DeadlineExceeded unless the
// caller's own context deadline also passed.
var ErrAttemptTimeout = errors.New("blueshift: attempt timed out")

// ErrRetryBudgetExhausted matches a call that stopped retrying because the
// client's retry budget (see WithRetryBudget) was empty: Blueshift or the
// network was failing for many calls at once. Its error is a
// *RequestError whose Last is Blueshift's last answer, if there was one;
// IsRetryable reports true, since the call may succeed later. A call that
// used all of WithRetryMax does not match it.
var ErrRetryBudgetExhausted = errors.New("blueshift: retry budget exhausted")

// budgetExhaustedText ends the message of a call that the empty retry
// budget stopped.
const budgetExhaustedText = "not retried: the client's retry budget is exhausted"

// budgetExhaustedError is the cause of a call that the empty retry budget
// stopped: the network error that would have been retried, or nil when it
// was an answer (then the call's Last).
type budgetExhaustedError struct{ cause error }

// budgetExhausted returns the error of a call that the empty retry budget
// stopped after cause.
func budgetExhausted(cause error) error {
	if _, ok := cause.(*APIError); ok {
		return &budgetExhaustedError{}
	}
	return &budgetExhaustedError{cause: cause}
}

// Error says that the call was not retried, after the network error if any.
func (e *budgetExhaustedError) Error() string {
	if e.cause == nil {
		return budgetExhaustedText
	}
	return e.cause.Error() + "; " + budgetExhaustedText
}

// Is matches ErrRetryBudgetExhausted.
func (e *budgetExhaustedError) Is(target error) bool { return target == ErrRetryBudgetExhausted }

// Unwrap returns the network error, if any.
func (e *budgetExhaustedError) Unwrap() error { return e.cause }

// Sentinels for the statuses Blueshift documents. An [*APIError] matches the
// sentinel of its status with [errors.Is].
var (
	// ErrBadRequest matches a 400: missing or incorrect parameters.
	ErrBadRequest = errors.New("blueshift: bad request (400)")
	// ErrUnauthorized matches a 401: a wrong or missing API key, or a key of the other region.
	ErrUnauthorized = errors.New("blueshift: unauthorized (401)")
	// ErrForbidden matches a 403: the key lacks permission.
	ErrForbidden = errors.New("blueshift: forbidden (403)")
	// ErrNotFound matches a 404.
	ErrNotFound = errors.New("blueshift: not found (404)")
	// ErrConflict matches a 409: a conflict with the current state (retried).
	ErrConflict = errors.New("blueshift: conflict (409)")
	// ErrPayloadTooLarge matches a 413.
	ErrPayloadTooLarge = errors.New("blueshift: payload too large (413)")
	// ErrUnprocessableEntity matches a 422: well-formed but semantically invalid.
	ErrUnprocessableEntity = errors.New("blueshift: unprocessable entity (422)")
	// ErrRateLimited matches a 429: the rate limit was exceeded (retried).
	ErrRateLimited = errors.New("blueshift: rate limited (429)")
	// ErrInternalServer matches a 500 (retried).
	ErrInternalServer = errors.New("blueshift: internal server error (500)")
	// ErrBadGateway matches a 502 (retried).
	ErrBadGateway = errors.New("blueshift: bad gateway (502)")
	// ErrServiceUnavailable matches a 503 (retried).
	ErrServiceUnavailable = errors.New("blueshift: service unavailable (503)")
	// ErrGatewayTimeout matches a 504 (retried).
	ErrGatewayTimeout = errors.New("blueshift: gateway timeout (504)")
	// ErrRedirectRefused matches a 3xx answer: the client never follows
	// redirects, so the API key and customer data cannot reach another host.
	ErrRedirectRefused = errors.New("blueshift: redirect refused")
)

// statusSentinels maps each documented status to its sentinel.
var statusSentinels = map[int]error{
	http.StatusBadRequest:            ErrBadRequest,
	http.StatusUnauthorized:          ErrUnauthorized,
	http.StatusForbidden:             ErrForbidden,
	http.StatusNotFound:              ErrNotFound,
	http.StatusConflict:              ErrConflict,
	http.StatusRequestEntityTooLarge: ErrPayloadTooLarge,
	http.StatusUnprocessableEntity:   ErrUnprocessableEntity,
	http.StatusTooManyRequests:       ErrRateLimited,
	http.StatusInternalServerError:   ErrInternalServer,
	http.StatusBadGateway:            ErrBadGateway,
	http.StatusServiceUnavailable:    ErrServiceUnavailable,
	http.StatusGatewayTimeout:        ErrGatewayTimeout,
}

// maxErrorBody is how much of an error response is kept in APIError.Body
// (and read at all: the rest is never read).
const maxErrorBody = 64 << 10

// maxMessage bounds APIError.Message, so one hostile answer cannot make
// every log line that prints the error huge.
const maxMessage = 512

// APIError is a response from Blueshift with a status other than 2xx. Its
// Is method matches the sentinel of its status (ErrRateLimited for a 429 and
// so on), so callers can branch with errors.Is and still reach the details
// with errors.As.
type APIError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Message is Blueshift's explanation, taken from whichever of its error
	// body shapes was sent, or the HTTP status text when the body had none
	// (empty, HTML from a gateway, broken JSON). Customer identifiers and the
	// API key are replaced by "[redacted]" if Blueshift echoes them.
	Message string
	// FieldErrors holds per-field validation errors, such as
	// {"email": ["can't be blank"]}, when Blueshift sent them.
	FieldErrors map[string][]string
	// RequestID is the X-Request-Id response header, when present. Quote it
	// to Blueshift support.
	RequestID string
	// Attempts is how many requests the call sent, this one included.
	Attempts int
	// Uncertain is how many attempts of the call, this one included, may
	// have been applied by Blueshift without a definite answer (see
	// Response.Uncertain): a 5xx is one.
	Uncertain int
	// Body is the response body, at most 64 KiB of it, as sent except that
	// the call's identifiers of 4 or more bytes and the API key are replaced
	// by "[redacted]" wherever they occur, plain, Go-quoted or
	// JSON-escaped as common encoders write it (ASCII-only \u escapes, \/,
	// JSON inside a JSON string; an echo inside a JSON string stays
	// valid JSON). Unlike
	// Message it is neither cleaned nor cut, and it may hold other personal
	// data Blueshift sent: do not log it.
	Body []byte
}

// Error returns a one-line description such as
// "blueshift: 429 Too Many Requests: Rate limit exceeded (request id abc, 5 attempts)".
func (e *APIError) Error() string { return e.describe(true) }

// Format prints Error() for every verb (quoted for %q), so that no print
// of an APIError, pointer or value, reaches its fields.
func (e APIError) Format(f fmt.State, verb rune) { formatError(f, verb, e.Error()) }

// describe is Error, with the attempts left out where the caller already
// names them.
func (e *APIError) describe(withAttempts bool) string {
	var b strings.Builder
	b.WriteString("blueshift: ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteByte(' ')
		b.WriteString(text)
	}
	if e.Message != "" && e.Message != http.StatusText(e.StatusCode) {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	var notes []string
	if e.RequestID != "" {
		notes = append(notes, "request id "+e.RequestID)
	}
	if withAttempts && e.Attempts > 1 {
		notes = append(notes, strconv.Itoa(e.Attempts)+" attempts")
	}
	if len(notes) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(notes, ", "))
		b.WriteByte(')')
	}
	return b.String()
}

// Is reports whether target is the sentinel of e's status (for example
// ErrRateLimited for a 429, or ErrRedirectRefused for any 3xx). Statuses
// Blueshift does not document match no sentinel.
func (e *APIError) Is(target error) bool {
	if e.StatusCode >= 300 && e.StatusCode < 400 {
		return target == ErrRedirectRefused
	}
	sentinel, ok := statusSentinels[e.StatusCode]
	return ok && target == sentinel
}

// Retryable reports whether Blueshift says the status is transient and the
// call may be retried with backoff: 409, 429, 500, 502, 503 and 504.
func (e *APIError) Retryable() bool {
	return retryableStatus(e.StatusCode)
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusConflict, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxRequestID bounds a request id.
const maxRequestID = 128

// requestID returns the response's X-Request-Id header, made safe to print
// like Message: cleaned, with every secret redacted (one shorter than
// minAnywhere bytes where it stands as a whole token, so "customer 123"
// loses a customer ID "123" while "req7f" keeps a "7"), and cut.
func requestID(resp *http.Response, secrets []string) string {
	return safeText(resp.Header.Get("X-Request-Id"), secrets, maxRequestID)
}

// newAPIError builds the error for a non-2xx response from its status,
// request id (see requestID, which redacts it) and (bounded) body, with
// every secret (the call's identifiers and the key's forms) redacted from
// the message and from the field errors, names and texts. It accepts every body shape
// Blueshift is known to send, and any bytes at all without panicking.
func newAPIError(status int, requestID string, body []byte, secrets []string) *APIError {
	e := &APIError{StatusCode: status, RequestID: requestID, Body: redactBody(body, secrets)}
	message, fields := parseErrorBody(body)
	e.Message = safeText(message, secrets, maxMessage)
	if len(fields) > 0 {
		e.FieldErrors = make(map[string][]string, len(fields))
		for name, list := range fields {
			for i, text := range list {
				list[i] = safeText(text, secrets, maxMessage)
			}
			name = safeText(name, secrets, maxMessage)
			e.FieldErrors[name] = append(e.FieldErrors[name], list...)
		}
	}
	if status >= 300 && status < 400 {
		e.Message = "redirect refused: the client does not follow redirects"
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// redactBody returns body with the secrets of minAnywhere bytes or more
// redacted (see redact); shorter ones are left, since replacing a token
// such as 1 could break the body's JSON. A body of maxErrorBody bytes may
// have been cut inside an echoed secret, so it also loses any end that
// could be the start of one (see cutSecretPrefix). It returns body itself
// when nothing changed.
func redactBody(body []byte, secrets []string) []byte {
	var long []string
	for _, s := range secrets {
		if len(s) >= minAnywhere {
			long = append(long, s)
		}
	}
	if len(long) == 0 || len(body) == 0 {
		return body
	}
	text := string(body)
	out := redact(text, long)
	if len(body) >= maxErrorBody {
		out = cutSecretPrefix(out, long)
	}
	if out != text {
		return []byte(out)
	}
	return body
}

// cutSecretPrefix drops the longest end of s that is, ignoring letter
// case, the start of one of the secrets in any of its forms (see
// echoForms): what a cut left of a secret it went through.
func cutSecretPrefix(s string, secrets []string) string {
	drop := 0
	for _, secret := range secrets {
		for _, form := range append(echoForms(secret), secret) {
			for k := min(len(form)-1, len(s)); k > drop; k-- {
				if strings.EqualFold(s[len(s)-k:], form[:k]) {
					drop = k
					break
				}
			}
		}
	}
	return s[:len(s)-drop]
}

// errorBody is the union of Blueshift's error shapes:
//
//	{"message": "Not authorized"}
//	{"errors": {"email": ["can't be blank"]}}
//	{"error": "bad_request"}
//	{"success": false, "error": "Validation failed"}
//	{"status": "404", "error": "Not Found"}
//	{"errors": [{"title": "error", "detail": "Error: Resource not found"}]}
type errorBody struct {
	Message json.RawMessage `json:"message"`
	Error   json.RawMessage `json:"error"`
	Errors  json.RawMessage `json:"errors"`
}

// parseErrorBody extracts a message and field errors from an error body,
// as sent: neither redacted nor cut. It returns "" when the body holds no
// message it recognises.
func parseErrorBody(body []byte) (message string, fields map[string][]string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return "", nil
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return "", nil
	}
	if m := jsonText(eb.Message); m != "" {
		message = m
	}
	if m := jsonText(eb.Error); m != "" && message == "" {
		message = m
	}
	if len(eb.Errors) > 0 {
		var m string
		m, fields = parseErrors(eb.Errors)
		if message == "" {
			message = m
		}
	}
	return message, fields
}

// parseErrors reads the "errors" member: a field map ({"email": ["can't be
// blank"]}), a list of {title, detail} objects, or a list of strings.
func parseErrors(raw json.RawMessage) (string, map[string][]string) {
	var byField map[string]json.RawMessage
	if json.Unmarshal(raw, &byField) == nil && len(byField) > 0 {
		fields := make(map[string][]string, len(byField))
		names := make([]string, 0, len(byField))
		for name, v := range byField {
			var list []json.RawMessage
			if json.Unmarshal(v, &list) != nil {
				list = []json.RawMessage{v}
			}
			for _, item := range list {
				if s := jsonText(item); s != "" {
					fields[name] = append(fields[name], s)
				}
			}
			if len(fields[name]) > 0 {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		parts := make([]string, 0, len(names))
		for _, name := range names {
			parts = append(parts, name+" "+strings.Join(fields[name], ", "))
		}
		if len(fields) == 0 {
			fields = nil
		}
		return strings.Join(parts, "; "), fields
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return jsonText(raw), nil
	}
	parts := make([]string, 0, len(list))
	for _, item := range list {
		var obj struct {
			Title   json.RawMessage `json:"title"`
			Detail  json.RawMessage `json:"detail"`
			Message json.RawMessage `json:"message"`
		}
		if json.Unmarshal(item, &obj) == nil {
			for _, s := range []json.RawMessage{obj.Detail, obj.Message, obj.Title} {
				if t := jsonText(s); t != "" {
					parts = append(parts, t)
					break
				}
			}
			continue
		}
		if t := jsonText(item); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "; "), nil
}

// jsonText returns a JSON string's value, or the literal text of a number
// or boolean; "" for null, objects, arrays and anything malformed.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strings.TrimSpace(s)
		}
		return ""
	case '{', '[', 'n':
		return ""
	}
	return string(raw)
}

// RequestError is a call that ended without a final answer from Blueshift:
// a network failure, an attempt timeout, a cancelled or expired context, or
// a rate-limit wait that could not finish in time. errors.Is finds the
// cause (context.Canceled, context.DeadlineExceeded, ErrAttemptTimeout,
// io.EOF, ...) and errors.As finds the last *APIError, if Blueshift had
// answered an earlier attempt. A call that failed this way may still have
// been applied by Blueshift; both calls are safe to repeat.
type RequestError struct {
	// Path is the endpoint called, such as "/api/v1/customers/forget".
	Path string
	// Attempts is how many requests were sent: 0 when the context was done
	// (or the rate limit could not be met) before the first one.
	Attempts int
	// Uncertain is how many attempts may have been applied by Blueshift
	// without a definite answer (see Response.Uncertain); when it is 0, no
	// attempt of this call can change Blueshift's state any more.
	Uncertain int
	// Err is what ended the call. It prints with the call's identifiers and
	// the API key redacted from the text that came from outside (the
	// client's own URL, addresses and words stay as they are), and
	// errors.Is and errors.As reach what it wraps: context.Canceled,
	// context.DeadlineExceeded, ErrAttemptTimeout, ErrRetryBudgetExhausted,
	// io.EOF, *net.OpError, *url.Error and so on. A value extracted with
	// errors.As is the standard library's own and prints what it holds,
	// unredacted.
	Err error
	// Last is Blueshift's answer to the last attempt that got one, or nil.
	Last *APIError
}

// Error names the call, its cause, the attempts and the last answer.
func (e *RequestError) Error() string {
	var b strings.Builder
	b.WriteString("blueshift: POST ")
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	switch e.Attempts {
	case 0:
		b.WriteString(" (no request was sent)")
	case 1:
		b.WriteString(" (1 attempt)")
	default:
		b.WriteString(" (" + strconv.Itoa(e.Attempts) + " attempts)")
	}
	if e.Last != nil {
		b.WriteString("; last response: ")
		b.WriteString(e.Last.describe(false))
	}
	return b.String()
}

// Format prints Error() for every verb (quoted for %q), so that no print
// of a RequestError, pointer or value, reaches its fields.
func (e RequestError) Format(f fmt.State, verb rune) { formatError(f, verb, e.Error()) }

// Unwrap returns the cause and, if there was one, the last *APIError.
func (e *RequestError) Unwrap() []error {
	if e.Last != nil {
		return []error{e.Err, e.Last}
	}
	return []error{e.Err}
}

// Timeout reports whether the call ended because time ran out (an attempt
// timeout, a network timeout or the context's deadline), so that
// os.IsTimeout and a net.Error check work as they do for plain net/http
// errors.
func (e *RequestError) Timeout() bool { return isTimeout(e.Err) }

// isTimeout reports whether any error in err's tree says it is a timeout.
func isTimeout(err error) bool {
	if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return isTimeout(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, inner := range u.Unwrap() {
			if isTimeout(inner) {
				return true
			}
		}
	}
	return false
}

// Temporary reports the same as Timeout; it completes net.Error.
func (e *RequestError) Temporary() bool { return e.Timeout() }

// IsRetryable reports whether err is a failure that the same call may
// overcome later: an *APIError whose status Blueshift says to retry (409,
// 429, 500, 502, 503, 504), an attempt timeout, or a network error that the
// client itself retries. It is false for nil, validation errors, other
// statuses, redirects, untrusted certificates, unknown hosts, and the
// caller's own cancelled or expired context.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var reqErr *RequestError
	if errors.As(err, &reqErr) {
		if errors.Is(reqErr.Err, context.Canceled) || errors.Is(reqErr.Err, context.DeadlineExceeded) {
			return false
		}
		cause := reqErr.Err
		if r, ok := cause.(*redactedError); ok {
			cause = r.Unwrap() // judge net/http's own words, not the redacted text
		}
		return errors.Is(cause, ErrAttemptTimeout) || retryableError(cause)
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Retryable()
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && retryableError(err)
	}
	return false
}
