package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/testenv"
)

// A node on a host whose only addresses are loopback ones (a laptop offline, a container
// with only lo, here: --interfaces lo) says which flag it needs.
func TestLoopbackOnlyHostNamesTheFlag(t *testing.T) {
	args, _ := testenv.LoopbackArgs(t)
	code, out := testenv.RunUntilExit(t, append(args, "--include-loopback=false"), nil, 15*time.Second)
	if code == 0 || !strings.Contains(out, "--include-loopback") {
		t.Errorf("a node with only loopback addresses to use: exit %d, want an error naming --include-loopback:\n%s", code, out)
	}
}
