package travel

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"meridian.dev/platform/notify"
	"meridian.dev/platform/notify/sink"
	trips "meridian.dev/platform/travel"
)

// The activities against the real trip store and directory, with pages to a
// notify sink; no Temporal needed.

func TestAskPagesRecordsOnceAndLeavesSettledRoundsAlone(t *testing.T) {
	t.Parallel()
	f := newTripFixture(t, 3, 24*time.Hour, 72*time.Hour, 0)
	ctx := context.Background()
	// tom has a Slack webhook of his own as well: paged on both.
	if _, err := f.pool.Exec(ctx, `UPDATE users SET slack_webhook_url = $1 WHERE subject = 'tom'`, f.sink.URL()+"/slack/tom"); err != nil {
		t.Fatal(err)
	}
	req := AskRequest{Input: f.in, Kind: KindReminded, Reminder: 2}
	res, err := f.activities.AskDeciders(ctx, req)
	if err != nil {
		t.Fatalf("ask: %v", err)
	}
	if !slices.Equal(res.Paged, []string{"tom"}) || res.Settled != "" {
		t.Fatalf("ask = %+v, want tom paged", res)
	}
	key := "trip:" + f.in.TripID.String() + ":r1:reminded:2"
	var keys []string
	for _, p := range f.sink.Received() {
		keys = append(keys, p.IdempotencyKey)
	}
	slices.Sort(keys)
	if want := []string{key + ":tom:SLACK", key + ":tom:WEBHOOK"}; !slices.Equal(keys, want) {
		t.Fatalf("page keys = %v, want %v", keys, want)
	}
	var slack sink.Received
	for _, p := range f.sink.Received() {
		if p.Channel == "SLACK" {
			slack = p
		}
	}
	if !strings.Contains(slack.Text, "Reminder 2: Trip approval needed: tina, supplier visit, level 3, departs ") {
		t.Fatalf("slack text = %q", slack.Text)
	}

	// A retried activity records its step once.
	if _, err := f.activities.AskDeciders(ctx, req); err != nil {
		t.Fatalf("ask again: %v", err)
	}
	steps, err := f.store.Timeline(ctx, f.in.TripID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Kind != KindReminded || !strings.Contains(steps[0].Note, "Paged tom by WEBHOOK, SLACK") {
		t.Fatalf("timeline = %+v", steps)
	}

	// Decided in Postgres: nobody is paged, and the answer says so.
	if _, err := f.store.RecordDecision(ctx, f.in.TripID, 1, false, "tom", "no"); err != nil {
		t.Fatal(err)
	}
	pagesBefore := len(f.sink.Received())
	res, err = f.activities.AskDeciders(ctx, AskRequest{Input: f.in, Kind: KindEscalated})
	if err != nil || res.Settled != trips.StatusRejected || len(res.Paged) != 0 {
		t.Fatalf("ask on a decided round = %+v, %v", res, err)
	}
	if n := len(f.sink.Received()); n != pagesBefore {
		t.Fatalf("%d pages sent for a decided round", n-pagesBefore)
	}
}

func TestAskNamesWhoCouldNotBeReached(t *testing.T) {
	t.Parallel()
	f := newTripFixture(t, 4, 24*time.Hour, 72*time.Hour, 0)
	ctx := context.Background()
	// No default webhook and no addresses: nobody can be reached.
	f.activities.Sender = notifySenderWithoutDefault()
	res, err := f.activities.AskDeciders(ctx, AskRequest{Input: f.in, Kind: KindAsked})
	if err != nil || len(res.Paged) != 0 {
		t.Fatalf("ask = %+v, %v", res, err)
	}
	steps, err := f.store.Timeline(ctx, f.in.TripID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || !strings.Contains(steps[0].Note, "Nobody could be reached") ||
		!strings.Contains(steps[0].Note, "gina (no channel on file)") || !strings.Contains(steps[0].Note, "tom (no channel on file)") {
		t.Fatalf("timeline = %+v", steps)
	}
}

func TestDecideRecordsAndPassesOnPostgresRefusals(t *testing.T) {
	t.Parallel()
	f := newTripFixture(t, 3, 24*time.Hour, 72*time.Hour, 0)
	ctx := context.Background()
	req := DecisionRequest{TripID: f.in.TripID.String(), Round: 1, Approve: true, Actor: "tom", Note: "ok"}
	res, err := f.activities.RecordTripDecision(ctx, req)
	if err != nil || res.Status != StatusApproved || res.DecidedBy != "tom" || res.DecidedAt.IsZero() {
		t.Fatalf("decide = %+v, %v", res, err)
	}
	// The activity retried after it committed: the same answer.
	again, err := f.activities.RecordTripDecision(ctx, req)
	if err != nil || again.Status != StatusApproved || again.DecidedBy != "tom" {
		t.Fatalf("decide again = %+v, %v", again, err)
	}
	// Someone else, either way: Postgres refuses, not worth a retry.
	for _, approve := range []bool{false, true} {
		_, err = f.activities.RecordTripDecision(ctx, DecisionRequest{TripID: req.TripID, Round: 1, Approve: approve, Actor: "tara"})
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != RejectConflict || !app.NonRetryable() {
			t.Fatalf("a second decision (approve %v) = %v, want a non-retryable %s", approve, err, RejectConflict)
		}
	}
}

// notifySenderWithoutDefault reaches people only on addresses of their own.
func notifySenderWithoutDefault() *notify.Sender {
	return notify.NewSender(testSecret, "", notify.SMTPConfig{})
}
