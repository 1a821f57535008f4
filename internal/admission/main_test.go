package admission

import (
	"os"
	"testing"

	"github.com/livegate/livegate/internal/testservices"
)

// TestMain stops the services the tests started and names the tests that skipped.
func TestMain(m *testing.M) { os.Exit(testservices.Main(m)) }
