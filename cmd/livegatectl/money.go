package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

const usage = `usage: livegatectl [flags] <command>

creators and streams:
  creators create [--country XX] <name>
  creators get <id>
  creators connect <id>                         Stripe Connect onboarding link
  creators subscription-price <id> <CUR> <amount-minor-units>
  streams create [--access free|ticket|subscribers] <creator-id> <title>
  streams list [--state scheduled|live|ended] [--creator <id>]
  streams get <id>
  streams prices <id> CUR=amount ...            e.g. MAD=4900 ZAR=9900 (minor units)
  streams end <id>                              cancelling a ticketed stream refunds every ticket

countries (paid live per country):
  countries list
  countries show <code>
  countries enable <code>
  countries disable <code>
  countries set <code> [--currency C] [--min-ticket N] [--max-ticket N] [--min-sub N] [--max-sub N] [--min-tip N] [--max-tip N]
                       [--fee-bps N] [--waive-until T] [--clear-waiver] [--launch-at T] [--payouts connect|manual]
                       (T is RFC 3339 or YYYY-MM-DD; amounts in minor units)
  countries audit [<code>]

viewers:
  sessions list [--stream <id>]                 live viewer sessions across the fleet
  sessions kick <session-id> [--ban 24h [--scope stream|creator|all] [--reason R]]
                                                drop a viewer (within a second, on any node); --ban keeps them out
  bans add <viewer-id> (--for 24h | --until T) [--stream <id> | --creator <id>] [--reason R]
  bans list [<viewer-id>] [--all]
  bans lift <ban-id>
  streams access <id> [--preview-seconds N] [--max-sessions N] [--session-policy reject|replace]

money:
  earnings <creator-id>                         gross, refunds, fee and net by country, currency, month
  payouts export [--period YYYY-MM]             the manual payout statement as CSV: earned, paid, owed
  payouts record <creator-id> <currency> <amount> --reference R [--paid-at T] [--allow-negative]
                                                a transfer made to a manually paid creator (minor units)
  payouts list [<creator-id>]
  promo create <creator-id> <CODE> (--percent N | --amount N --currency C) --max N [--stream <id>] [--expires T]
  promo list [<creator-id>]
  report growth [--from YYYY-MM] [--to YYYY-MM] [--country XX] [--csv]
                                                creators earning USD 1k and 10k a month, year over year
  usd-rates set <file.csv>                      date,currency,usd_per_unit rows; usd-rates list
  ledger import <file.json>                     the platform's history before livegate, for the report

webhooks out (to the platform):
  webhooks add <url> [--events type,type]      prints the signing secret once
  webhooks list
  webhooks deliveries [--state pending|delivered|failed] [--type T] [--event <id>]
  webhooks replay <delivery-id>

development:
  token <viewer-id> [--ttl 1h]                  mint a viewer token (not with --production)

flags:
`

func (c *client) setCountry(ctx context.Context, args []string, errOut io.Writer) error {
	sf := flag.NewFlagSet("countries set", flag.ContinueOnError)
	sf.SetOutput(errOut)
	currency := sf.String("currency", "", "ISO 4217 currency")
	minTicket := sf.Int64("min-ticket", -1, "minimum ticket price, minor units")
	maxTicket := sf.Int64("max-ticket", -1, "maximum ticket price, minor units")
	minSub := sf.Int64("min-sub", -1, "minimum monthly subscription, minor units")
	maxSub := sf.Int64("max-sub", -1, "maximum monthly subscription, minor units")
	minTip := sf.Int64("min-tip", -1, "smallest tip, minor units")
	maxTip := sf.Int64("max-tip", -1, "largest tip, minor units (0 with --min-tip 0: no tips)")
	fee := sf.Int("fee-bps", -1, "platform fee in basis points (1500 = 15%)")
	waive := sf.String("waive-until", "", "no platform fee on sales before this time")
	clear := sf.Bool("clear-waiver", false, "remove the fee waiver")
	launch := sf.String("launch-at", "", "paid live opens at this time")
	payouts := sf.String("payouts", "", "connect or manual")
	if len(args) < 1 {
		return fmt.Errorf("usage: countries set <code> [flags]")
	}
	code := strings.ToUpper(args[0])
	if err := sf.Parse(args[1:]); err != nil {
		return err
	}
	body := map[string]any{}
	if *currency != "" {
		body["currency"] = strings.ToUpper(*currency)
	}
	for name, v := range map[string]int64{"min_ticket": *minTicket, "max_ticket": *maxTicket, "min_subscription": *minSub, "max_subscription": *maxSub,
		"min_tip": *minTip, "max_tip": *maxTip} {
		if v >= 0 {
			body[name] = v
		}
	}
	if *fee >= 0 {
		body["fee_bps"] = *fee
	}
	for name, v := range map[string]string{"fee_waived_until": *waive, "launch_at": *launch} {
		if v == "" {
			continue
		}
		t, err := parseTime(v)
		if err != nil {
			return fmt.Errorf("--%s: %w", strings.ReplaceAll(name, "_", "-"), err)
		}
		body[name] = t
	}
	if *clear {
		body["clear_fee_waiver"] = true
	}
	if *payouts != "" {
		body["payouts"] = *payouts
	}
	return c.show(ctx, "PUT", "/v1/admin/countries/"+url.PathEscape(code), body, countryTable)
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return t, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t, nil
}

type countryJSON struct {
	Code           string            `json:"code"`
	Enabled        bool              `json:"enabled"`
	LaunchAt       time.Time         `json:"launch_at"`
	Currency       string            `json:"currency"`
	FeeBPS         int               `json:"fee_bps"`
	FeeWaivedUntil time.Time         `json:"fee_waived_until"`
	Payouts        string            `json:"payouts"`
	UpdatedAt      time.Time         `json:"updated_at"`
	Display        map[string]string `json:"display"`
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func countriesTable(w io.Writer, raw []byte) error {
	var list struct{ Countries []countryJSON }
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tENABLED\tLAUNCH\tCURRENCY\tTICKET\tSUBSCRIPTION\tFEE\tFEE WAIVED UNTIL\tPAYOUTS")
	for _, c := range list.Countries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s..%s\t%s..%s\t%s\t%s\t%s\n", c.Code, yesNo(c.Enabled), day(c.LaunchAt), c.Currency,
			c.Display["min_ticket"], c.Display["max_ticket"], c.Display["min_subscription"], c.Display["max_subscription"],
			c.Display["fee"], day(c.FeeWaivedUntil), c.Payouts)
	}
	return tw.Flush()
}

func countryTable(w io.Writer, raw []byte) error {
	var c countryJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{{"code", c.Code}, {"enabled", yesNo(c.Enabled)}, {"launch_at", day(c.LaunchAt)}, {"currency", c.Currency},
		{"ticket", c.Display["min_ticket"] + " .. " + c.Display["max_ticket"]},
		{"subscription", c.Display["min_subscription"] + " .. " + c.Display["max_subscription"]},
		{"fee", c.Display["fee"]}, {"fee_waived_until", day(c.FeeWaivedUntil)}, {"payouts", c.Payouts}, {"updated_at", day(c.UpdatedAt)}} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

func auditTable(w io.Writer, raw []byte) error {
	var list struct {
		Audit []struct {
			Object string          `json:"object"`
			Actor  string          `json:"actor"`
			At     time.Time       `json:"at"`
			Before json.RawMessage `json:"before"`
			After  json.RawMessage `json:"after"`
		}
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tWHO\tOBJECT\tCHANGED")
	for _, e := range list.Audit {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Object, diff(e.Before, e.After))
	}
	return tw.Flush()
}

// diff lists the fields an audit entry changed, "field: old -> new".
func diff(before, after json.RawMessage) string {
	var b, a map[string]any
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &a)
	var parts []string
	for _, k := range []string{"enabled", "launch_at", "currency", "min_ticket", "max_ticket", "min_subscription", "max_subscription", "fee_bps", "fee_waived_until", "payouts"} {
		if fmt.Sprint(b[k]) != fmt.Sprint(a[k]) {
			parts = append(parts, fmt.Sprintf("%s: %v -> %v", k, orDash(b[k]), orDash(a[k])))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func orDash(v any) any {
	if v == nil {
		return "-"
	}
	return v
}

func earningsTable(w io.Writer, raw []byte) error {
	var out struct {
		Earnings []struct {
			Country, Currency, Month string
			Sales                    int
			Gross, Refunds, Fee, Net int64
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "MONTH\tCOUNTRY\tCURRENCY\tSALES\tGROSS\tREFUNDS\tFEE\tNET\t")
	for _, e := range out.Earnings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", e.Month, e.Country, e.Currency, e.Sales, e.Gross, e.Refunds, e.Fee, e.Net)
	}
	fmt.Fprintln(tw, "(amounts in minor units)\t\t\t\t\t\t\t\t")
	return tw.Flush()
}

func sessionsTable(w io.Writer, raw []byte) error {
	var out struct {
		Sessions []struct {
			ID          string    `json:"id"`
			NodeID      string    `json:"node_id"`
			StreamID    string    `json:"stream_id"`
			ViewerID    string    `json:"viewer_id"`
			Country     string    `json:"country"`
			Entitlement string    `json:"entitlement"`
			StartedAt   time.Time `json:"started_at"`
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tSTREAM\tVIEWER\tCOUNTRY\tACCESS\tNODE\tWATCHING FOR")
	for _, s := range out.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.StreamID, s.ViewerID, orDash(s.Country), s.Entitlement, s.NodeID,
			time.Since(s.StartedAt).Round(time.Second))
	}
	return tw.Flush()
}

func pricesTable(w io.Writer, raw []byte) error {
	var out struct {
		Prices map[string]struct {
			Amount  int64  `json:"amount"`
			Display string `json:"display"`
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CURRENCY\tPRICE")
	for cur, p := range out.Prices {
		fmt.Fprintf(tw, "%s\t%s\n", cur, p.Display)
	}
	return tw.Flush()
}
