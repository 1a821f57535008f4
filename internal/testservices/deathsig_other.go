//go:build !linux

package testservices

import "os/exec"

// setDeathSignal does nothing where the kernel has no parent-death signal: a test binary
// killed by -timeout leaves its services running there.
func setDeathSignal(*exec.Cmd) {}
