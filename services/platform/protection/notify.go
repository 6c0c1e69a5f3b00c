package protection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/incident"
	"meridian.dev/platform/notify"
)

// Notifier tells detail leaders about incidents near their details.
type Notifier struct {
	Store     *Store
	Directory *directory.Store
	Sender    *notify.Sender
	Log       *slog.Logger
}

// IncidentNear pages the leader of every detail the incident affects (its
// last position, or a planned movement in its window, inside the incident's
// DETAIL radius) and notes it on the detail's timeline, once per incident
// and detail. Protection's own incidents (a missed check-in, a duress) are
// about a person, not a hazard to others, and restricted ones are nobody
// else's business: both are skipped. It fails when any leader was reached
// on no channel, so the relay retries until every one has been told.
func (n *Notifier) IncidentNear(ctx context.Context, inc incident.Incident) error {
	if inc.Location == nil || inc.RestrictedTo != nil || inc.SourceType == SourceType {
		return nil
	}
	affected, err := n.Store.Near(ctx, inc.Kind, Point{Latitude: inc.Location.Latitude, Longitude: inc.Location.Longitude}, inc.CreatedAt)
	if err != nil {
		return fmt.Errorf("protection: details near incident %s: %w", inc.ID, err)
	}
	if len(affected) == 0 {
		return nil
	}
	leaders := make([]string, 0, len(affected))
	for _, a := range affected {
		leaders = append(leaders, a.Detail.Leader)
	}
	people, err := n.Directory.People(ctx, leaders)
	if err != nil {
		return err
	}
	contacts, err := n.Directory.ContactsOf(ctx, leaders)
	if err != nil {
		return err
	}
	var untold []error
	for _, a := range affected {
		if err := n.tellLeader(ctx, inc, a, people, contacts); err != nil {
			untold = append(untold, err)
		}
	}
	// Every leader must hear of it: a retry pages again those already told
	// with the same keys, which their receivers drop.
	return errors.Join(untold...)
}

// tellLeader pages one affected detail's leader and, once told, notes it
// on the detail's timeline (without the distance: the timeline is read by
// people not cleared for the detail's position, which a distance would give
// away; the page, to the leader alone, carries it).
func (n *Notifier) tellLeader(ctx context.Context, inc incident.Incident, a AffectedDetail, people []directory.Person,
	contacts map[string]directory.Contacts) error {
	d := a.Detail
	var leader []directory.Person
	for _, p := range people {
		if p.Subject == d.Leader {
			leader = append(leader, p)
		}
	}
	if len(leader) == 0 {
		return fmt.Errorf("protection: the leader %s of detail %s is not in the directory", d.Leader, d.ID)
	}
	note := fmt.Sprintf("%s incident %q within %.1f km (%s)", inc.Severity, inc.Title, a.DistanceKm, via(a.Via))
	told := n.Sender.Tell(ctx, leader, contacts, func(p directory.Person, channel string) notify.Page {
		return notify.Page{
			IdempotencyKey: fmt.Sprintf("protection:near:%s:%s:%s:%s", inc.ID, d.ID, p.Subject, channel),
			Site:           d.ID.String(), SiteName: "protection detail", Region: d.Region,
			Level: string(inc.Severity), TierName: "detail leader", Note: note,
			Recipients: []directory.Person{p}, SentAt: time.Now().UTC(),
			Topic:    "protection",
			Headline: fmt.Sprintf("%s incident near your detail: %s", inc.Severity, inc.Title),
			Action:   fmt.Sprintf("Detail %s, incident %s. Check nearestSafeHavens and the plan in Meridian.", d.ID, inc.ID),
		}
	})
	for _, err := range told.Failures {
		n.log().WarnContext(ctx, "protection: a channel to a detail leader failed", "incident", inc.ID, "detail", d.ID, "err", err)
	}
	if told.Sent == 0 {
		return fmt.Errorf("protection: the leader of detail %s was not told of incident %s: %w", d.ID, inc.ID, errors.Join(told.Failures...))
	}
	step := fmt.Sprintf("%s incident %q nearby; the leader was paged", inc.Severity, inc.Title)
	return n.Store.RecordStep(ctx, d.ID, Step{At: time.Now().UTC(), Kind: StepNearIncident, Actor: SystemActor, Note: step},
		fmt.Sprintf("near:%s:%s", inc.ID, d.ID), "")
}

func via(v string) string {
	if v == ViaMovement {
		return "a planned movement"
	}
	return "the last reported position"
}

func (n *Notifier) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.Default()
}
