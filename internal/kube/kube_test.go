package kube

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// apiServer stands in for the API server: it answers GET /api/v1/nodes/{name} with
// nodes[name], to the bearer token "sa-token" only, over TLS whose CA is in the
// credentials directory it returns.
func apiServer(t *testing.T, nodes map[string]string) (api, creds string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sa-token" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		body, ok := nodes[strings.TrimPrefix(r.URL.Path, "/api/v1/nodes/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	creds = t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(creds, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "token"), []byte("sa-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, creds
}

func TestPublicIP(t *testing.T) {
	api, creds := apiServer(t, map[string]string{
		"external":  `{"metadata":{"name":"external"},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"},{"type":"ExternalIP","address":"203.0.113.7"}]}}`,
		"annotated": `{"metadata":{"annotations":{"livegate.io/public-ip":"198.51.100.9"}},"status":{"addresses":[{"type":"ExternalIP","address":"203.0.113.8"}]}}`,
		"private":   `{"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.6"},{"type":"Hostname","address":"ip-10-0-0-6"}]}}`,
		"badnote":   `{"metadata":{"annotations":{"livegate.io/public-ip":"my-host"}}}`,
	})
	ctx := context.Background()
	for _, c := range []struct {
		node, want, err string
	}{
		{node: "external", want: "203.0.113.7"},
		{node: "annotated", want: "198.51.100.9"}, // the operator's word first
		{node: "private", err: "no ExternalIP and no livegate.io/public-ip annotation"},
		{node: "badnote", err: "is not an IP address"},
		{node: "missing", err: "404"},
	} {
		got, err := PublicIP(ctx, Config{Node: c.node, API: api, Credentials: creds})
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, %v; want an error saying %q", c.node, got, err, c.err)
		case c.err == "" && (err != nil || got.String() != c.want):
			t.Errorf("%s: %v, %v; want %s", c.node, got, err, c.want)
		}
	}

	// Without the service account's token the API refuses, and the error says what the
	// pod lacks.
	if err := os.WriteFile(filepath.Join(creds, "token"), []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := PublicIP(ctx, Config{Node: "external", API: api, Credentials: creds}); err == nil || !strings.Contains(err.Error(), "ClusterRole") {
		t.Errorf("refused by the API: %v", err)
	}
	// Without the cluster's CA nothing is believed.
	if err := os.WriteFile(filepath.Join(creds, "ca.crt"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := PublicIP(ctx, Config{Node: "external", API: api, Credentials: creds}); err == nil || !strings.Contains(err.Error(), "CA") {
		t.Errorf("without the cluster's CA: %v", err)
	}
}
