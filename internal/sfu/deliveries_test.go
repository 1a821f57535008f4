package sfu

import (
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
)

// ack feeds d a transport-wide feedback report, built by pion's recorder, saying the
// packet numbered tseq arrived.
func ack(t *testing.T, d *deliveries, tseq uint16, now int64) {
	t.Helper()
	rec := twcc.NewRecorder(1)
	rec.Record(2, tseq, 1000)
	for _, p := range rec.BuildFeedbackPacket() {
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		d.feedback(raw, now)
	}
}

// A resend counts as delivered once a feedback report names its transport-wide number, for its
// own stream and packet only, and not for ever: a sequence number that comes round
// again after wrapping is a new packet.
func TestDeliveries(t *testing.T) {
	const rtx, other = 0x1234, 0x5678
	now := time.Unix(1000, 0).UnixNano()
	var d deliveries
	if d.delivered(rtx, 7, now) {
		t.Fatal("delivered before anything was resent")
	}
	d.resent(100, rtx, 7)
	d.resent(101, rtx, 8)
	if d.delivered(rtx, 7, now) {
		t.Fatal("delivered before feedback")
	}
	ack(t, &d, 100, now)
	ack(t, &d, 5000, now) // not a resend: media or padding
	for _, c := range []struct {
		ssrc uint32
		osn  uint16
		at   time.Duration
		want bool
	}{
		{rtx, 7, 0, true},
		{rtx, 8, 0, false},   // its resend not reported yet
		{other, 7, 0, false}, // another stream's packet 7
		{rtx, 7 + deliverySlots, 0, false},
		{rtx, 7, 2*maxRepairAge - time.Millisecond, true},
		{rtx, 7, 2 * maxRepairAge, false},
	} {
		if got := d.delivered(c.ssrc, c.osn, now+int64(c.at)); got != c.want {
			t.Errorf("delivered(%#x, %d) %v later: %v, want %v", c.ssrc, c.osn, c.at, got, c.want)
		}
	}
	// A transport-wide number reused (after 65,536 packets) for another resend names
	// that one, not the old.
	d.resent(100+deliverySlots, rtx, 9)
	ack(t, &d, 100, now)
	if d.delivered(rtx, 9, now) {
		t.Error("feedback for an overwritten number marked the new resend delivered")
	}
	ack(t, &d, 100+deliverySlots, now)
	if !d.delivered(rtx, 9, now) {
		t.Error("the resend numbered 100+slots not marked delivered")
	}
}
