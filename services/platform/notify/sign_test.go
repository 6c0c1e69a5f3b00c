package notify_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"meridian.dev/platform/notify"
)

const secret = "test-secret-of-at-least-32-bytes!!"

func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	now := time.Now()
	body := []byte(`{"escalationId":"e1","tier":1}`)
	ts := now.Unix()
	tsHeader := strconv.FormatInt(ts, 10)
	sig := notify.Sign(secret, ts, body)

	if err := notify.Verify(secret, tsHeader, sig, body, now, 5*time.Minute); err != nil {
		t.Fatalf("a correct signature was rejected: %v", err)
	}
	tampered := bytes.Replace(body, []byte(`"tier":1`), []byte(`"tier":2`), 1)
	if err := notify.Verify(secret, tsHeader, sig, tampered, now, 5*time.Minute); err == nil {
		t.Fatal("a tampered body was accepted")
	}
	if err := notify.Verify("another-secret", tsHeader, sig, body, now, 5*time.Minute); err == nil {
		t.Fatal("a signature checked with the wrong secret was accepted")
	}
	// Re-signing an old timestamp with the right secret is still refused:
	// that is what stops a captured request from being replayed later.
	old := now.Add(-10 * time.Minute).Unix()
	if err := notify.Verify(secret, strconv.FormatInt(old, 10), notify.Sign(secret, old, body), body, now, 5*time.Minute); err == nil {
		t.Fatal("a timestamp 10 minutes old was accepted")
	}
	future := now.Add(10 * time.Minute).Unix()
	if err := notify.Verify(secret, strconv.FormatInt(future, 10), notify.Sign(secret, future, body), body, now, 5*time.Minute); err == nil {
		t.Fatal("a timestamp 10 minutes ahead was accepted")
	}
	// The timestamp is signed: moving it forward breaks the signature.
	if err := notify.Verify(secret, strconv.FormatInt(ts+1, 10), sig, body, now, 5*time.Minute); err == nil {
		t.Fatal("a signature was accepted with a different timestamp")
	}
	if err := notify.Verify(secret, "yesterday", sig, body, now, 5*time.Minute); err == nil {
		t.Fatal("a malformed timestamp was accepted")
	}
}
