package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunsOfflineWithoutAKey(t *testing.T) {
	t.Setenv("BLUESHIFT_API_KEY", "")
	var stdout, stderr strings.Builder
	code := run(nil, &stdout, &stderr)
	assert.Equal(t, 0, code, stderr.String())
	assert.Regexp(t, `^tracking started: status 200 "ok", request id fake-00000001, 1 attempt\(s\)\n$`, stdout.String())
	assert.Contains(t, stderr.String(), "in-process fake")
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line on stderr")
}

func TestMissingIdentifierFailsWithOneLine(t *testing.T) {
	t.Setenv("BLUESHIFT_API_KEY", "k")
	t.Setenv("BLUESHIFT_BASE_URL", "http://127.0.0.1:1") // never reached
	var stdout, stderr strings.Builder
	code := run([]string{"-email", " "}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Equal(t, "starttracking: blueshift: customer needs an email, customer_id, cookie or device_id\n", stderr.String())
	assert.Empty(t, stdout.String())
}

func TestBadFlagIsAUsageError(t *testing.T) {
	var stdout, stderr strings.Builder
	assert.Equal(t, 2, run([]string{"-nope"}, &stdout, &stderr))
}
