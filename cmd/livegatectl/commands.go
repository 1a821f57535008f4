package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// command runs one CLI command; rest is every word after the global flags, the command's
// own words first.
type command func(ctx context.Context, c *client, rest []string, errOut io.Writer) error

// commands is every command by its words: the one place a command is routed.
func commands() map[string]command {
	return map[string]command{
		"creators create":             cmdCreatorsCreate,
		"creators get":                cmdCreatorsGet,
		"streams create":              cmdStreamsCreate,
		"streams list":                cmdStreamsList,
		"streams get":                 cmdStreamsGet,
		"streams end":                 cmdStreamsEnd,
		"countries list":              cmdCountriesList,
		"countries show":              cmdCountriesShow,
		"countries enable":            cmdCountriesSwitch,
		"countries disable":           cmdCountriesSwitch,
		"countries set":               cmdCountriesSet,
		"countries audit":             cmdCountriesAudit,
		"earnings":                    cmdEarnings,
		"payouts export":              cmdPayoutsExport,
		"payouts record":              cmdPayoutsRecord,
		"payouts list":                cmdPayoutsList,
		"token":                       cmdToken,
		"sessions list":               cmdSessionsList,
		"sessions kick":               cmdSessionsKick,
		"bans add":                    cmdBansAdd,
		"bans list":                   cmdBansList,
		"bans lift":                   cmdBansLift,
		"streams access":              cmdStreamsAccess,
		"creators connect":            cmdCreatorsConnect,
		"creators subscription-price": cmdCreatorsSubscriptionPrice,
		"streams prices":              cmdStreamsPrices,
		"report growth":               cmdReportGrowth,
		"usd-rates set":               cmdUSDRatesSet,
		"usd-rates list":              cmdUSDRatesList,
		"ledger import":               cmdLedgerImport,
		"promo create":                cmdPromoCreate,
		"promo list":                  cmdPromoList,
		"webhooks add":                cmdWebhooksAdd,
		"webhooks list":               cmdWebhooksList,
		"webhooks deliveries":         cmdWebhooksDeliveries,
		"webhooks replay":             cmdWebhooksReplay,
	}
}

// lookup finds the command rest starts with: one word ("earnings") or two ("streams list").
func lookup(rest []string) (command, bool) {
	table := commands()
	if len(rest) >= 2 {
		if cmd, ok := table[rest[0]+" "+rest[1]]; ok {
			return cmd, true
		}
	}
	cmd, ok := table[rest[0]]
	return cmd, ok
}

func cmdCreatorsCreate(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	cf := flag.NewFlagSet("creators create", flag.ContinueOnError)
	cf.SetOutput(errOut)
	country := cf.String("country", "", "ISO 3166-1 alpha-2 country the creator is paid out in")
	if err := cf.Parse(rest[2:]); err != nil || cf.NArg() != 1 {
		return fmt.Errorf("usage: creators create [--country XX] <name>")
	}
	return c.show(ctx, "POST", "/v1/creators", map[string]string{"name": cf.Arg(0), "country": *country}, creatorTable)
}

func cmdCreatorsGet(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: creators get <id>")
	}
	return c.show(ctx, "GET", "/v1/creators/"+url.PathEscape(rest[2]), nil, creatorTable)
}

func cmdStreamsCreate(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	sf := flag.NewFlagSet("streams create", flag.ContinueOnError)
	sf.SetOutput(errOut)
	mode := sf.String("access", "free", "free, ticket or subscribers")
	if err := sf.Parse(rest[2:]); err != nil || sf.NArg() != 2 {
		return fmt.Errorf("usage: streams create [--access free|ticket|subscribers] <creator-id> <title>")
	}
	return c.show(ctx, "POST", "/v1/streams", map[string]string{"creator_id": sf.Arg(0), "title": sf.Arg(1), "access_mode": *mode}, streamTable)
}

func cmdStreamsList(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
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
	return c.show(ctx, "GET", "/v1/streams?"+q.Encode(), nil, listTable("streams",
		"ID=id", "STATE=state", "VIEWERS=viewers", "ACCESS=access_mode", "TITLE=title", "CREATED=created_at"))
}

func cmdStreamsGet(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: streams get <id>")
	}
	return c.show(ctx, "GET", "/v1/streams/"+url.PathEscape(rest[2]), nil, streamTable)
}

func cmdStreamsEnd(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: streams end <id>")
	}
	return c.show(ctx, "DELETE", "/v1/streams/"+url.PathEscape(rest[2]), nil, streamTable)
}

func cmdCountriesList(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	return c.show(ctx, "GET", "/v1/admin/countries", nil, countriesTable)
}

func cmdCountriesShow(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: countries show <code>")
	}
	return c.show(ctx, "GET", "/v1/admin/countries/"+url.PathEscape(rest[2]), nil, countryTable)
}

func cmdCountriesSwitch(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: %s <code>", strings.Join(rest[:2], " "))
	}
	return c.show(ctx, "POST", "/v1/admin/countries/"+url.PathEscape(rest[2])+"/"+rest[1], nil, countryTable)
}

func cmdCountriesSet(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	return c.setCountry(ctx, rest[2:], errOut)
}

func cmdCountriesAudit(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	path := "/v1/admin/audit"
	if len(rest) == 3 {
		path += "?object=" + url.QueryEscape("country:"+strings.ToUpper(rest[2]))
	}
	return c.show(ctx, "GET", path, nil, auditTable)
}

func cmdEarnings(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 2 {
		return fmt.Errorf("usage: earnings <creator-id>")
	}
	return c.show(ctx, "GET", "/v1/creators/"+url.PathEscape(rest[1])+"/earnings", nil, earningsTable)
}

func cmdPayoutsExport(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	path := "/v1/admin/payouts/manual.csv"
	if len(rest) == 4 && rest[2] == "--period" {
		path += "?period=" + url.QueryEscape(rest[3])
	} else if len(rest) != 2 {
		return fmt.Errorf("usage: payouts export [--period YYYY-MM]")
	}
	raw, err := c.do(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	_, err = c.out.Write(raw)
	return err
}

func cmdToken(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	tf := flag.NewFlagSet("token", flag.ContinueOnError)
	tf.SetOutput(errOut)
	ttl := tf.String("ttl", "1h", "token lifetime")
	role := tf.String("role", "viewer", "viewer, creator (with --creator) or operator")
	creator := tf.String("creator", "", "with --role creator: the creator id the token manages")
	if err := tf.Parse(rest[1:]); err != nil || tf.NArg() != 1 {
		return fmt.Errorf("usage: token [--ttl 1h] [--role viewer|creator|operator] [--creator <creator-id>] <subject-id>")
	}
	raw, err := c.do(ctx, "POST", "/v1/admin/dev/tokens", map[string]string{"viewer_id": tf.Arg(0), "ttl": *ttl,
		"role": *role, "creator_id": *creator})
	if err != nil {
		return err
	}
	var out struct{ Token string }
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.out, out.Token)
	return err
}

func cmdSessionsList(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	lf := flag.NewFlagSet("sessions list", flag.ContinueOnError)
	lf.SetOutput(errOut)
	stream := lf.String("stream", "", "only this stream's sessions")
	if err := lf.Parse(rest[2:]); err != nil {
		return err
	}
	path := "/v1/admin/sessions"
	if *stream != "" {
		path += "?stream=" + url.QueryEscape(*stream)
	}
	return c.show(ctx, "GET", path, nil, sessionsTable)
}

func cmdSessionsKick(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	kf := flag.NewFlagSet("sessions kick", flag.ContinueOnError)
	kf.SetOutput(errOut)
	banFor := kf.String("ban", "", "also ban the viewer for this long (e.g. 24h)")
	scope := kf.String("scope", "stream", "what the ban covers: stream, creator or all")
	reason := kf.String("reason", "", "why (kept in the ban)")
	usage := fmt.Errorf("usage: sessions kick <session-id> [--ban 24h [--scope stream|creator|all] [--reason R]]")
	if len(rest) < 3 {
		return usage
	}
	if err := kf.Parse(rest[3:]); err != nil || kf.NArg() != 0 {
		return usage
	}
	var body any
	if *banFor != "" {
		body = map[string]any{"ban": map[string]string{"scope": *scope, "duration": *banFor, "reason": *reason}}
	}
	return c.show(ctx, "POST", "/v1/admin/sessions/"+url.PathEscape(rest[2])+"/kick", body, func(w io.Writer, raw []byte) error {
		return keyValues(w, raw, "id", "kicked", "stream_id", "viewer_id", "ban")
	})
}

func cmdStreamsAccess(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	af := flag.NewFlagSet("streams access", flag.ContinueOnError)
	af.SetOutput(errOut)
	preview := af.Int("preview-seconds", -1, "free preview per viewer, seconds")
	maxS := af.Int("max-sessions", -1, "concurrent sessions per viewer and entitlement (0: no cap)")
	policy := af.String("session-policy", "", "reject or replace, for a join over the cap")
	if len(rest) < 3 {
		return fmt.Errorf("usage: streams access <id> [flags]")
	}
	if err := af.Parse(rest[3:]); err != nil {
		return err
	}
	body := map[string]any{}
	if *preview >= 0 {
		body["preview_seconds"] = *preview
	}
	if *maxS >= 0 {
		body["max_sessions"] = *maxS
	}
	if *policy != "" {
		body["session_policy"] = *policy
	}
	return c.show(ctx, "PATCH", "/v1/streams/"+url.PathEscape(rest[2]), body, streamTable)
}

func cmdCreatorsConnect(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: creators connect <id>")
	}
	return c.show(ctx, "POST", "/v1/creators/"+url.PathEscape(rest[2])+"/connect", nil, func(w io.Writer, raw []byte) error {
		return keyValues(w, raw, "onboarding_url")
	})
}

func cmdCreatorsSubscriptionPrice(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 5 {
		return fmt.Errorf("usage: creators subscription-price <id> <CUR> <amount>")
	}
	amount, err := strconv.ParseInt(rest[4], 10, 64)
	if err != nil {
		return fmt.Errorf("amount %q: whole minor units, e.g. 2500 for MAD 25.00", rest[4])
	}
	return c.show(ctx, "PUT", "/v1/creators/"+url.PathEscape(rest[2])+"/subscription-prices/"+url.PathEscape(strings.ToUpper(rest[3])),
		map[string]int64{"amount": amount}, func(w io.Writer, raw []byte) error {
			return keyValues(w, raw, "currency", "amount", "display", "interval")
		})
}

func cmdStreamsPrices(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) < 4 {
		return errors.New("usage: streams prices <id> CUR=amount [CUR=amount]")
	}
	prices := map[string]int64{}
	for _, kv := range rest[3:] {
		cur, amt, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(amt, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("price %q: want CUR=amount in minor units, e.g. MAD=4900", kv)
		}
		prices[strings.ToUpper(cur)] = n
	}
	return c.show(ctx, "PUT", "/v1/streams/"+url.PathEscape(rest[2])+"/prices", map[string]any{"prices": prices}, pricesTable)
}
