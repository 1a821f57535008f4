// Command livegatectl is the operator and creator CLI over livegate's HTTP API.
//
//	livegatectl [--url URL] [--api-key KEY] [--json] <command> ...
//
// Run `livegatectl --help` for the commands: creators, streams, countries (enable, disable,
// set, audit), earnings, payouts export and development viewer tokens.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
		return err
	}
	rest := fs.Args()
	if len(rest) < 2 {
		fs.Usage()
		return fmt.Errorf("missing command")
	}
	if rest[0] == "countries" || rest[0] == "earnings" || rest[0] == "payouts" || rest[0] == "token" || rest[0] == "sessions" ||
		(rest[0] == "streams" && rest[1] == "access") ||
		(rest[0] == "creators" && (rest[1] == "connect" || rest[1] == "subscription-price")) || (rest[0] == "streams" && rest[1] == "prices") {
		return c.money(ctx, rest, errOut)
	}
	switch rest[0] + " " + rest[1] {
	case "creators create":
		cf := flag.NewFlagSet("creators create", flag.ContinueOnError)
		cf.SetOutput(errOut)
		country := cf.String("country", "", "ISO 3166-1 alpha-2 country the creator is paid out in")
		if err := cf.Parse(rest[2:]); err != nil || cf.NArg() != 1 {
			return fmt.Errorf("usage: creators create [--country XX] <name>")
		}
		return c.show(ctx, "POST", "/v1/creators", map[string]string{"name": cf.Arg(0), "country": *country}, creatorTable)
	case "creators get":
		if len(rest) != 3 {
			return fmt.Errorf("usage: creators get <id>")
		}
		return c.show(ctx, "GET", "/v1/creators/"+url.PathEscape(rest[2]), nil, creatorTable)
	case "streams create":
		sf := flag.NewFlagSet("streams create", flag.ContinueOnError)
		sf.SetOutput(errOut)
		mode := sf.String("access", "free", "free, ticket or subscribers")
		if err := sf.Parse(rest[2:]); err != nil || sf.NArg() != 2 {
			return fmt.Errorf("usage: streams create [--access free|ticket|subscribers] <creator-id> <title>")
		}
		return c.show(ctx, "POST", "/v1/streams", map[string]string{"creator_id": sf.Arg(0), "title": sf.Arg(1), "access_mode": *mode}, streamTable)
	case "streams list":
		lf := flag.NewFlagSet("streams list", flag.ContinueOnError)
		lf.SetOutput(errOut)
		state := lf.String("state", "", "scheduled, live or ended")
		creator := lf.String("creator", "", "only this creator's streams")
		if err := lf.Parse(rest[2:]); err != nil {
			return err
		}
		q := url.Values{}
		if *state != "" {
			q.Set("state", *state)
		}
		if *creator != "" {
			q.Set("creator_id", *creator)
		}
		return c.show(ctx, "GET", "/v1/streams?"+q.Encode(), nil, func(w io.Writer, raw []byte) error {
			var list struct{ Streams []map[string]any }
			if err := json.Unmarshal(raw, &list); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tVIEWERS\tACCESS\tTITLE\tCREATED")
			for _, s := range list.Streams {
				fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\n", s["id"], s["state"], s["viewers"], s["access_mode"], s["title"], s["created_at"])
			}
			return tw.Flush()
		})
	case "streams get":
		if len(rest) != 3 {
			return fmt.Errorf("usage: streams get <id>")
		}
		return c.show(ctx, "GET", "/v1/streams/"+url.PathEscape(rest[2]), nil, streamTable)
	case "streams end":
		if len(rest) != 3 {
			return fmt.Errorf("usage: streams end <id>")
		}
		return c.show(ctx, "DELETE", "/v1/streams/"+url.PathEscape(rest[2]), nil, streamTable)
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

func creatorTable(w io.Writer, raw []byte) error {
	return keyValues(w, raw, "id", "name", "country", "created_at")
}

func streamTable(w io.Writer, raw []byte) error {
	return keyValues(w, raw, "id", "creator_id", "title", "state", "access_mode", "preview_seconds", "max_sessions", "session_policy", "viewers",
		"created_at", "started_at", "ended_at", "whip_url", "whep_url", "stream_key")
}
