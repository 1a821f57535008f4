package admission

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestStalledReadsSomeTotal(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]uint64{
		"some avg10=62.50 avg60=10.00 avg300=1.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n": 123,
		"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n":                                                     0,
	} {
		p := filepath.Join(dir, "cpu.pressure")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, ok := stalled(p); !ok || got != want {
			t.Errorf("stalled(%q) = %v, %v, want %v", content, got, ok, want)
		}
	}
	for _, content := range []string{"full avg10=99.00 avg60=0.00 avg300=0.00 total=5\n", "garbage"} {
		p := filepath.Join(dir, "cpu.pressure")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, ok := stalled(p); ok {
			t.Errorf("stalled(%q) = %v, want none", content, got)
		}
	}
	if _, ok := stalled(filepath.Join(dir, "none")); ok {
		t.Errorf("no pressure file read as one")
	}
}

func TestCgroupQuota(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, path), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("v2/self", "0::/kubepods/pod1/c1\n")
	write("v2/fs/kubepods/pod1/c1/cpu.max", "150000 100000\n")
	write("v2max/self", "0::/svc\n")
	write("v2max/fs/svc/cpu.max", "max 100000\n")
	write("v1/self", "12:memory:/x\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n")
	write("v1/fs/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n")
	write("v1/fs/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
	write("v1none/self", "3:cpu:/\n")
	write("v1none/fs/cpu/cpu.cfs_quota_us", "-1\n")
	write("v1none/fs/cpu/cpu.cfs_period_us", "100000\n")
	for dir, want := range map[string]float64{"v2": 1.5, "v2max": 0, "v1": 0.5, "v1none": 0, "missing": 0} {
		if got := readQuota(quotaFiles(filepath.Join(root, dir, "self"), filepath.Join(root, dir, "fs"))); got != want {
			t.Errorf("%s: quota %v CPUs, want %v", dir, got, want)
		}
	}
	if got := usableCPUs(quotaFiles(filepath.Join(root, "v1", "self"), filepath.Join(root, "v1", "fs"))); got != 0.5 {
		t.Errorf("usable CPUs under a half-CPU quota: %v", got)
	}
}

// A capacity fed by a meter refuses on its readings, smoothed over about three seconds.
func TestCapacityFollowsItsCPUMeter(t *testing.T) {
	c := NewCapacity(CapacityLimits{CPU: 0.5}, nil, nil, nil)
	m := &fixedMeter{v: 0.9}
	c.UseCPUMeter(m)
	updates := 0
	for c.AdmitViewer() == nil {
		c.update()
		if updates++; updates > 5 {
			t.Fatalf("a node 90%% busy still admits after %d samples (load %v)", updates, c.Load().CPU)
		}
	}
	m.v = 0
	for updates = 0; c.AdmitViewer() != nil; updates++ {
		c.update()
		if updates > 10 {
			t.Fatalf("an idle node still refuses after %d samples (load %v)", updates, c.Load().CPU)
		}
	}
}

// The CPU limit looks one viewer ahead, and counts the viewers joined since the last
// sample at the cost the sample showed: six viewers taking 60% make each 10%, so with a
// limit of 85% a seventh and an eighth join (80% projected for the eighth) and a ninth,
// arriving before the next sample, does not (90%).
func TestCapacityCountsJoinsSinceTheLastSample(t *testing.T) {
	viewers := 6
	c := NewCapacity(CapacityLimits{CPU: 0.85}, func() int { return viewers }, nil, nil)
	c.UseCPUMeter(&fixedMeter{v: 0.6})
	for range 20 { // settle the smoothed load at 0.6
		c.update()
	}
	for ; viewers < 8; viewers++ {
		if err := c.AdmitViewer(); err != nil {
			t.Fatalf("viewer %d refused at a projected %.2f: %v", viewers+1, c.projectedCPU(c.Load()), err)
		}
	}
	if err := c.AdmitViewer(); err == nil {
		t.Fatalf("a ninth viewer admitted at a projected %.2f, over the limit of 0.85", c.projectedCPU(c.Load()))
	}
}

type fixedMeter struct{ v float64 }

func (f *fixedMeter) Busy() float64 { return f.v }

// BenchmarkHostCPU measures what the host meter reads while the benchmark keeps every
// core busy in this process (reported as busy-share; near 1 on an idle machine), and what
// a reading costs.
func BenchmarkHostCPU(b *testing.B) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				// The spin is the point: a core kept busy.
				select {
				case <-stop:
					return
				default: //nolint:staticcheck // SA5004: see above
				}
			}
		}()
	}
	h := NewHostCPU()
	time.Sleep(time.Second) // about time: the CPU over a second
	busy := h.Busy()
	b.ResetTimer()
	for range b.N {
		h.Busy()
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(busy, "busy-share")
}
