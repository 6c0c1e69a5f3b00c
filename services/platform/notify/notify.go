// Package notify delivers pages to people over their channels (a signed
// webhook, email over SMTP, a Slack-compatible incoming webhook) and, for
// development and tests, receives them (Sink).
//
// Every message carries an idempotency key naming the escalation, tier,
// round, person and channel, so a receiver can drop one sent twice.
package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"meridian.dev/platform/directory"
)

// Channels a tier may page on.
const (
	ChannelWebhook = "WEBHOOK"
	ChannelEmail   = "EMAIL"
	ChannelSlack   = "SLACK"
)

// Channels lists every channel, in the order a tier's channels are tried.
var Channels = []string{ChannelWebhook, ChannelEmail, ChannelSlack}

// Headers every delivery carries where its medium allows (HTTP headers, or
// email headers).
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderEscalation     = "X-Meridian-Escalation"
	HeaderChannel        = "X-Meridian-Channel"
	HeaderTimestamp      = "X-Meridian-Timestamp"
	HeaderSignature      = "X-Meridian-Signature"
	// HeaderEmailIdempotencyKey is the email header with the key; email has
	// no Idempotency-Key convention, and Message-ID carries it too.
	HeaderEmailIdempotencyKey = "X-Meridian-Idempotency-Key"
)

// Page is what a person is told. As a webhook it is the JSON body; email and
// Slack render it as text.
type Page struct {
	IdempotencyKey string `json:"idempotencyKey"`
	EscalationID   string `json:"escalationId"`
	Tier           int    `json:"tier"`
	TierName       string `json:"tierName"`
	Round          int    `json:"round,omitempty"`
	// Reminder: the escalation was acknowledged but not resolved in time.
	Reminder bool   `json:"reminder,omitempty"`
	Site     string `json:"site"`
	SiteName string `json:"siteName"`
	Region   string `json:"region"`
	Level    string `json:"level"`
	Posture  string `json:"posture"`
	Note     string `json:"note"`
	// Channel is set on pages sent to one person; empty on the tier-wide
	// pages of escalations started before per-person paging.
	Channel string `json:"channel,omitempty"`
	// Recipients is the person paged (one) or, on tier-wide pages, everyone.
	Recipients []directory.Person `json:"recipients"`
	SentAt     time.Time          `json:"sentAt"`
	// Topic is "" for an escalation's page; other domains name theirs
	// ("trip") and say what it is about in Headline and what to do in
	// Action, which Subject and Text then use instead of escalation words.
	Topic    string `json:"topic,omitempty"`
	Headline string `json:"headline,omitempty"`
	Action   string `json:"action,omitempty"`
}

// Subject is a one-line summary, for email subjects and chat messages.
func (p Page) Subject() string {
	if p.Topic != "" {
		return fmt.Sprintf("[%s] Meridian %s: %s", p.Region, p.Topic, p.Headline)
	}
	what := p.Level
	if p.Posture != "" && p.Posture != "OPEN" {
		what += "/" + p.Posture
	}
	place := p.Site
	if p.SiteName != "" {
		place = fmt.Sprintf("%s (%s)", p.SiteName, p.Site)
	}
	if place == "" {
		place = p.Region
	}
	prefix := "Meridian escalation"
	if p.Reminder {
		prefix = "Meridian reminder: still unresolved"
	}
	return fmt.Sprintf("[%s] %s: %s at %s, tier %d (%s)", p.Region, prefix, what, place, p.Tier, p.TierName)
}

// Text is the plain-text body of email and chat pages.
func (p Page) Text() string {
	text := p.Subject() + "\n"
	if p.Note != "" {
		text += "\n" + p.Note + "\n"
	}
	if p.Topic != "" {
		if p.Action != "" {
			text += "\n" + p.Action + "\n"
		}
		return text
	}
	text += fmt.Sprintf("\nEscalation %s, round %d.\nAcknowledge it in Meridian (acknowledgeEscalation) to stop the paging.\n", p.EscalationID, max(p.Round, 1))
	return text
}

// Sign returns the signature header value for body sent at ts:
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature made by Sign, rejecting timestamps further than
// maxSkew from now, which stops a captured page being replayed later.
func Verify(secret string, tsHeader, sigHeader string, body []byte, now time.Time, maxSkew time.Duration) error {
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", tsHeader)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("timestamp %d outside the accepted window", ts)
	}
	if !hmac.Equal([]byte(sigHeader), []byte(Sign(secret, ts, body))) {
		return fmt.Errorf("signature mismatch")
	}
	return nil
}

// PermanentError is a failure that retrying cannot fix: no address on file,
// an address the receiver refuses, a rejected signature.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
