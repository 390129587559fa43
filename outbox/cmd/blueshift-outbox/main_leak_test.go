package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a
// command must close the outbox and its database whatever happens.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
