package whipclient

import (
	"reflect"
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestParseICEServerLinks(t *testing.T) {
	got := ParseICEServerLinks([]string{
		`<stun:stun.example.net>; rel="ice-server"`,
		`<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="1700000000:s1"; credential="a+b/c=="; credential-type="password", <turns:turn.example.net:443?transport=tcp>; rel="ice-server"; username="1700000000:s1"; credential="a+b/c=="`,
		`</whep/s1>; rel="alternate"`,
		`garbage, <>; rel=ice-server`,
	})
	want := []webrtc.ICEServer{
		{URLs: []string{"stun:stun.example.net"}},
		{URLs: []string{"turn:turn.example.net:3478?transport=udp"}, Username: "1700000000:s1", Credential: "a+b/c=="},
		{URLs: []string{"turns:turn.example.net:443?transport=tcp"}, Username: "1700000000:s1", Credential: "a+b/c=="},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func FuzzParseICEServerLinks(f *testing.F) {
	f.Add(`<turn:h:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"`)
	f.Add(`<a,b>; rel="ice-server", <c>; rel="x;y"`)
	f.Fuzz(func(t *testing.T, v string) {
		for _, s := range ParseICEServerLinks([]string{v}) {
			if len(s.URLs) != 1 {
				t.Fatalf("%q: %+v", v, s)
			}
		}
	})
}
