package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"meridian.dev/platform/advisory/feed/feedserver"
)

// feedserver serves the project's feed fixtures where `make run` points the
// worker, so a newcomer sees advisories and earthquakes with no internet.
func feedServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("feedserver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "HTTP listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("feedserver: %w", err)
	}
	base := "http://" + ln.Addr().String()
	// The earthquakes are moved to today, so they are near today's travellers.
	handler, err := feedserver.NewRecent(time.Now())
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("development feed server on %s\n", base)
	for src, u := range feedserver.URLs(base) {
		fmt.Printf("  %-17s %s\n", src, u)
	}
	fmt.Printf("  %-17s %s\n", "USGS", feedserver.USGSURL(base))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
