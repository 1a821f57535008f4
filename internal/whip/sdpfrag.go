package whip

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/ice/v4"
)

// sdpFrag is a parsed application/trickle-ice-sdpfrag body (RFC 8840) as WHIP and WHEP
// clients send it in PATCH.
type sdpFrag struct {
	Ufrag, Pwd string
	Candidates []fragCandidate
	End        bool // a=end-of-candidates seen
}

type fragCandidate struct {
	Mid       string
	Candidate string // "candidate:..." without the "a="
}

const maxFragCandidates = 64

// parseSDPFrag reads a trickle-ice-sdpfrag body. It accepts only what the format allows
// and checks each candidate with pion's parser; it never panics (it is fuzzed).
func parseSDPFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	mid := ""
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return f, fmt.Errorf("malformed line %q", truncate(line))
		}
		switch line[0] {
		case 'm':
			mid = ""
		case 'a':
			key, val, _ := strings.Cut(line[2:], ":")
			switch key {
			case "ice-ufrag":
				if !validICEChars(val, 4, 256) {
					return f, errors.New("ice-ufrag must be 4 to 256 ICE characters")
				}
				f.Ufrag = val
			case "ice-pwd":
				if !validICEChars(val, 22, 256) {
					return f, errors.New("ice-pwd must be 22 to 256 ICE characters")
				}
				f.Pwd = val
			case "mid":
				mid = val
			case "candidate":
				if len(f.Candidates) >= maxFragCandidates {
					return f, fmt.Errorf("more than %d candidates", maxFragCandidates)
				}
				c := "candidate:" + val
				if _, err := ice.UnmarshalCandidate(c); err != nil {
					return f, fmt.Errorf("bad candidate %q: %v", truncate(c), err)
				}
				f.Candidates = append(f.Candidates, fragCandidate{Mid: mid, Candidate: c})
			case "end-of-candidates":
				f.End = true
			}
			// Other attributes (ice-options, group) are allowed and ignored.
		default:
			// RFC 8840 fragments carry only a= and m= lines.
			return f, fmt.Errorf("unexpected %c= line", line[0])
		}
	}
	if (f.Ufrag == "") != (f.Pwd == "") {
		return f, errors.New("ice-ufrag and ice-pwd go together")
	}
	return f, nil
}

// validICEChars checks RFC 8839 ice-char (ALPHA / DIGIT / "+" / "/").
func validICEChars(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// answerFrag builds the sdpfrag a server returns after an ICE restart: its new
// credentials and candidates, per media section of the new local SDP.
func answerFrag(localSDP string) string {
	var b strings.Builder
	var ufrag, pwd string
	var sections []string
	cur := -1
	for _, line := range strings.Split(localSDP, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:") && ufrag == "":
			ufrag = line
		case strings.HasPrefix(line, "a=ice-pwd:") && pwd == "":
			pwd = line
		case strings.HasPrefix(line, "m="):
			sections = append(sections, line+"\r\n")
			cur = len(sections) - 1
		case cur >= 0 && (strings.HasPrefix(line, "a=mid:") || strings.HasPrefix(line, "a=candidate:") || line == "a=end-of-candidates"):
			sections[cur] += line + "\r\n"
		}
	}
	b.WriteString(ufrag + "\r\n" + pwd + "\r\n")
	for _, s := range sections {
		b.WriteString(s)
	}
	return b.String()
}
