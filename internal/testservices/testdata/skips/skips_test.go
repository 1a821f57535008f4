// Package skips is run by TestSkipsShowInGoTestOutput: one test skips for a missing
// service, as a test does on a machine without it.
package skips

import (
	"errors"
	"os"
	"testing"

	"github.com/livegate/livegate/internal/testservices"
)

func TestMain(m *testing.M) { os.Exit(testservices.Main(m)) }

func TestNeedsAThing(t *testing.T) {
	testservices.Missing(t, "a thing", errors.New("not installed"))
}

func TestPlain(t *testing.T) {}
