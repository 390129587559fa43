package blueshift_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

func TestEveryIdentifierIsSentExactly(t *testing.T) {
	for _, ep := range endpoints {
		for _, tc := range []struct {
			name     string
			customer blueshift.Customer
			wantBody string
		}{
			{"cookie alone", blueshift.Customer{Cookie: "ck-7f3a"}, `{"cookie":"ck-7f3a"}`},
			{"device id alone", blueshift.Customer{DeviceID: "6F9619FF-8B86-D011-B42D-00C04FC964FF"}, `{"device_id":"6F9619FF-8B86-D011-B42D-00C04FC964FF"}`},
			{"all four, in order", blueshift.Customer{Email: "ann@example.com", CustomerID: "C-1", Cookie: "ck", DeviceID: "dev"},
				`{"email":"ann@example.com","customer_id":"C-1","cookie":"ck","device_id":"dev"}`},
			{"blank ones left out", blueshift.Customer{Email: " ", CustomerID: "\u200b", Cookie: "\ufeffck\u200b", DeviceID: "\u3000"}, `{"cookie":"ck"}`},
			{"emoji and other scripts byte for byte", blueshift.Customer{Email: "zoë😀@例え.jp", CustomerID: "Ωμέγα-٣"}, `{"email":"zoë😀@例え.jp","customer_id":"Ωμέγα-٣"}`},
			{"HTML characters are not escaped", blueshift.Customer{Cookie: "a<b>&c"}, `{"cookie":"a<b>&c"}`},
			{"quotes and backslashes escaped", blueshift.Customer{CustomerID: `a"b\c`}, `{"customer_id":"a\"b\\c"}`},
			{"U+2028 kept as is", blueshift.Customer{CustomerID: "a\u2028b"}, "{\"customer_id\":\"a\u2028b\"}"},
			{"exactly 512 bytes", blueshift.Customer{CustomerID: strings.Repeat("x", 512)}, `{"customer_id":"` + strings.Repeat("x", 512) + `"}`},
		} {
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
				client, rec := setup(t, nil)
				_, err := ep.call(client, context.Background(), tc.customer)
				require.NoError(t, err)
				require.Equal(t, 1, rec.Count())
				assert.Equal(t, tc.wantBody, rec.Requests()[0].Body)
				assert.NoError(t, tc.customer.Validate())
			})
		}
	}
}

func TestInvalidIdentifiersSendNothing(t *testing.T) {
	long := strings.Repeat("a", 10_000) + "@example.com"
	for _, tc := range []struct {
		name     string
		customer blueshift.Customer
		want     error
		field    string // named in the message
		reason   string
	}{
		{"Latin-1 byte", blueshift.Customer{Email: "jos\xe9@example.com"}, blueshift.ErrInvalidIdentifier, "email", "not valid UTF-8"},
		{"NUL", blueshift.Customer{CustomerID: "C\x001"}, blueshift.ErrInvalidIdentifier, "customer_id", "control character"},
		{"inner newline", blueshift.Customer{Cookie: "a\nb"}, blueshift.ErrInvalidIdentifier, "cookie", "control character"},
		{"escape", blueshift.Customer{DeviceID: "d\x1b[31m"}, blueshift.ErrInvalidIdentifier, "device_id", "control character"},
		{"DEL", blueshift.Customer{Email: "a\x7fb@example.com"}, blueshift.ErrInvalidIdentifier, "email", "control character"},
		{"C1 control", blueshift.Customer{CustomerID: "a\u0085b"}, blueshift.ErrInvalidIdentifier, "customer_id", "control character"},
		{"10 KB email", blueshift.Customer{Email: long}, blueshift.ErrInvalidIdentifier, "email", "longer than 512 bytes"},
		{"513 bytes", blueshift.Customer{CustomerID: strings.Repeat("x", 513)}, blueshift.ErrInvalidIdentifier, "customer_id", "longer than 512 bytes"},
		{"valid email, invalid cookie", blueshift.Customer{Email: "ann@example.com", Cookie: "\xff"}, blueshift.ErrInvalidIdentifier, "cookie", "not valid UTF-8"},
		{"zero-width space alone", blueshift.Customer{Email: "\u200b"}, blueshift.ErrMissingIdentifier, "", ""},
		{"BOM and spaces", blueshift.Customer{CustomerID: "\ufeff \u00a0", DeviceID: "\u2003"}, blueshift.ErrMissingIdentifier, "", ""},
		{"nothing", blueshift.Customer{}, blueshift.ErrMissingIdentifier, "", ""},
	} {
		for _, ep := range endpoints {
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
				client, rec := setup(t, nil)
				resp, err := ep.call(client, context.Background(), tc.customer)
				assert.Nil(t, resp)
				require.ErrorIs(t, err, tc.want)
				assert.Zero(t, rec.Count(), "nothing is sent")
				assert.Equal(t, err, tc.customer.Validate(), "Validate refuses exactly what the call refuses")
				if tc.field != "" {
					assert.Equal(t, fmt.Sprintf("blueshift: invalid identifier: %s", tc.field), err.Error()[:len("blueshift: invalid identifier: ")+len(tc.field)])
					assert.Contains(t, err.Error(), tc.reason)
				}
				for _, v := range []string{tc.customer.Email, tc.customer.CustomerID, tc.customer.Cookie, tc.customer.DeviceID} {
					if len(strings.TrimSpace(v)) > 2 {
						assert.NotContains(t, err.Error(), strings.TrimSpace(v), "the value never appears")
					}
				}
				assert.False(t, blueshift.IsRetryable(err))
			})
		}
	}
}

func TestTrimmedIsWhatIsSent(t *testing.T) {
	c := blueshift.Customer{Email: " \u200bAnn@Example.com\ufeff\n", CustomerID: "\tC-1 ", Cookie: "\u00a0", DeviceID: "d"}
	assert.Equal(t, blueshift.Customer{Email: "Ann@Example.com", CustomerID: "C-1", DeviceID: "d"}, c.Trimmed())
	assert.True(t, errors.Is(blueshift.Customer{Email: "\xff"}.Validate(), blueshift.ErrInvalidIdentifier))
}
