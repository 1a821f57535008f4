package testservices

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the service if the thread that started it ends (see spawner).
func setDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
