package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// Sender delivers pages. Its zero value cannot send; use NewSender.
type Sender struct {
	// Secret signs webhook pages.
	Secret string
	// DefaultWebhookURL receives the WEBHOOK pages of people with no
	// webhook of their own: the organisation's paging bridge.
	DefaultWebhookURL string
	// SMTP sends email; without an Addr, EMAIL is not available.
	SMTP SMTPConfig
	// Client posts to the organisation's webhook.
	Client *http.Client
	// PersonalClient posts to URLs people set for themselves. Anyone may
	// set theirs, so with RestrictPersonalTargets it refuses loopback,
	// private and link-local destinations: a webhook URL must not turn the
	// worker into a way into the internal network.
	PersonalClient *http.Client
	// personalHTTPS refuses people's own URLs that are not https: a page
	// names a site, its status and a note, which do not cross the internet
	// in the clear.
	personalHTTPS bool
}

// SenderOptions refine NewSender.
type SenderOptions struct {
	// RestrictPersonalTargets refuses people's own webhook and Slack URLs
	// that are not https or that reach loopback, private or link-local
	// addresses (production).
	RestrictPersonalTargets bool
}

// SMTPConfig says how to reach the mail relay.
type SMTPConfig struct {
	Addr     string // host:port; empty disables email
	From     string
	Username string // PLAIN auth when set (only over TLS, or to localhost)
	Password string
	Timeout  time.Duration
}

// NewSender returns a sender with traced HTTP clients.
func NewSender(secret, defaultWebhookURL string, smtpCfg SMTPConfig, opts ...SenderOptions) *Sender {
	if smtpCfg.From == "" {
		smtpCfg.From = "meridian@localhost"
	}
	if smtpCfg.Timeout == 0 {
		smtpCfg.Timeout = 15 * time.Second
	}
	var o SenderOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	personal := http.DefaultTransport
	if o.RestrictPersonalTargets {
		// No proxy: the check must see the real destination.
		personal = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, Control: refuseInternal}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        100,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	return &Sender{Secret: secret, DefaultWebhookURL: defaultWebhookURL, SMTP: smtpCfg, personalHTTPS: o.RestrictPersonalTargets,
		Client:         &http.Client{Timeout: 10 * time.Second, Transport: traced(http.DefaultTransport)},
		PersonalClient: &http.Client{Timeout: 10 * time.Second, Transport: traced(personal)},
	}
}

// traced traces requests with otelhttp, which records the URL it is given
// (url.full, without the userinfo but with the path and query): the spans
// must name only the scheme and host, as a Slack webhook's path is its
// credential. otelhttp is handed the request with its URL cut to scheme and
// host, and the real URL is put back under it, before the request is sent.
func traced(base http.RoundTripper) http.RoundTripper {
	return showSchemeAndHost{next: otelhttp.NewTransport(restoreURL{next: base})}
}

type realURLKey struct{}

type showSchemeAndHost struct{ next http.RoundTripper }

func (t showSchemeAndHost) RoundTrip(req *http.Request) (*http.Response, error) {
	shown := req.Clone(context.WithValue(req.Context(), realURLKey{}, req.URL))
	shown.URL = &url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host}
	resp, err := t.next.RoundTrip(shown)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

type restoreURL struct{ next http.RoundTripper }

func (t restoreURL) RoundTrip(req *http.Request) (*http.Response, error) {
	if u, ok := req.Context().Value(realURLKey{}).(*url.URL); ok {
		req = req.WithContext(req.Context()) // a shallow copy: a RoundTripper must not change its request
		req.URL = u
	}
	return t.next.RoundTrip(req)
}

// errInternalTarget: a personal URL that reaches the internal network.
var errInternalTarget = errors.New("refused: the address is loopback, private or link-local")

// refuseInternal runs after name resolution, on the address about to be
// dialled, so a public name pointing inside is refused too.
func refuseInternal(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return errInternalTarget
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return errInternalTarget
	}
	return nil
}

// Address is where one person is reached on one channel.
type Address struct {
	Channel string
	// Target is a URL (WEBHOOK, SLACK) or an email address (EMAIL).
	Target string
	// Personal: the person set Target themselves (not the organisation's).
	Personal bool
}

// Addresses says how a person can be reached, from their directory entry.
type Addresses struct {
	Email      string
	WebhookURL string
	SlackURL   string
}

// Resolve picks the address of channel for a person, or explains why there
// is none. WEBHOOK falls back to the organisation's default webhook.
func (s *Sender) Resolve(channel string, a Addresses) (Address, error) {
	switch channel {
	case ChannelWebhook:
		if a.WebhookURL != "" {
			return s.personal(channel, a.WebhookURL)
		}
		if s.DefaultWebhookURL == "" {
			return Address{}, Permanent(fmt.Errorf("no webhook on file and no default webhook configured"))
		}
		return Address{Channel: channel, Target: s.DefaultWebhookURL}, nil
	case ChannelEmail:
		if s.SMTP.Addr == "" {
			return Address{}, Permanent(fmt.Errorf("email is not configured (MERIDIAN_SMTP_ADDR)"))
		}
		if a.Email == "" {
			return Address{}, Permanent(fmt.Errorf("no email address on file"))
		}
		return Address{Channel: channel, Target: a.Email}, nil
	case ChannelSlack:
		if a.SlackURL == "" {
			return Address{}, Permanent(fmt.Errorf("no Slack webhook on file"))
		}
		return s.personal(channel, a.SlackURL)
	}
	return Address{}, Permanent(fmt.Errorf("unknown channel %q", channel))
}

// personal is the address of a URL a person set for themselves.
func (s *Sender) personal(channel, target string) (Address, error) {
	if s.personalHTTPS && !strings.HasPrefix(strings.ToLower(target), "https://") {
		return Address{}, Permanent(fmt.Errorf("%s %s: a URL of your own must use https", strings.ToLower(channel), RedactURL(target)))
	}
	return Address{Channel: channel, Target: target, Personal: true}, nil
}

// Send delivers page to addr. Errors marked Permanent are not worth a retry.
func (s *Sender) Send(ctx context.Context, addr Address, page Page) error {
	page.Channel = addr.Channel
	switch addr.Channel {
	case ChannelWebhook:
		body, err := json.Marshal(page)
		if err != nil {
			return Permanent(fmt.Errorf("encode page: %w", err))
		}
		ts := time.Now().Unix()
		return s.post(ctx, addr, body, map[string]string{
			HeaderTimestamp: strconv.FormatInt(ts, 10),
			HeaderSignature: Sign(s.Secret, ts, body),
		}, page)
	case ChannelSlack:
		// Slack's incoming webhooks (and Mattermost's, Rocket.Chat's) take
		// {"text": ...}; the URL itself is the credential.
		body, err := json.Marshal(map[string]string{"text": slackEscape(page.Text())})
		if err != nil {
			return Permanent(fmt.Errorf("encode slack message: %w", err))
		}
		return s.post(ctx, addr, body, nil, page)
	case ChannelEmail:
		return s.hideSMTPPassword(s.mail(ctx, addr.Target, page))
	}
	return Permanent(fmt.Errorf("unknown channel %q", addr.Channel))
}

func (s *Sender) post(ctx context.Context, addr Address, body []byte, headers map[string]string, page Page) error {
	target := addr.Target
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		// url.Parse's error quotes the URL whole.
		return Permanent(fmt.Errorf("%s %s: bad URL: %w", strings.ToLower(page.Channel), RedactURL(target), hideURL(target, err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, page.IdempotencyKey)
	req.Header.Set(HeaderEscalation, page.EscalationID)
	req.Header.Set(HeaderChannel, page.Channel)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := s.Client
	if addr.Personal && s.PersonalClient != nil {
		client = s.PersonalClient
	}
	resp, err := client.Do(req)
	if errors.Is(err, errInternalTarget) {
		return Permanent(fmt.Errorf("%s %s: %w", strings.ToLower(page.Channel), RedactURL(target), errInternalTarget))
	}
	if err != nil {
		// The client's *url.Error quotes the URL whole (path, query, user
		// name), or after a redirect the URL redirected to.
		return fmt.Errorf("%s %s: %w", strings.ToLower(page.Channel), RedactURL(target), hideURL(target, err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("%s %s answered %s", strings.ToLower(page.Channel), RedactURL(target), resp.Status)
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return err
	}
	if resp.StatusCode/100 == 4 {
		return Permanent(err) // the receiver refuses this address or signature
	}
	return err
}

// slackEscape keeps text written by people (notes, site names) from being
// read as Slack markup: "<!channel>" in a note must not notify a channel.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// RedactURL keeps scheme and host: a Slack webhook's path is its secret, and
// errors end up on the timeline. It reads a URL url.Parse refuses too.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		if u.Host == "" || !plainHost(u.Host) {
			return "(bad URL)"
		}
		return u.Scheme + "://" + u.Host
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" || strings.ContainsFunc(scheme, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '+' || r == '-' || r == '.')
	}) {
		return "(bad URL)"
	}
	authority, _ := splitAuthority(rest)
	authority = authority[strings.LastIndex(authority, "@")+1:] // without the userinfo
	if authority == "" || !plainHost(authority) {
		return "(bad URL)"
	}
	return strings.ToLower(scheme) + "://" + authority
}

// plainHost: host (or host:port) holds nothing but what names a host.
func plainHost(host string) bool {
	return !strings.ContainsFunc(host, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".-_:[]%", r))
	})
}

// splitAuthority splits what follows "scheme://" into the authority
// (userinfo@host:port) and the rest (path, query, fragment).
func splitAuthority(rest string) (authority, tail string) {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, ""
}

// secretParts lists the parts of raw other than its scheme and host, in the
// forms an error may quote them: path, query, fragment, userinfo. A part
// that may also be read in a host name (a user name alone) is left out.
func secretParts(raw string) []string {
	var parts []string
	add := func(p string, min int) {
		if len(p) >= min {
			parts = append(parts, p)
		}
	}
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		authority, tail := splitAuthority(rest)
		add(tail, 2)
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			add(authority[:at+1], 2)
			if _, pass, ok := strings.Cut(authority[:at], ":"); ok {
				add(pass, 4)
			}
		}
	} else {
		add(raw, 2) // a relative URL (a redirect's Location) is all secret
	}
	if u, err := url.Parse(raw); err == nil {
		add(u.EscapedPath(), 2)
		add(u.Path, 2)
		add(u.RawQuery, 4)
		add(u.Fragment, 4)
		add(u.Opaque, 4)
		if u.User != nil {
			add(u.User.String()+"@", 2)
			if pass, ok := u.User.Password(); ok {
				add(pass, 4)
			}
		}
	}
	// Longest first, so that a part inside another goes with it.
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) })
	return parts
}

// urlInText is a URL an error quotes.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]*`)

// hideURL returns the cause of a failed request without the URLs the HTTP
// client and url.Parse name in it: a *url.Error's text quotes the URL whole,
// or after a redirect the URL redirected to (the Location as sent, perhaps
// relative). What went wrong stays: "connection refused", "no such host",
// the TLS error, a timeout. The result does not unwrap (Temporal records the
// text of each error of a chain), but errors.Is sees through it.
func hideURL(target string, err error) error {
	msg := err.Error()
	urls := []string{target}
	var ue *url.Error
	if errors.As(err, &ue) {
		urls = append(urls, ue.URL)
	}
	if top, ok := err.(*url.Error); ok {
		// The client's "Post \"URL\": cause": keep the cause.
		msg = top.Err.Error()
		if strings.HasPrefix(msg, "failed to parse Location header") {
			// net/http quotes the Location, and url.Parse's error quotes it again.
			msg = "the Location of a redirect is not a valid URL"
		}
		if to := RedactURL(top.URL); to != "(bad URL)" && to != RedactURL(target) {
			msg = "redirected to " + to + ": " + msg
		}
	}
	msg = urlInText.ReplaceAllStringFunc(msg, RedactURL)
	for _, u := range urls {
		for _, part := range secretParts(u) {
			msg = strings.ReplaceAll(msg, part, "…")
		}
	}
	return &redactedError{msg: msg, err: err}
}

// redactedError is an error whose text has had secrets taken out. It does
// not unwrap, so the text of the original stays out of anything that prints
// a chain, but errors.Is and a net.Error's Timeout still see through it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Is reports whether the original error is target.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// Timeout reports whether the original error was a timeout.
func (e *redactedError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

// hideSMTPPassword takes the SMTP password out of err's text: a relay may
// quote what it was sent (with PLAIN auth, base64 of the password).
func (s *Sender) hideSMTPPassword(err error) error {
	if err == nil || s.SMTP.Password == "" {
		return err
	}
	msg := err.Error()
	for _, secret := range []string{
		base64.StdEncoding.EncodeToString([]byte("\x00" + s.SMTP.Username + "\x00" + s.SMTP.Password)),
		base64.RawStdEncoding.EncodeToString([]byte("\x00" + s.SMTP.Username + "\x00" + s.SMTP.Password)),
		base64.StdEncoding.EncodeToString([]byte(s.SMTP.Password)),
		s.SMTP.Password,
	} {
		msg = strings.ReplaceAll(msg, secret, "…")
	}
	if msg == err.Error() {
		return err
	}
	hidden := error(&redactedError{msg: msg, err: err})
	if IsPermanent(err) {
		hidden = Permanent(hidden)
	}
	return hidden
}

func (s *Sender) mail(ctx context.Context, to string, page Page) error {
	from, err := mail.ParseAddress(s.SMTP.From)
	if err != nil {
		return Permanent(fmt.Errorf("email: bad sender %q: %w", s.SMTP.From, err))
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return Permanent(fmt.Errorf("email: bad address %q: %w", to, err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.SMTP.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.SMTP.Addr)
	if err != nil {
		return fmt.Errorf("email: connect %s: %w", s.SMTP.Addr, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	host, _, _ := net.SplitHostPort(s.SMTP.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("email: %s: %w", s.SMTP.Addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("email: STARTTLS with %s: %w", s.SMTP.Addr, err)
		}
	}
	if s.SMTP.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.SMTP.Username, s.SMTP.Password, host)); err != nil {
			return Permanent(fmt.Errorf("email: authenticate with %s: %w", s.SMTP.Addr, err))
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return smtpError("MAIL FROM", err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return smtpError("RCPT TO "+rcpt.Address, err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := w.Write(message(from, rcpt, page)); err != nil {
		return fmt.Errorf("email: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("message", err)
	}
	return c.Quit()
}

// smtpError keeps 5xx replies (a refused mailbox) from being retried.
func smtpError(stage string, err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) && reply.Code >= 500 {
		return Permanent(fmt.Errorf("email: %s: %w", stage, err))
	}
	return fmt.Errorf("email: %s: %w", stage, err)
}

func message(from, to *mail.Address, page Page) []byte {
	var b strings.Builder
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mimeHeader(page.Subject()))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	// The key makes the Message-ID stable, so a mail system that sees the
	// same page twice can tell.
	header("Message-ID", "<"+strings.NewReplacer(":", ".", "@", ".").Replace(page.IdempotencyKey)+"@meridian>")
	header(HeaderEmailIdempotencyKey, page.IdempotencyKey)
	header(HeaderEscalation, page.EscalationID)
	header(HeaderChannel, ChannelEmail)
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	// net/smtp's DATA writer does the dot-stuffing.
	for _, line := range strings.Split(strings.TrimSuffix(page.Text(), "\n"), "\n") {
		b.WriteString(line + "\r\n")
	}
	return []byte(b.String())
}

// mimeHeader encodes a header value that is not plain ASCII.
func mimeHeader(v string) string {
	for _, r := range v {
		if r > 126 || r < 32 {
			return mime.QEncoding.Encode("utf-8", v)
		}
	}
	return v
}
