package notify

import (
	"bytes"
	"context"
	"crypto/tls"
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
	"strconv"
	"strings"
	"syscall"
	"time"

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
		Client:         &http.Client{Timeout: 10 * time.Second, Transport: otelhttp.NewTransport(http.DefaultTransport)},
		PersonalClient: &http.Client{Timeout: 10 * time.Second, Transport: otelhttp.NewTransport(personal)},
	}
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
		return Address{}, Permanent(fmt.Errorf("%s %s: a URL of your own must use https", strings.ToLower(channel), redactURL(target)))
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
		return s.mail(ctx, addr.Target, page)
	}
	return Permanent(fmt.Errorf("unknown channel %q", addr.Channel))
}

func (s *Sender) post(ctx context.Context, addr Address, body []byte, headers map[string]string, page Page) error {
	target := addr.Target
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("%s request: %w", strings.ToLower(page.Channel), err))
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
		return Permanent(fmt.Errorf("%s %s: %w", strings.ToLower(page.Channel), redactURL(target), errInternalTarget))
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", strings.ToLower(page.Channel), redactURL(target), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("%s %s answered %s", strings.ToLower(page.Channel), redactURL(target), resp.Status)
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

// redactURL keeps scheme and host: a Slack webhook's path is its secret, and
// errors end up on the timeline.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(bad URL)"
	}
	return u.Scheme + "://" + u.Host
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
