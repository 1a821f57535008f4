package e2e

import (
	"os"
	"testing"

	"github.com/livegate/livegate/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinary()
	os.Exit(code)
}
