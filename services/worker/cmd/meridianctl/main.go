// Command meridianctl is the operator's tool: migrate the database, load the
// demo data, mint demo tokens, and run the development page sink and feed
// server.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/config"
	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
	"meridian.dev/platform/postgres"
	"meridian.dev/worker/demo"
	"meridian.dev/worker/server"
)

const usage = `usage: meridianctl <command>

commands:
  migrate    create the database if needed and apply every migration
  seed       load the demo sites and personas (safe to run again)
  tokens     print a demo bearer token per persona (-ttl 720h)
  pagesink   run the development page receiver: verifies and prints each page
             (webhooks and Slack on -addr 127.0.0.1:8089, email on -smtp 127.0.0.1:2525)
  feedserver serve the project's advisory and earthquake feed fixtures at the
             real services' paths (-addr 127.0.0.1:8090), for development
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "migrate":
		err = migrate(ctx)
	case "seed":
		err = seed(ctx)
	case "tokens":
		err = tokens(os.Args[2:])
	case "pagesink":
		err = pagesink(ctx, os.Args[2:])
	case "feedserver":
		err = feedServer(ctx, os.Args[2:])
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "meridianctl:", err)
		os.Exit(1)
	}
}

func common() (config.Common, *config.Reader) {
	var r config.Reader
	return config.ReadCommon(&r), &r
}

func migrate(ctx context.Context) error {
	c, r := common()
	if err := r.Err(); err != nil {
		return err
	}
	if err := postgres.EnsureDatabase(ctx, c.DatabaseURL); err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, c.DatabaseURL); err != nil {
		return err
	}
	fmt.Println("migrations applied")
	return nil
}

func seed(ctx context.Context) error {
	c, r := common()
	if err := r.Err(); err != nil {
		return err
	}
	pool, err := postgres.Connect(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := demo.Load(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Printf("demo data loaded: %d new sites (%d in the demo set), %d personas\n", n, len(demo.Sites), len(demo.Personas))
	trips, err := demo.LoadTravel(ctx, pool, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("demo travel loaded: %d travellers, %d new trips\n", len(demo.Travellers), trips)
	added, err := demo.LoadProtection(ctx, pool, time.Now())
	if err != nil {
		return err
	}
	if added {
		fmt.Printf("demo protection loaded: %s, with an active detail in London (check-in every %s)\n", demo.ProtecteeName, demo.DemoInterval)
	}
	return nil
}

func tokens(args []string) error {
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	ttl := fs.Duration("ttl", 30*24*time.Hour, "how long the tokens stay valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, r := common()
	cfg := auth.ReadConfig(r, c.Production())
	if err := r.Err(); err != nil {
		return err
	}
	if c.Production() {
		return fmt.Errorf("refusing to mint demo tokens with MERIDIAN_ENV=production")
	}
	toks, err := demo.Tokens(cfg, *ttl)
	if err != nil {
		return err
	}
	for _, p := range demo.Personas {
		fmt.Printf("# %s — roles %v, regions %v\n", p.Name, p.Roles, p.Regions)
		if codes, ok := demo.CheckInCodes[p.Subject]; ok {
			fmt.Printf("# check-in code %s, duress code %s\n", codes[0], codes[1])
		}
		fmt.Printf("%s\n\n", toks[p.Subject])
	}
	return nil
}

func pagesink(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pagesink", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8089", "HTTP listen address (webhook pages on /pages, Slack messages on /slack/...)")
	smtpAddr := fs.String("smtp", "127.0.0.1:2525", "SMTP listen address (email pages)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var r config.Reader
	secret := r.String("MERIDIAN_PAGER_SECRET", server.DevelopmentPagerSecret)
	rx, err := sink.Start(ctx, sink.Options{
		HTTPAddr:  *addr,
		SMTPAddr:  *smtpAddr,
		Secret:    secret,
		OnReceive: printPage,
		OnReject: func(rec sink.Received, err error) {
			fmt.Printf("REJECTED %s page%s: %v\n", rec.Channel, toSuffix(rec.To), err)
		},
	})
	if err != nil {
		return err
	}
	defer rx.Close()
	fmt.Printf("page sink listening on %s/pages (signature verified with MERIDIAN_PAGER_SECRET), %s/slack/... and smtp://%s\n",
		rx.URL(), rx.URL(), rx.SMTPAddr())
	<-ctx.Done()
	return rx.Close()
}

// printPage prints one line per page: channel, recipient, what and where,
// idempotency key and escalation.
func printPage(rec sink.Received) {
	key, escalation := rec.IdempotencyKey, rec.EscalationID
	if p := rec.Page; p != nil {
		// A webhook's body names them too, for senders without the headers.
		key, escalation = cmp.Or(key, p.IdempotencyKey), cmp.Or(escalation, p.EscalationID)
	}
	ids := fmt.Sprintf("(key %s)", key)
	if escalation != "" {
		ids = fmt.Sprintf("(key %s, escalation %s)", key, escalation)
	}
	switch {
	case rec.Page != nil && rec.Page.Topic != "":
		fmt.Printf("PAGE %s%s: %q %s\n", rec.Channel, toSuffix(rec.To), rec.Page.Subject(), ids)
	case rec.Page != nil:
		p := rec.Page
		names := make([]string, 0, len(p.Recipients))
		for _, r := range p.Recipients {
			names = append(names, r.Name)
		}
		sort.Strings(names)
		fmt.Printf("PAGE %s%s tier %d (%s) %s %s/%s at %s [%s]: %q → %v %s\n",
			rec.Channel, toSuffix(rec.To), p.Tier, p.TierName, p.Region, p.Level, p.Posture, p.Site, p.SiteName, p.Note, names, ids)
	case rec.Channel == notify.ChannelEmail:
		fmt.Printf("PAGE %s → %s: %q %s\n", rec.Channel, rec.To, rec.Subject, ids)
	default:
		text, _, _ := strings.Cut(rec.Text, "\n")
		fmt.Printf("PAGE %s%s: %q %s\n", rec.Channel, toSuffix(rec.To), text, ids)
	}
}

// toSuffix names the person a webhook or Slack URL belongs to, if any.
func toSuffix(to string) string {
	if to == "" {
		return ""
	}
	return " → " + to
}
