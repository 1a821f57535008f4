package whip

import (
	"strings"
	"testing"
)

func TestParseSDPFrag(t *testing.T) {
	f, err := parseSDPFrag("a=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n" +
		"a=candidate:1387637174 1 udp 2122260223 127.0.0.1 61764 typ host generation 0\r\na=end-of-candidates\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Ufrag != "EsAw" || f.Pwd != "bP+XJMM09aR8AiX1jdukzR6Y" || len(f.Candidates) != 1 || f.Candidates[0].Mid != "0" || !f.End {
		t.Fatalf("parsed %+v", f)
	}
	for _, bad := range []string{
		"hello",
		"a=ice-ufrag:abcd\r\n", // pwd missing
		"a=ice-ufrag:ab\r\na=ice-pwd:" + strings.Repeat("x", 22), // ufrag too short
		"a=ice-ufrag:abcd\r\na=ice-pwd:short",
		"a=ice-ufrag:ab\ncd\r\n",
		"a=candidate:garbage",
		"v=0\r\n",
		"a=candidate:1 1 udp 1 127.0.0.1 1 typ host\r\n" + strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 1 typ host\r\n", maxFragCandidates),
	} {
		if _, err := parseSDPFrag(bad); err == nil {
			t.Errorf("parseSDPFrag(%q) accepted", bad)
		}
	}
}

func TestAnswerFrag(t *testing.T) {
	local := "v=0\r\na=ice-ufrag:uuuu\r\na=ice-pwd:pppppppppppppppppppppp\r\nm=video 9 UDP 96\r\na=mid:0\r\na=ice-ufrag:uuuu\r\na=candidate:1 1 udp 1 127.0.0.1 7882 typ host\r\na=end-of-candidates\r\n"
	got := answerFrag(local)
	f, err := parseSDPFrag(got)
	if err != nil {
		t.Fatalf("our own fragment does not parse: %v\n%s", err, got)
	}
	if f.Ufrag != "uuuu" || len(f.Candidates) != 1 || f.Candidates[0].Mid != "0" {
		t.Fatalf("answer fragment %+v", f)
	}
}

// FuzzParseSDPFrag: no input panics, and what is accepted has well-formed credentials.
func FuzzParseSDPFrag(f *testing.F) {
	f.Add("a=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n")
	f.Add("a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n")
	f.Add("m=audio 9 RTP/AVP 0\r\na=end-of-candidates\r\n")
	f.Fuzz(func(t *testing.T, body string) {
		fr, err := parseSDPFrag(body)
		if err != nil {
			return
		}
		if (fr.Ufrag == "") != (fr.Pwd == "") || strings.ContainsAny(fr.Ufrag+fr.Pwd, "\r\n ") {
			t.Fatalf("accepted bad credentials %q %q", fr.Ufrag, fr.Pwd)
		}
		if len(fr.Candidates) > maxFragCandidates {
			t.Fatalf("accepted %d candidates", len(fr.Candidates))
		}
	})
}
