package sfu

import "testing"

func TestMunger(t *testing.T) {
	type pkt struct {
		seq     uint16
		ts      uint32
		wantSeq uint16
		wantTS  uint32
	}
	for _, c := range []struct {
		name                string
		startSeq            uint16
		startTS             uint32
		pkts                []pkt
		rebaseAt            int // index of the packet that follows a rebase (0: none)
		rebaseSeq           uint16
		rebaseTS, rebaseGap uint32
		after               []pkt
	}{
		{name: "continuous", startSeq: 100, startTS: 1000,
			pkts: []pkt{{5000, 90000, 100, 1000}, {5001, 93000, 101, 4000}, {5002, 93000, 102, 4000}}},
		{name: "source wraps", startSeq: 10, startTS: 0,
			pkts: []pkt{{65534, 4294967000, 10, 0}, {65535, 4294967295, 11, 295}, {0, 2704, 12, 3000}}},
		{name: "viewer wraps", startSeq: 65535, startTS: 4294967290,
			pkts: []pkt{{7, 100, 65535, 4294967290}, {8, 110, 0, 4}}},
		{name: "reordered and retransmitted", startSeq: 1, startTS: 1,
			pkts: []pkt{{50, 500, 1, 1}, {52, 520, 3, 21}, {51, 510, 2, 11}, {53, 530, 4, 31}}},
		{name: "layer switch rebases", startSeq: 1000, startTS: 0,
			pkts:      []pkt{{10, 900, 1000, 0}, {11, 3900, 1001, 3000}},
			rebaseSeq: 40000, rebaseTS: 123456, rebaseGap: 3000,
			after: []pkt{{40000, 123456, 1002, 6000}, {40001, 126456, 1003, 9000}}},
		{name: "rebase with no gap still advances time", startSeq: 0, startTS: 0,
			pkts:      []pkt{{1, 1, 0, 0}},
			rebaseSeq: 9, rebaseTS: 9, rebaseGap: 0,
			after: []pkt{{9, 9, 1, 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMunger(c.startSeq, c.startTS)
			check := func(p pkt) {
				if !m.started {
					m.start(p.seq, p.ts)
				}
				s, ts := m.rewrite(p.seq, p.ts)
				if s != p.wantSeq || ts != p.wantTS {
					t.Fatalf("source (%d, %d) went out as (%d, %d), want (%d, %d)", p.seq, p.ts, s, ts, p.wantSeq, p.wantTS)
				}
				if up, ok := m.upstream(s); !ok || up != p.seq {
					t.Fatalf("NACK of %d maps back to %d (%v), want %d", s, up, ok, p.seq)
				}
			}
			for _, p := range c.pkts {
				check(p)
			}
			if c.after != nil {
				m.rebase(c.rebaseSeq, c.rebaseTS, c.rebaseGap)
				for _, p := range c.after {
					check(p)
				}
				// A packet sent before the rebase came from the other source: its NACK
				// must not be answered from this one.
				if up, ok := m.upstream(c.pkts[len(c.pkts)-1].wantSeq); ok {
					t.Fatalf("NACK from before the rebase mapped to %d", up)
				}
			}
			if _, ok := m.upstream(m.lastSeq + 1); ok {
				t.Fatal("NACK of a packet never sent was mapped")
			}
		})
	}
}

// Whatever the source numbering and wherever a rebase happens, the viewer's sequence
// numbers stay consecutive, its timestamps never go back, and NACKs map back exactly.
func FuzzMunger(f *testing.F) {
	f.Add(uint16(0), uint32(0), uint16(65530), uint32(4294967000), uint16(3), uint16(100), uint32(7), uint32(3000), uint8(10))
	f.Add(uint16(65535), uint32(1), uint16(0), uint32(0), uint16(0), uint16(65535), uint32(4294967295), uint32(0), uint8(1))
	f.Fuzz(func(t *testing.T, startSeq uint16, startTS uint32, seq uint16, ts uint32, switchAfter uint16, newSeq uint16, newTS, gap uint32, n uint8) {
		m := newMunger(startSeq, startTS)
		m.start(seq, ts)
		prevSeq, prevTS := startSeq-1, startTS
		step := func(s uint16, st uint32) {
			out, outTS := m.rewrite(s, st)
			if out != prevSeq+1 {
				t.Fatalf("sequence %d after %d", out, prevSeq)
			}
			if int32(outTS-prevTS) < 0 {
				t.Fatalf("timestamp %d after %d", outTS, prevTS)
			}
			if up, ok := m.upstream(out); !ok || up != s {
				t.Fatalf("NACK %d maps to %d (%v), want %d", out, up, ok, s)
			}
			prevSeq, prevTS = out, outTS
		}
		first := true
		for i := 0; i < int(n); i++ {
			if i == int(switchAfter%uint16(max(n, 1))) && i > 0 {
				m.rebase(newSeq, newTS, min(gap, 1<<30))
				seq, ts = newSeq, newTS
				if _, ok := m.upstream(prevSeq); ok {
					t.Fatalf("NACK %d from before the rebase was mapped", prevSeq)
				}
			}
			if first {
				first = false
				out, outTS := m.rewrite(seq, ts)
				if out != startSeq || outTS != startTS {
					t.Fatalf("first packet went out as (%d, %d), want (%d, %d)", out, outTS, startSeq, startTS)
				}
				prevSeq, prevTS = out, outTS
			} else {
				step(seq, ts)
			}
			seq, ts = seq+1, ts+3000
		}
	})
}
