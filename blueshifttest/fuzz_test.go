package blueshifttest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

// FuzzServeHTTP sends hostile methods, paths, headers and bodies to the
// fake's handler: it must never panic and must answer with one of the
// statuses Blueshift uses, with a JSON body.
func FuzzServeHTTP(f *testing.F) {
	srv := blueshifttest.NewServer()
	defer srv.Close()
	f.Add("POST", "/api/v1/customers/unforget", "Basic dGVzdC1hcGkta2V5Og==", `{"email":"ann@example.com"}`)
	f.Add("POST", "/api/v1/customers/forget", "Basic dGVzdC1hcGkta2V5Og==", `{"customer_id":123}`)
	f.Add("GET", "/", "", "")
	f.Add("POST", "/api/v1/customers/unforget", "Basic !!!", `{"email":null,"customer_id":{"x":[1,2]}}`)
	f.Add("PUT", "/api/v1/customers/forget", "Basic dGVzdC1hcGkta2V5", "\xff\x00")
	allowed := map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 413: true}
	f.Fuzz(func(t *testing.T, method, path, auth, body string) {
		req, err := http.NewRequest(method, "http://fake"+path, strings.NewReader(body))
		if err != nil || req.URL.Path == "" {
			return
		}
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d", rec.Code)
		}
		if b := rec.Body.String(); !strings.HasPrefix(b, "{") {
			t.Fatalf("body %q is not a JSON object", b)
		}
	})
}
