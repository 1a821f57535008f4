// Package kube is what a livegate node reads of the Kubernetes API about the machine it
// runs on: the public address viewers reach it at, which a pod on the host network
// cannot see on its own interfaces on most managed clusters (the node's interface holds a
// private address; the provider maps the public one to it). It speaks just enough of the
// API for that one read, with the pod's service account, and needs no client library.
package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PublicIPAnnotation names the node's public address when the operator sets it (a
// node behind a load balancer or an Elastic IP the API does not list as ExternalIP):
//
//	kubectl annotate node NODE livegate.io/public-ip=203.0.113.7
const PublicIPAnnotation = "livegate.io/public-ip"

// InClusterCredentials is where a pod finds its service account's token and the
// cluster's CA.
const InClusterCredentials = "/var/run/secrets/kubernetes.io/serviceaccount" //nolint:gosec // G101: a well-known path, no secret

// Config says which node to read, and how to reach the API.
type Config struct {
	Node string // the node's name: the pod's spec.nodeName
	// API is the API server's base URL; empty: the in-cluster one
	// (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT).
	API string
	// Credentials is the directory of the service account's token and ca.crt; empty:
	// InClusterCredentials.
	Credentials string
}

// PublicIP is the address viewers reach the node at: its livegate.io/public-ip
// annotation when set, else its first ExternalIP. A node with neither is an error that
// says what to do, not a private address announced to the internet.
func PublicIP(ctx context.Context, cfg Config) (netip.Addr, error) {
	n, err := readNode(ctx, cfg)
	if err != nil {
		return netip.Addr{}, err
	}
	if v := strings.TrimSpace(n.Metadata.Annotations[PublicIPAnnotation]); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("node %s: annotation %s=%q is not an IP address", cfg.Node, PublicIPAnnotation, v)
		}
		return a, nil
	}
	for _, addr := range n.Status.Addresses {
		if addr.Type == "ExternalIP" {
			if a, err := netip.ParseAddr(addr.Address); err == nil {
				return a, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("node %s has no ExternalIP and no %s annotation: annotate it with the address viewers reach it at "+
		"(kubectl annotate node %s %s=IP), or set --nat-1to1-ips", cfg.Node, PublicIPAnnotation, cfg.Node, PublicIPAnnotation)
}

// node is the part of a Node object read here.
type node struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Status struct {
		Addresses []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"addresses"`
	} `json:"status"`
}

func readNode(ctx context.Context, cfg Config) (node, error) {
	var n node
	if cfg.Node == "" {
		return n, errors.New("no node name (the pod's spec.nodeName)")
	}
	dir := cfg.Credentials
	if dir == "" {
		dir = InClusterCredentials
	}
	token, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		return n, fmt.Errorf("the service account's token: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return n, fmt.Errorf("the cluster's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return n, errors.New("the cluster's CA: no certificate in ca.crt")
	}
	base := cfg.API
	if base == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return n, errors.New("not in a cluster (KUBERNETES_SERVICE_HOST unset) and no API URL given")
		}
		base = "https://" + net.JoinHostPort(host, port)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The API's address is the operator's (or the cluster's own), never a caller's.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/v1/nodes/"+url.PathEscape(cfg.Node), nil) //nolint:gosec // G704: see above
	if err != nil {
		return n, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Do(req) //nolint:gosec // G704: the operator's API, as above
	if err != nil {
		return n, fmt.Errorf("read node %s: %w", cfg.Node, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return n, fmt.Errorf("read node %s: %w", cfg.Node, err)
	}
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusForbidden {
			hint = " (the pod's service account needs get on nodes: see deploy/k8s/livegate.yaml's ClusterRole)"
		}
		return n, fmt.Errorf("read node %s: %s%s", cfg.Node, resp.Status, hint)
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return n, fmt.Errorf("read node %s: %w", cfg.Node, err)
	}
	return n, nil
}
