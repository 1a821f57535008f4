package admission

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CPUMeter reports how much of the node's CPU is taken, 0 to 1, since it was last asked.
// Capacity asks it once a second; tests give it one they drive.
type CPUMeter interface {
	Busy() float64
}

// HostCPU is the node's CPU as viewers feel it: the larger of the share of the CPUs it
// may use that this process used, the share of time its tasks (or, without cgroup figures, the
// machine's) waited for a CPU (pressure stall information, "some", over the sample), and the share the
// hypervisor stole. A node starved by its neighbours uses little CPU itself, yet cannot
// serve one more viewer: the stalls and the steal say so. Where the kernel offers no
// pressure or steal figures, only the process's own use counts.
type HostCPU struct {
	mu       sync.Mutex
	at       time.Time
	own      time.Duration // user and system time so far
	steal    uint64        // steal ticks so far
	total    uint64        // all ticks so far
	pressure string        // the cpu.pressure file read, "" when none
	stall    uint64        // its "some" total so far, µs
	quota    []string      // the files of the process's cgroup CPU quota (quotaFiles)
}

// NewHostCPU starts measuring now.
func NewHostCPU() *HostCPU {
	h := &HostCPU{at: time.Now(), own: ownCPU(), quota: quotaFiles("/proc/self/cgroup", "/sys/fs/cgroup")}
	h.steal, h.total = stealTicks()
	for _, p := range []string{"/sys/fs/cgroup/cpu.pressure", "/proc/pressure/cpu"} {
		if st, ok := stalled(p); ok {
			h.pressure, h.stall = p, st
			break
		}
	}
	return h
}

// Busy implements CPUMeter.
func (h *HostCPU) Busy() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	now, own := time.Now(), ownCPU()
	steal, total := stealTicks()
	busy := 0.0
	if wall := now.Sub(h.at); wall > 0 {
		// The quota is read each time: a container's CPU limit can be resized in place.
		busy = float64(own-h.own) / float64(wall) / usableCPUs(h.quota)
	}
	if total > h.total {
		busy = max(busy, float64(steal-h.steal)/float64(total-h.total))
	}
	if h.pressure != "" {
		if st, ok := stalled(h.pressure); ok {
			if wall := now.Sub(h.at); wall > 0 && st >= h.stall {
				busy = max(busy, float64(st-h.stall)/float64(wall.Microseconds()))
			}
			h.stall = st
		}
	}
	h.at, h.own, h.steal, h.total = now, own, steal, total
	return min(busy, 1)
}

// usableCPUs is how many CPUs the process may use: its affinity, GOMAXPROCS, and its
// cgroup's CPU quota (a container's CPU limit, v2 or v1; quotaFiles), the least of them.
// A node held to half a core is full when it uses that half, whatever else the machine
// has.
func usableCPUs(quota []string) float64 {
	n := float64(min(runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	if q := readQuota(quota); q > 0 {
		n = min(n, q)
	}
	return n
}

// quotaFiles finds, once, the files that hold the CPU quota of the process's cgroup:
// cpu.max (v2), or cpu.cfs_quota_us and cpu.cfs_period_us (v1); none without one.
func quotaFiles(selfCgroup, root string) []string {
	b, err := os.ReadFile(selfCgroup)
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3) // hierarchy-id:controllers:path
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			if f := cgroupFile(root, parts[2], "cpu.max"); exists(f) {
				return []string{f}
			}
		case slices.Contains(strings.Split(parts[1], ","), "cpu"): // v1
			for _, dir := range []string{"cpu", "cpu,cpuacct", "cpuacct,cpu"} {
				q := cgroupFile(filepath.Join(root, dir), parts[2], "cpu.cfs_quota_us")
				p := cgroupFile(filepath.Join(root, dir), parts[2], "cpu.cfs_period_us")
				if exists(q) && exists(p) {
					return []string{q, p}
				}
			}
		}
	}
	return nil
}

// readQuota reads the quota in quotaFiles' files, in CPUs (0: none).
func readQuota(files []string) float64 {
	var fields []string
	for _, f := range files {
		b, err := os.ReadFile(f) //nolint:gosec // G304: a path quotaFiles built under the cgroup root
		if err != nil {
			return 0
		}
		fields = append(fields, strings.Fields(string(b))...)
	}
	if len(fields) != 2 { // v2: "max 100000" or "50000 100000"; v1: quota, period
		return 0
	}
	return ratio(fields[0], fields[1])
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// cgroupFile is the path of a file of the cgroup at path under root. The path is the
// kernel's (from /proc/self/cgroup), cleaned as rooted so that it stays under root.
func cgroupFile(root, path, name string) string {
	return filepath.Join(root, filepath.Clean("/"+path), name)
}

// ratio is quota over period, 0 for no quota ("max", -1) or nonsense.
func ratio(quota, period string) float64 {
	q, err1 := strconv.ParseFloat(quota, 64)
	p, err2 := strconv.ParseFloat(period, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0
	}
	return q / p
}

func ownCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stealTicks reads the machine's steal and total CPU ticks from /proc/stat (zeros where
// there is none).
func stealTicks() (steal, total uint64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, v := range fields[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i < 8 { // guest time is counted in user already
			total += n
		}
		if i == 7 {
			steal = n
		}
	}
	return steal, total
}

// stalled reads the "some total" of a pressure file: microseconds so far in which a
// runnable task waited for a CPU (0, false where there is none). Busy takes its growth
// over its own sample, not the file's ten-second average, which would go on reading a
// stall for seconds after it ended and have shedding take video from viewers the node
// could serve again.
func stalled(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if !bytes.HasPrefix(line, []byte("some ")) {
		return 0, false
	}
	for _, f := range strings.Fields(string(line)) {
		if v, ok := strings.CutPrefix(f, "total="); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
