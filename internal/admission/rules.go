// Package admission decides whether the node takes more work from a caller: rate limits
// per client address and per viewer, caps on long-lived connections (event streams), and
// the node's own capacity (viewers, egress bitrate, CPU). A refusal is a problem with
// Retry-After, and every refusal is counted by reason, so an operator sees an attack.
package admission

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Names of the rate limits. A "-viewer" rule is keyed by viewer id, the rest by client
// address (see ClientKey).
const (
	WHEP           = "whep"            // WHEP offers per client
	WHIP           = "whip"            // WHIP offers per client
	WHIPKey        = "whip-key"        // rejected stream keys per client: spent only on a failure
	Access         = "access"          // "may I watch?" calls per client
	AccessViewer   = "access-viewer"   // ... per viewer
	Checkout       = "checkout"        // checkouts (tickets and subscriptions) per client
	CheckoutViewer = "checkout-viewer" // ... per viewer, across the fleet when Redis is there
	Collect        = "collect"         // collects per client
	CollectViewer  = "collect-viewer"  // ... per viewer
	DevLogin       = "dev-login"       // development viewer tokens per client
)

// Rule lets Count events per Per, with bursts up to Burst.
type Rule struct {
	Count int
	Per   time.Duration
	Burst int
}

// Off reports whether the rule lets everything through.
func (r Rule) Off() bool { return r.Count <= 0 || r.Per <= 0 }

func (r Rule) limit() rate.Limit { return rate.Limit(float64(r.Count) / r.Per.Seconds()) }

// refill is how long an emptied bucket takes to fill again: after it, a key that has not
// been seen is as good as new and can be forgotten.
func (r Rule) refill() time.Duration {
	return time.Duration(float64(r.Per) * float64(max(r.Burst, 1)) / float64(r.Count))
}

func (r Rule) String() string {
	if r.Off() {
		return "off"
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	if unit == "" {
		unit = r.Per.String()
	}
	return fmt.Sprintf("%d/%s:%d", r.Count, unit, r.Burst)
}

// Rules are the rate limits by name.
type Rules map[string]Rule

// DefaultRules are generous for people and tight for scripts. Per client they let
// through a mobile carrier's NAT full of viewers and a load test's ramp of hundreds of
// viewers a minute; what they stop is a client sending hundreds of requests a second.
// Per viewer they fit what one person does: a few tries at buying, a page reloaded.
func DefaultRules() Rules {
	return Rules{
		WHEP:           {Count: 50, Per: time.Second, Burst: 200},
		WHIP:           {Count: 2, Per: time.Second, Burst: 20},
		WHIPKey:        {Count: 6, Per: time.Minute, Burst: 10},
		Access:         {Count: 50, Per: time.Second, Burst: 200},
		AccessViewer:   {Count: 2, Per: time.Second, Burst: 20},
		Checkout:       {Count: 10, Per: time.Second, Burst: 50},
		CheckoutViewer: {Count: 10, Per: time.Minute, Burst: 10},
		Collect:        {Count: 20, Per: time.Second, Burst: 100},
		CollectViewer:  {Count: 1, Per: time.Second, Burst: 10},
		DevLogin:       {Count: 2, Per: time.Second, Burst: 20},
	}
}

// String lists the rules in the syntax ParseRules reads.
func (rs Rules) String() string {
	names := make([]string, 0, len(rs))
	for n := range rs {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + rs[n].String()
	}
	return strings.Join(parts, ",")
}

// Set changes rules from a comma-separated list of name=COUNT/UNIT[:BURST] (UNIT s, m
// or h; BURST defaults to COUNT) or name=off; "off" alone turns every rule off. It makes
// Rules a flag.Value.
func (rs Rules) Set(spec string) error {
	spec = strings.TrimSpace(spec)
	if spec == "off" {
		for n := range rs {
			rs[n] = Rule{}
		}
		return nil
	}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if _, known := DefaultRules()[name]; !ok || !known {
			return fmt.Errorf("rate limit %q: want name=COUNT/UNIT[:BURST] with a name among %s", part, DefaultRules().names())
		}
		r, err := parseRule(val)
		if err != nil {
			return fmt.Errorf("rate limit %s: %w", name, err)
		}
		rs[name] = r
	}
	return nil
}

func (rs Rules) names() string {
	var ns []string
	for n := range rs {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return strings.Join(ns, ", ")
}

func parseRule(v string) (Rule, error) {
	if v == "off" {
		return Rule{}, nil
	}
	rateSpec, burstSpec, hasBurst := strings.Cut(v, ":")
	countSpec, unit, ok := strings.Cut(rateSpec, "/")
	if !ok {
		return Rule{}, fmt.Errorf("%q: want COUNT/UNIT[:BURST], e.g. 10/m:5, or off", v)
	}
	count, err := strconv.Atoi(countSpec)
	if err != nil || count < 1 {
		return Rule{}, fmt.Errorf("%q: the count must be a positive integer", v)
	}
	per, ok := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	if !ok {
		return Rule{}, fmt.Errorf("%q: the unit is s, m or h", v)
	}
	burst := count
	if hasBurst {
		if burst, err = strconv.Atoi(burstSpec); err != nil || burst < 1 {
			return Rule{}, fmt.Errorf("%q: the burst must be a positive integer", v)
		}
	}
	return Rule{Count: count, Per: per, Burst: burst}, nil
}
