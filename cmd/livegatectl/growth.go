package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
)

func cmdReportGrowth(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	rf := flag.NewFlagSet("report growth", flag.ContinueOnError)
	rf.SetOutput(errOut)
	from := rf.String("from", "", "first month, YYYY-MM (default: eleven months ago)")
	to := rf.String("to", "", "last month, YYYY-MM (default: this month)")
	country := rf.String("country", "", "one creator country")
	asCSV := rf.Bool("csv", false, "print CSV")
	if err := rf.Parse(rest[2:]); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"from": *from, "to": *to, "country": strings.ToUpper(*country)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *asCSV {
		q.Set("format", "csv")
		raw, err := c.do(ctx, "GET", "/v1/admin/reports/growth?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		_, err = c.out.Write(raw)
		return err
	}
	return c.show(ctx, "GET", "/v1/admin/reports/growth?"+q.Encode(), nil, growthTable)
}

func growthTable(w io.Writer, raw []byte) error {
	var r struct {
		Rows []struct {
			Country     string
			Month       string
			Creators1k  int      `json:"creators_1k"`
			Creators10k int      `json:"creators_10k"`
			Ago1k       int      `json:"creators_1k_year_before"`
			Ago10k      int      `json:"creators_10k_year_before"`
			YoY1k       *float64 `json:"yoy_1k_percent"`
			YoY10k      *float64 `json:"yoy_10k_percent"`
			Unconverted int      `json:"unconverted_entries"`
		}
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	pct := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%+.1f%%", *p)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTRY\tMONTH\t>=$1K\tYEAR BEFORE\tYOY\t>=$10K\tYEAR BEFORE\tYOY\tUNCONVERTED")
	for _, x := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\t%d\n", x.Country, x.Month, x.Creators1k, x.Ago1k, pct(x.YoY1k),
			x.Creators10k, x.Ago10k, pct(x.YoY10k), x.Unconverted)
	}
	return tw.Flush()
}

func cmdPromoCreate(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	pf := flag.NewFlagSet("promo create", flag.ContinueOnError)
	pf.SetOutput(errOut)
	percent := pf.Int("percent", 0, "percent off, 1 to 99")
	amount := pf.Int64("amount", 0, "amount off, minor units (with --currency)")
	currency := pf.String("currency", "", "the amount's currency")
	maxN := pf.Int("max", 0, "how many checkouts may use it")
	stream := pf.String("stream", "", "only this stream (default: every ticket of the creator)")
	expires := pf.String("expires", "", "when it stops applying (RFC 3339 or YYYY-MM-DD)")
	if len(rest) < 4 {
		return fmt.Errorf("usage: promo create <creator-id> <CODE> (--percent N | --amount N --currency C) --max N")
	}
	if err := pf.Parse(rest[4:]); err != nil {
		return err
	}
	body := map[string]any{"code": rest[3], "max_redemptions": *maxN, "stream_id": *stream}
	if *percent != 0 {
		body["percent_off"] = *percent
	}
	if *amount != 0 {
		body["amount_off"], body["currency"] = *amount, strings.ToUpper(*currency)
	}
	if *expires != "" {
		t, err := parseTime(*expires)
		if err != nil {
			return fmt.Errorf("--expires: %w", err)
		}
		body["expires_at"] = t
	}
	return c.show(ctx, "POST", "/v1/creators/"+url.PathEscape(rest[2])+"/promo-codes", body, func(w io.Writer, raw []byte) error {
		return keyValues(w, raw, "id", "code", "percent_off", "display", "stream_id", "max_redemptions", "expires_at")
	})
}

func cmdPromoList(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	path := "/v1/admin/promo-codes"
	if len(rest) == 3 {
		path = "/v1/creators/" + url.PathEscape(rest[2]) + "/promo-codes"
	}
	return c.show(ctx, "GET", path, nil, func(w io.Writer, raw []byte) error {
		var r struct {
			Codes []map[string]any `json:"promo_codes"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tCREATOR\tSTREAM\tOFF\tREDEEMED\tHELD\tMAX")
		for _, p := range r.Codes {
			off := fmt.Sprintf("%v%%", p["percent_off"])
			if d, ok := p["display"]; ok {
				off = fmt.Sprint(d)
			}
			fmt.Fprintf(tw, "%v\t%v\t%v\t%s\t%v\t%v\t%v\n", p["code"], p["creator_id"], p["stream_id"], off, p["redeemed"], p["reserved"], p["max_redemptions"])
		}
		return tw.Flush()
	})
}

func cmdWebhooksAdd(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	wf := flag.NewFlagSet("webhooks add", flag.ContinueOnError)
	wf.SetOutput(errOut)
	events := wf.String("events", "", "comma-separated event types (default: all)")
	if len(rest) < 3 {
		return fmt.Errorf("usage: webhooks add <url> [--events type,type]")
	}
	if err := wf.Parse(rest[3:]); err != nil {
		return err
	}
	body := map[string]any{"url": rest[2]}
	if *events != "" {
		body["event_types"] = strings.Split(*events, ",")
	}
	return c.show(ctx, "POST", "/v1/admin/webhooks/endpoints", body, func(w io.Writer, raw []byte) error {
		return keyValues(w, raw, "id", "url", "secret")
	})
}

func cmdWebhooksList(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	return c.show(ctx, "GET", "/v1/admin/webhooks/endpoints", nil, listTable("endpoints", "ID=id", "URL=url", "EVENTS=event_types"))
}

func cmdWebhooksDeliveries(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	df := flag.NewFlagSet("webhooks deliveries", flag.ContinueOnError)
	df.SetOutput(errOut)
	state := df.String("state", "", "pending, delivered or failed")
	typ := df.String("type", "", "event type")
	event := df.String("event", "", "event id")
	if err := df.Parse(rest[2:]); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"state": *state, "event_type": *typ, "event_id": *event} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return c.show(ctx, "GET", "/v1/admin/webhooks/deliveries?"+q.Encode(), nil, deliveriesTable)
}

var deliveriesTable = listTable("deliveries", "DELIVERY=id", "EVENT=event_id", "TYPE=event_type", "STATE=state",
	"ATTEMPTS=attempts", "LAST=last_status", "ENDPOINT=endpoint_url")

func cmdWebhooksReplay(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: webhooks replay <delivery-id>")
	}
	return c.show(ctx, "POST", "/v1/admin/webhooks/deliveries/"+url.PathEscape(rest[2])+"/replay", nil, func(w io.Writer, raw []byte) error {
		return keyValues(w, raw, "id", "event_id", "event_type", "state", "endpoint_url")
	})
}

// cmdUSDRatesSet sends a CSV of date,currency,usd_per_unit rows (a header row allowed).
func cmdUSDRatesSet(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: usd-rates set <file.csv>")
	}
	f, err := os.Open(rest[2])
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", rest[2], err)
	}
	var rates []map[string]string
	for i, r := range recs {
		if len(r) != 3 {
			return fmt.Errorf("%s line %d: want date,currency,usd_per_unit", rest[2], i+1)
		}
		if i == 0 && strings.EqualFold(strings.TrimSpace(r[0]), "date") {
			continue
		}
		rates = append(rates, map[string]string{"date": strings.TrimSpace(r[0]), "currency": strings.TrimSpace(r[1]), "usd_per_unit": strings.TrimSpace(r[2])})
	}
	return c.show(ctx, "PUT", "/v1/admin/usd-rates", map[string]any{"rates": rates}, func(w io.Writer, raw []byte) error {
		var out struct{ Converted int }
		if err := json.Unmarshal(raw, &out); err != nil {
			return err
		}
		if err := usdRatesTable(w, raw); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "%d ledger entries booked without a rate were converted\n", out.Converted)
		return err
	})
}

func cmdUSDRatesList(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	return c.show(ctx, "GET", "/v1/admin/usd-rates", nil, usdRatesTable)
}

var usdRatesTable = listTable("rates", "DATE=date", "CURRENCY=currency", "USD PER UNIT=usd_per_unit")

// cmdLedgerImport sends a JSON file of {"entries": [...]} or a bare array of entries.
func cmdLedgerImport(ctx context.Context, c *client, rest []string, errOut io.Writer) error {
	if len(rest) != 3 {
		return fmt.Errorf("usage: ledger import <file.json>")
	}
	raw, err := os.ReadFile(rest[2])
	if err != nil {
		return err
	}
	var body any
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("%s: %w", rest[2], err)
	}
	if list, ok := body.([]any); ok {
		body = map[string]any{"entries": list}
	}
	return c.show(ctx, "POST", "/v1/admin/ledger/import", body, func(w io.Writer, raw []byte) error {
		return keyValues(w, raw, "added", "skipped")
	})
}
