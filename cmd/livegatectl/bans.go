package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"
)

// cmdBansAdd bans a viewer from a stream, a creator's streams or every stream.
func cmdBansAdd(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	bf := flag.NewFlagSet("bans add", flag.ContinueOnError)
	bf.SetOutput(errOut)
	dur := bf.String("for", "", "how long (e.g. 24h)")
	until := bf.String("until", "", "until when (RFC 3339 or YYYY-MM-DD)")
	stream := bf.String("stream", "", "one stream")
	creator := bf.String("creator", "", "one creator's streams")
	reason := bf.String("reason", "", "why")
	usage := fmt.Errorf("usage: bans add <viewer-id> (--for 24h | --until T) [--stream <id> | --creator <id>] [--reason R]")
	if len(rest) < 3 {
		return usage
	}
	if err := bf.Parse(rest[3:]); err != nil || bf.NArg() != 0 || (*dur == "") == (*until == "") {
		return usage
	}
	body := map[string]any{"viewer_id": rest[2], "stream_id": *stream, "creator_id": *creator, "reason": *reason, "duration": *dur}
	if *until != "" {
		t, err := parseTime(*until)
		if err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		body["until"] = t.Format(time.RFC3339)
	}
	return c.show(ctx, "POST", "/v1/admin/bans", body, func(w io.Writer, raw []byte) error {
		return keyValues(w, raw, "ban", "sessions_ended")
	})
}

// cmdBansList lists bans (of one viewer), active ones unless --all.
func cmdBansList(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	bf := flag.NewFlagSet("bans list", flag.ContinueOnError)
	bf.SetOutput(errOut)
	all := bf.Bool("all", false, "ended and lifted bans too")
	q := url.Values{}
	args := rest[2:]
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		q.Set("viewer_id", args[0])
		args = args[1:]
	}
	if err := bf.Parse(args); err != nil || bf.NArg() != 0 {
		return fmt.Errorf("usage: bans list [<viewer-id>] [--all]")
	}
	if *all {
		q.Set("all", "true")
	}
	return c.show(ctx, "GET", "/v1/admin/bans?"+q.Encode(), nil, listTable("bans", "BAN=id", "VIEWER=viewer_id", "SCOPE=scope",
		"STREAM=stream_id", "CREATOR=creator_id", "UNTIL=until", "ACTIVE=active", "REASON=reason"))
}

// cmdBansLift ends a ban now.
func cmdBansLift(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: bans lift <ban-id>")
	}
	return c.show(ctx, "DELETE", "/v1/admin/bans/"+url.PathEscape(rest[2]), nil, func(w io.Writer, raw []byte) error {
		return keyValues(w, raw, "ban")
	})
}
