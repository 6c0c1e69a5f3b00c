package notify_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"meridian.dev/platform/notify"
)

// The secret parts of a URL: a Slack incoming webhook's path is its
// credential, and people put tokens in queries and userinfo too.
const (
	secretUser  = "aliceUSERSECRET"
	secretPass  = "PASSWORDSECRET"
	secretPath  = "/services/T0PATHSECRET/B0PATHSECRET/XXXXTOKENSECRET"
	secretQuery = "token=QUERYSECRET&sig=SIGSECRET"
	// What a redirect points at.
	redirectPath  = "/hooks/REDIRPATHSECRET"
	redirectQuery = "key=REDIRQUERYSECRET"
	redirectUser  = "bobREDIRUSER"
	redirectPass  = "REDIRPASSSECRET"
)

// secrets must never appear in an error, a span or a log.
var secrets = []string{secretUser, secretPass, "T0PATHSECRET", "B0PATHSECRET", "XXXXTOKENSECRET", "/services/",
	"QUERYSECRET", "SIGSECRET", "token=", "REDIRPATHSECRET", "/hooks/", "REDIRQUERYSECRET", "key=", redirectUser, redirectPass}

// secretURL is scheme://host with a secret path, query and userinfo.
func secretURL(scheme, host string) string {
	return scheme + "://" + secretUser + ":" + secretPass + "@" + host + secretPath + "?" + secretQuery
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// silentAddr accepts connections and never answers.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c) // held open, never read or answered
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// redirector answers every request with a redirect to location.
func redirector(t *testing.T, location func(r *http.Request) string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, location(r), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// assertRedacted fails if err, or any error it wraps (Temporal records the
// whole chain), names a secret; and unless it names the scheme and host, and
// says what went wrong.
func assertRedacted(t *testing.T, err error, shown string, cause ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("the page was delivered; want a transport failure")
	}
	t.Logf("error: %v", err)
	if leaked := leaks(err, secrets); len(leaked) > 0 {
		t.Errorf("error %q leaks %q", err.Error(), leaked)
	}
	if !strings.Contains(err.Error(), shown) {
		t.Errorf("error %q does not name %q", err.Error(), shown)
	}
	for _, c := range cause {
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c)) {
			return
		}
	}
	t.Errorf("error %q says none of %q: what went wrong is lost", err.Error(), cause)
}

// leaks lists the secrets in the text of err or of any error it wraps.
func leaks(err error, secrets []string) []string {
	var out []string
	for _, s := range secrets {
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// sendTo sends a page on each kind of address that reaches target: a Slack
// webhook and a webhook a person set, and the organisation's webhook.
// Each send has its own context, which ends after timeout when one is given.
func sendTo(t *testing.T, timeout time.Duration, target string, check func(t *testing.T, err error)) {
	t.Helper()
	page := notify.Page{IdempotencyKey: "e1:tier1:round1:ana:X", EscalationID: "e1", Tier: 1, Site: "LON-HQ", SentAt: time.Now()}
	s := notify.NewSender(secret, target, notify.SMTPConfig{})
	for _, c := range []struct {
		name    string
		channel string
		a       notify.Addresses
	}{
		{"slack", notify.ChannelSlack, notify.Addresses{SlackURL: target}},
		{"personal webhook", notify.ChannelWebhook, notify.Addresses{WebhookURL: target}},
		{"organisation webhook", notify.ChannelWebhook, notify.Addresses{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, err := s.Resolve(c.channel, c.a)
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if timeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, timeout)
			}
			defer cancel()
			check(t, s.Send(ctx, addr, page))
		})
	}
}

func TestTransportFailuresShowOnlySchemeAndHost(t *testing.T) {
	t.Parallel()
	transient := func(t *testing.T, err error) {
		t.Helper()
		if notify.IsPermanent(err) {
			t.Errorf("%v is marked permanent; a transport failure is worth a retry", err)
		}
	}

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		host := closedAddr(t)
		sendTo(t, 0, secretURL("http", host), func(t *testing.T, err error) {
			assertRedacted(t, err, "http://"+host, "connection refused")
			transient(t, err)
		})
	})

	t.Run("unresolvable host", func(t *testing.T) {
		t.Parallel()
		host := "hooks-meridian-test.invalid"
		sendTo(t, 0, secretURL("https", host), func(t *testing.T, err error) {
			assertRedacted(t, err, "https://"+host, "lookup "+host)
			transient(t, err)
		})
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		host := silentAddr(t)
		sendTo(t, 300*time.Millisecond, secretURL("http", host), func(t *testing.T, err error) {
			assertRedacted(t, err, "http://"+host, "deadline exceeded", "timeout")
			transient(t, err)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v: errors.Is(context.DeadlineExceeded) = false", err)
			}
		})
	})

	t.Run("TLS to a plain HTTP server", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(srv.Close)
		host := srv.Listener.Addr().String()
		sendTo(t, 0, secretURL("https", host), func(t *testing.T, err error) {
			assertRedacted(t, err, "https://"+host, "HTTP response to HTTPS client", "tls")
			transient(t, err)
		})
	})

	t.Run("TLS certificate not trusted", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure, seen from the server
		t.Cleanup(srv.Close)
		host := srv.Listener.Addr().String()
		sendTo(t, 0, secretURL("https", host), func(t *testing.T, err error) {
			assertRedacted(t, err, "https://"+host, "certificate")
			transient(t, err)
		})
	})

	t.Run("redirect to a closed port", func(t *testing.T) {
		t.Parallel()
		closed := closedAddr(t)
		host := redirector(t, func(*http.Request) string {
			return "http://" + redirectUser + ":" + redirectPass + "@" + closed + redirectPath + "?" + redirectQuery
		})
		sendTo(t, 0, secretURL("http", host), func(t *testing.T, err error) {
			assertRedacted(t, err, "http://"+host, "connection refused")
			transient(t, err)
		})
	})

	t.Run("too many redirects", func(t *testing.T) {
		t.Parallel()
		host := redirector(t, func(r *http.Request) string {
			return fmt.Sprintf("%s/%d?%s", redirectPath, len(r.URL.Path), redirectQuery)
		})
		sendTo(t, 0, secretURL("http", host), func(t *testing.T, err error) {
			assertRedacted(t, err, "http://"+host, "redirects")
			transient(t, err)
		})
	})

	t.Run("unparseable redirect", func(t *testing.T) {
		t.Parallel()
		host := redirector(t, func(*http.Request) string { return redirectPath + "%zz?" + redirectQuery })
		sendTo(t, 0, secretURL("http", host), func(t *testing.T, err error) {
			assertRedacted(t, err, "http://"+host, "Location")
			transient(t, err)
		})
	})
}

// A URL the HTTP client cannot even parse is refused before anything is
// dialled, and url.Parse's error quotes the URL.
func TestUnparseableURLShowsOnlySchemeAndHost(t *testing.T) {
	t.Parallel()
	host := "hooks.example.com"
	for _, target := range []string{
		strings.Replace(secretURL("https", host), host, host+":44x", 1), // a bad port
		secretURL("https", host) + "\x7fdel",                            // a control character
		"https://" + host + secretPath + "%zz",                          // a bad escape in the path
	} {
		sendTo(t, 0, target, func(t *testing.T, err error) {
			assertRedacted(t, err, "https://"+host, "URL")
			if !notify.IsPermanent(err) {
				t.Errorf("%v is not permanent; a bad URL stays bad", err)
			}
		})
	}
}

// otelhttp records the URL it is given as url.full: the spans of a page
// must name only the scheme and host.
func TestSpansShowOnlySchemeAndHost(t *testing.T) {
	// Not parallel: it sets the global tracer provider.
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.RequestURI())
	}))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	closed := closedAddr(t)
	for _, target := range []string{secretURL("http", host), secretURL("http", closed)} {
		sendTo(t, 0, target, func(*testing.T, error) {})
	}
	// The receiver still got the real URL.
	mu.Lock()
	defer mu.Unlock()
	if want := secretPath + "?" + secretQuery; len(got) != 3 || got[0] != want || got[1] != want || got[2] != want {
		t.Fatalf("the receiver got %q, want 3 requests for %q", got, want)
	}
	spans := rec.Ended()
	if len(spans) < 6 {
		t.Fatalf("%d spans, want one per page (6)", len(spans))
	}
	for _, s := range spans {
		text := []string{s.Name(), s.Status().Description}
		for _, a := range s.Attributes() {
			text = append(text, string(a.Key)+"="+a.Value.String())
			if a.Key == attribute.Key("url.full") {
				if u, err := url.Parse(a.Value.AsString()); err != nil || u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
					t.Errorf("span %s: url.full = %q, want only scheme and host", s.Name(), a.Value.AsString())
				}
			}
		}
		for _, e := range s.Events() {
			text = append(text, e.Name)
			for _, a := range e.Attributes {
				text = append(text, a.Value.String())
			}
		}
		for _, x := range text {
			for _, secret := range secrets {
				if strings.Contains(x, secret) {
					t.Errorf("span %s records %q, which contains %q", s.Name(), x, secret)
				}
			}
		}
	}
}

// The SMTP password is never in an error, even when the relay echoes what
// it was sent.
func TestSMTPPasswordIsNotInErrors(t *testing.T) {
	t.Parallel()
	const user, password = "meridian-relay", "SMTPPASSWORDSECRET"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go echoingRelay(c)
		}
	}()
	s := notify.NewSender(secret, "", notify.SMTPConfig{Addr: ln.Addr().String(), Username: user, Password: password, Timeout: 5 * time.Second})
	addr, err := s.Resolve(notify.ChannelEmail, notify.Addresses{Email: "ana@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), addr, notify.Page{IdempotencyKey: "k", EscalationID: "e1", Tier: 1})
	if err == nil {
		t.Fatal("the relay refused the login, yet the page was sent")
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if leaked := leaks(err, []string{password, plain}); len(leaked) > 0 {
		t.Errorf("error %q leaks the password: %q", err.Error(), leaked)
	}
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "535") || !strings.Contains(err.Error(), "authenticate") {
		t.Errorf("error = %v, want a permanent authentication failure that keeps the relay's 535", err)
	}
}

// echoingRelay is an SMTP relay that refuses every login, quoting it.
func echoingRelay(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	write := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
	write("220 relay.test ESMTP")
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		line := strings.TrimSpace(string(buf[:n]))
		switch cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0]); cmd {
		case "EHLO", "HELO":
			write("250-relay.test")
			write("250 AUTH PLAIN")
		case "AUTH":
			write("535 5.7.8 authentication failed for " + strings.TrimPrefix(line, "AUTH PLAIN "))
		case "QUIT":
			write("221 bye")
			return
		default:
			write("250 ok")
		}
	}
}
