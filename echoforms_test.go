package blueshift_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestEchoesInEveryJSONForm checks that identifiers Blueshift echoes in the
// other forms JSON allows (ASCII-only \u escapes in either hex case,
// surrogate pairs, the optional \/, and JSON quoted inside a JSON string)
// are redacted from APIError.Body, Message and Error(), and that Body stays
// valid JSON.
func TestEchoesInEveryJSONForm(t *testing.T) {
	customer := blueshift.Customer{Cookie: "cké-😀-1234", CustomerID: `cust"4242`, DeviceID: "dev/id/9999"}
	for _, tc := range []struct {
		name, message, echo string // echo: the identifier as the body writes it
	}{
		{"ASCII-only JSON", `unknown cookie ck\u00e9-\ud83d\ude00-1234`, `ck\u00e9-\ud83d\ude00-1234`},
		{"ASCII-only JSON, upper-case hex", `unknown cookie ck\u00E9-\uD83D\uDE00-1234`, `ck\u00E9-\uD83D\uDE00-1234`},
		{"escaped slash", `bad device dev\/id\/9999`, `dev\/id\/9999`},
		{"JSON inside JSON", `params: {\"customer_id\":\"cust\\\"4242\"}`, `cust\\\"4242`},
		{"ASCII-only JSON inside JSON", `params: {\"cookie\":\"ck\\u00e9-\\ud83d\\ude00-1234\"}`, `ck\\u00e9-\\ud83d\\ude00-1234`},
		{"escaped slash inside JSON", `params: {\"device_id\":\"dev\\/id\\/9999\"}`, `dev\\/id\\/9999`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"message":"` + tc.message + `"}`
			client, _ := setup(t, respond(http.StatusBadRequest, body))
			_, err := client.StartTracking(context.Background(), customer)
			var apiErr *blueshift.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.NotContains(t, string(apiErr.Body), tc.echo)
			assert.Contains(t, string(apiErr.Body), "[redacted]")
			assert.True(t, json.Valid(apiErr.Body), "Body %s", apiErr.Body)
			for _, id := range []string{customer.Cookie, customer.CustomerID, customer.DeviceID, tc.echo} {
				assert.NotContains(t, apiErr.Message, id)
				assert.NotContains(t, err.Error(), id)
			}
		})
	}
}
