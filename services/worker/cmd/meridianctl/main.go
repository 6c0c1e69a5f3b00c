// Command meridianctl is the operator's tool: migrate the database, load the
// demo data, mint demo tokens, and run the development page sink.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
	_ "time/tzdata"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/config"
	"meridian.dev/platform/postgres"
	"meridian.dev/worker/demo"
	"meridian.dev/worker/server"
	wf "meridian.dev/workflows/escalation"
)

const usage = `usage: meridianctl <command>

commands:
  migrate    create the database if needed and apply every migration
  seed       load the demo sites and personas (safe to run again)
  tokens     print a demo bearer token per persona (-ttl 720h)
  pagesink   run the development page receiver: verifies and prints each page (-addr 127.0.0.1:8089)
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
		fmt.Printf("# %s — roles %v, regions %v\n%s\n\n", p.Name, p.Roles, p.Regions, toks[p.Subject])
	}
	return nil
}

func pagesink(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pagesink", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var r config.Reader
	secret := r.String("MERIDIAN_PAGER_SECRET", server.DevelopmentPagerSecret)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pages", func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := wf.Verify(secret, req.Header.Get("X-Meridian-Timestamp"), req.Header.Get("X-Meridian-Signature"), body, time.Now(), 5*time.Minute); err != nil {
			fmt.Printf("REJECTED page: %v\n", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p wf.Page
		_ = json.Unmarshal(body, &p)
		names := make([]string, 0, len(p.Recipients))
		for _, r := range p.Recipients {
			names = append(names, r.Name)
		}
		sort.Strings(names)
		fmt.Printf("PAGE tier %d (%s) %s %s/%s at %s [%s]: %q → %v (key %s)\n",
			p.Tier, p.TierName, p.Region, p.Level, p.Posture, p.Site, p.SiteName, p.Note, names, p.IdempotencyKey)
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	fmt.Printf("page sink listening on http://%s/pages (signature verified with MERIDIAN_PAGER_SECRET)\n", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
