// Command livegatectl is the operator and creator CLI over livegate's HTTP API.
//
//	livegatectl [--url URL] [--api-key KEY] [--json] <command> ...
//
// Run `livegatectl --help` for the commands: creators, streams, countries (enable, disable,
// set, audit), earnings, manual payouts (statement, record, list) and development viewer
// tokens.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "livegatectl:", err)
		os.Exit(1)
	}
}

type client struct {
	base, key string
	asJSON    bool
	out       io.Writer
	http      *http.Client
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("livegatectl", flag.ContinueOnError)
	fs.SetOutput(errOut)
	c := &client{out: out, http: &http.Client{Timeout: 30 * time.Second}}
	fs.StringVar(&c.base, "url", envOr("LIVEGATE_URL", "http://localhost:8080"), "livegate node URL (LIVEGATE_URL)")
	fs.StringVar(&c.key, "api-key", os.Getenv("LIVEGATE_API_KEY"), "operator API key (LIVEGATE_API_KEY)")
	fs.BoolVar(&c.asJSON, "json", false, "print the API's JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprint(errOut, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // asked for: the usage is the answer
		}
		return err
	}
	rest := fs.Args()
	if len(rest) == 1 && (rest[0] == "help" || rest[0] == "-h") {
		fs.Usage()
		return nil
	}
	if len(rest) < 2 {
		fs.Usage()
		return fmt.Errorf("missing command")
	}

	if cmd, ok := lookup(rest); ok {
		return cmd(ctx, c, rest, errOut)
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", strings.Join(rest[:2], " "))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// do calls the API and returns the body of a 2xx answer, or the problem as an error.
func (c *client) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var p struct{ Title, Detail, Field string }
		if json.Unmarshal(raw, &p) == nil && p.Title != "" {
			msg := fmt.Sprintf("%s (%d)", p.Title, resp.StatusCode)
			if p.Field != "" {
				msg += ": field " + p.Field
			}
			if p.Detail != "" {
				msg += ": " + p.Detail
			}
			return nil, fmt.Errorf("%s", msg)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return raw, nil
}

// show calls the API and prints the answer as a table (or JSON with --json).
func (c *client) show(ctx context.Context, method, path string, body any, table func(io.Writer, []byte) error) error {
	raw, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if c.asJSON {
		_, err := c.out.Write(raw)
		return err
	}
	return table(c.out, raw)
}

func keyValues(w io.Writer, raw []byte, keys ...string) error {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		if v, ok := m[k]; ok && v != nil && v != "" {
			fmt.Fprintf(tw, "%s\t%v\n", k, v)
		}
	}
	return tw.Flush()
}

// listTable prints the API's list under key as a table, one column per "HEADER=field".
func listTable(key string, columns ...string) func(io.Writer, []byte) error {
	return func(w io.Writer, raw []byte) error {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		var items []map[string]any
		if err := json.Unmarshal(m[key], &items); err != nil && m[key] != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fields := make([]string, len(columns))
		headers := make([]string, len(columns))
		for i, c := range columns {
			headers[i], fields[i], _ = strings.Cut(c, "=")
		}
		fmt.Fprintln(tw, strings.Join(headers, "\t"))
		for _, item := range items {
			cells := make([]string, len(fields))
			for i, f := range fields {
				if v, ok := item[f]; ok && v != nil {
					cells[i] = fmt.Sprint(v)
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		return tw.Flush()
	}
}

func creatorTable(w io.Writer, raw []byte) error {
	return keyValues(w, raw, "id", "name", "country", "created_at")
}

func streamTable(w io.Writer, raw []byte) error {
	return keyValues(w, raw, "id", "creator_id", "title", "state", "access_mode", "preview_seconds", "max_sessions", "session_policy", "viewers",
		"created_at", "started_at", "ended_at", "whip_url", "whep_url", "stream_key")
}
