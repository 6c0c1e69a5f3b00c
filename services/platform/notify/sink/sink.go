// Package sink receives pages the way their real receivers would (signed
// webhooks and Slack-style posts over HTTP, email over SMTP), for tests and
// for the development page sink (`meridianctl pagesink`). Loopback only: it
// authenticates nothing but webhook signatures.
package sink

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"meridian.dev/platform/notify"
)

// Received is one page as a Sink took it in: one per webhook or Slack
// request, one per recipient of an email.
type Received struct {
	// Channel is the medium the page came in on: WEBHOOK, SLACK or EMAIL.
	// A sender's X-Meridian-Channel header, when present, must agree.
	Channel        string
	IdempotencyKey string
	EscalationID   string
	// To is the envelope recipient of an email, or the last part of the
	// URL path of a webhook or Slack post (/pages/alice → "alice"; empty for
	// a webhook posted to /pages itself).
	To string
	// Page is the decoded, signature-verified body of a webhook page.
	Page *notify.Page
	// Text is a Slack message's text or an email's body, with CRLF line
	// ends turned into LF.
	Text string
	// Subject and MessageID are an email's (MIME words decoded).
	Subject   string
	MessageID string
	At        time.Time
}

// Options configure Start.
type Options struct {
	// HTTPAddr and SMTPAddr are listen addresses; "127.0.0.1:0" when empty.
	// The sink authenticates no one but webhook signatures: keep it on
	// loopback.
	HTTPAddr string
	SMTPAddr string
	// Secret verifies webhook signatures; required.
	Secret string
	// MaxSkew is how far a webhook's timestamp may be from now; 5m when 0.
	MaxSkew time.Duration
	// OnReceive, when set, is called with every page recorded, possibly
	// from several goroutines at once.
	OnReceive func(Received)
	// OnReject, when set, is called with what is known of a message the
	// sink refused as malformed or badly signed (its fields unverified).
	OnReject func(Received, error)
	// Fail, when set, sees every well-formed page before it is recorded.
	// Returning non-zero refuses the page with that code instead and
	// records nothing: an HTTP status for WEBHOOK and SLACK, an SMTP reply
	// code for EMAIL (answering the end of DATA, so one refused recipient
	// refuses the whole message).
	Fail func(Received) int
}

// Sink receives pages the way their real receivers would: signed webhooks
// and Slack-style posts over HTTP, email over SMTP. It records them for
// tests and for the development page sink. It is safe for concurrent use.
type Sink struct {
	opts     Options
	httpLn   net.Listener
	smtpLn   net.Listener
	httpSrv  *http.Server
	smtpSrv  *smtp.Server
	serving  sync.WaitGroup
	stopCtx  func() bool
	closing  sync.Once
	closeErr error

	mu       sync.Mutex
	closed   bool
	received []Received
	changed  chan struct{} // closed and replaced on every record
}

const sinkMaxBody = 1 << 20

// Start listens on opts' addresses and serves until Close, or until ctx
// is done.
func Start(ctx context.Context, opts Options) (*Sink, error) {
	if opts.Secret == "" {
		return nil, errors.New("notify sink: a secret is required to verify webhook pages")
	}
	if opts.HTTPAddr == "" {
		opts.HTTPAddr = "127.0.0.1:0"
	}
	if opts.SMTPAddr == "" {
		opts.SMTPAddr = "127.0.0.1:0"
	}
	if opts.MaxSkew == 0 {
		opts.MaxSkew = 5 * time.Minute
	}
	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", opts.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("notify sink: http: %w", err)
	}
	smtpLn, err := lc.Listen(ctx, "tcp", opts.SMTPAddr)
	if err != nil {
		_ = httpLn.Close()
		return nil, fmt.Errorf("notify sink: smtp: %w", err)
	}
	s := &Sink{opts: opts, httpLn: httpLn, smtpLn: smtpLn, changed: make(chan struct{})}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /pages", s.webhook)
	mux.HandleFunc("POST /pages/{to...}", s.webhook)
	mux.HandleFunc("POST /slack/{to...}", s.slack)
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	s.smtpSrv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	s.smtpSrv.Domain = "localhost"
	s.smtpSrv.AllowInsecureAuth = true
	s.smtpSrv.MaxMessageBytes = sinkMaxBody
	s.smtpSrv.MaxRecipients = 100
	s.smtpSrv.ReadTimeout = 30 * time.Second
	s.smtpSrv.WriteTimeout = 30 * time.Second
	s.smtpSrv.ErrorLog = log.New(io.Discard, "", 0)

	s.serving.Add(2)
	go func() { defer s.serving.Done(); _ = s.httpSrv.Serve(httpLn) }()
	go func() { defer s.serving.Done(); _ = s.smtpSrv.Serve(smtpLn) }()
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

// URL is the HTTP base, e.g. http://127.0.0.1:41234: post webhook pages to
// URL()+"/pages/<name>" and Slack messages to URL()+"/slack/<name>".
func (s *Sink) URL() string { return "http://" + s.httpLn.Addr().String() }

// SMTPAddr is the host:port of the SMTP server.
func (s *Sink) SMTPAddr() string { return s.smtpLn.Addr().String() }

// Received returns a copy of every page recorded so far, in arrival order.
func (s *Sink) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// WaitFor blocks until done reports true of the pages recorded so far, or
// ctx ends.
func (s *Sink) WaitFor(ctx context.Context, done func([]Received) bool) error {
	for {
		s.mu.Lock()
		got := append([]Received(nil), s.received...)
		changed := s.changed
		s.mu.Unlock()
		if done(got) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("notify sink: waiting with %d pages received: %w", len(got), ctx.Err())
		case <-changed:
		}
	}
}

// Close stops both servers; pages arriving later are not recorded.
func (s *Sink) Close() error {
	s.closing.Do(func() {
		s.stopCtx()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var errs []error
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, s.httpSrv.Close())
		}
		if err := s.smtpSrv.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			errs = append(errs, err)
		}
		// go-smtp's Close only closes listeners Serve has registered; if
		// Serve's goroutine has not got that far, it would then block in
		// Accept for good. Closing the listener here ends it either way.
		_ = s.smtpLn.Close()
		s.serving.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Sink) record(recs ...Received) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.received = append(s.received, recs...)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if s.opts.OnReceive != nil {
		for _, r := range recs {
			s.opts.OnReceive(r)
		}
	}
}

func (s *Sink) reject(r Received, err error) {
	if s.opts.OnReject != nil {
		s.opts.OnReject(r, err)
	}
}

// failCode asks the Fail hook about r; 0 accepts.
func (s *Sink) failCode(r Received) int {
	if s.opts.Fail == nil {
		return 0
	}
	return s.opts.Fail(r)
}

// checkChannel refuses a message whose channel header names another medium.
func checkChannel(header, medium string) error {
	if header != "" && header != medium {
		return fmt.Errorf("%s header %q on a %s delivery", notify.HeaderChannel, header, medium)
	}
	return nil
}

func (s *Sink) httpReceived(req *http.Request, channel string) Received {
	to := strings.TrimSuffix(req.PathValue("to"), "/")
	if i := strings.LastIndexByte(to, '/'); i >= 0 {
		to = to[i+1:]
	}
	return Received{
		Channel:        channel,
		IdempotencyKey: req.Header.Get(notify.HeaderIdempotencyKey),
		EscalationID:   req.Header.Get(notify.HeaderEscalation),
		To:             to,
		At:             time.Now(),
	}
}

// httpRefuse answers a refused request and tells OnReject.
func (s *Sink) httpRefuse(w http.ResponseWriter, r Received, status int, err error) {
	s.reject(r, err)
	http.Error(w, err.Error(), status)
}

// httpAccept records r unless the Fail hook answers for it.
func (s *Sink) httpAccept(w http.ResponseWriter, r Received, ok func()) {
	if code := s.failCode(r); code != 0 {
		if code < 100 || code > 999 {
			code = http.StatusInternalServerError
		}
		http.Error(w, "refused by the sink's Fail hook", code)
		return
	}
	s.record(r)
	ok()
}

func readBody(w http.ResponseWriter, req *http.Request) ([]byte, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, sinkMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, err
		}
		return nil, http.StatusBadRequest, err
	}
	return body, 0, nil
}

func (s *Sink) webhook(w http.ResponseWriter, req *http.Request) {
	rec := s.httpReceived(req, notify.ChannelWebhook)
	body, status, err := readBody(w, req)
	if err != nil {
		s.httpRefuse(w, rec, status, err)
		return
	}
	if err := checkChannel(req.Header.Get(notify.HeaderChannel), notify.ChannelWebhook); err != nil {
		s.httpRefuse(w, rec, http.StatusBadRequest, err)
		return
	}
	if err := notify.Verify(s.opts.Secret, req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature), body, time.Now(), s.opts.MaxSkew); err != nil {
		s.httpRefuse(w, rec, http.StatusUnauthorized, err)
		return
	}
	var page notify.Page
	if err := json.Unmarshal(body, &page); err != nil {
		s.httpRefuse(w, rec, http.StatusBadRequest, fmt.Errorf("decode page: %w", err))
		return
	}
	rec.Page = &page
	s.httpAccept(w, rec, func() { w.WriteHeader(http.StatusNoContent) })
}

func (s *Sink) slack(w http.ResponseWriter, req *http.Request) {
	rec := s.httpReceived(req, notify.ChannelSlack)
	body, status, err := readBody(w, req)
	if err != nil {
		s.httpRefuse(w, rec, status, err)
		return
	}
	if err := checkChannel(req.Header.Get(notify.HeaderChannel), notify.ChannelSlack); err != nil {
		s.httpRefuse(w, rec, http.StatusBadRequest, err)
		return
	}
	var msg struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Text == nil {
		// What Slack itself answers to a body without text.
		s.httpRefuse(w, rec, http.StatusBadRequest, fmt.Errorf("invalid_payload: %v", errOr(err, "no text")))
		return
	}
	rec.Text = *msg.Text
	s.httpAccept(w, rec, func() {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	})
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// sinkSession is one SMTP conversation: any sender, any recipient, and any
// AUTH PLAIN credentials are accepted.
type sinkSession struct {
	sink  *Sink
	rcpts []string
}

var _ smtp.AuthSession = (*sinkSession)(nil)

func (ss *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error { return nil }), nil
}

func (ss *sinkSession) Mail(from string, opts *smtp.MailOptions) error { return nil }

func (ss *sinkSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *sinkSession) Reset() { ss.rcpts = nil }

func (ss *sinkSession) Logout() error { return nil }

func (ss *sinkSession) Data(r io.Reader) error {
	s := ss.sink
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // ErrDataTooLarge is already an SMTP reply
	}
	rec := Received{Channel: notify.ChannelEmail, At: time.Now()}
	if err := parseEmail(raw, &rec); err != nil {
		for _, to := range ss.rcpts {
			rec.To = to
			s.reject(rec, err)
		}
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	recs := make([]Received, 0, len(ss.rcpts))
	for _, to := range ss.rcpts {
		rec.To = to
		if code := s.failCode(rec); code != 0 {
			if code < 200 || code > 599 {
				code = 554
			}
			return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "refused by the sink's Fail hook"}
		}
		recs = append(recs, rec)
	}
	s.record(recs...)
	return nil
}

// parseEmail fills rec from a raw message, refusing one whose channel
// header names another medium.
func parseEmail(raw []byte, rec *Received) error {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("parse message: %w", err)
	}
	h := msg.Header
	rec.IdempotencyKey = h.Get(notify.HeaderEmailIdempotencyKey)
	rec.EscalationID = h.Get(notify.HeaderEscalation)
	rec.MessageID = strings.TrimSpace(h.Get("Message-ID"))
	rec.Subject = h.Get("Subject")
	if dec, err := new(mime.WordDecoder).DecodeHeader(rec.Subject); err == nil {
		rec.Subject = dec
	}
	if err := checkChannel(h.Get(notify.HeaderChannel), notify.ChannelEmail); err != nil {
		return err
	}
	var body io.Reader = msg.Body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	rec.Text = strings.ReplaceAll(string(text), "\r\n", "\n")
	return nil
}
