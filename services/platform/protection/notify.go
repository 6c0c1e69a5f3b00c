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
// else's business: both are skipped. It fails only when every page failed,
// so a retry reaches someone.
func (n *Notifier) IncidentNear(ctx context.Context, inc incident.Incident) error {
	if inc.Location == nil || inc.RestrictedTo != nil || inc.SourceType == SourceType {
		return nil
	}
	affected, err := n.Store.Near(ctx, inc.Kind, Point{Latitude: inc.Location.Latitude, Longitude: inc.Location.Longitude}, inc.CreatedAt)
	if err != nil {
		return fmt.Errorf("protection: details near incident %s: %w", inc.ID, err)
	}
	var failures []error
	sent := 0
	for _, a := range affected {
		d := a.Detail
		// The timeline is read by people not cleared for the detail's
		// position, which a distance would give away: the page alone, to
		// the leader, carries it.
		note := fmt.Sprintf("%s incident %q within %.1f km (%s)", inc.Severity, inc.Title, a.DistanceKm, via(a.Via))
		step := fmt.Sprintf("%s incident %q nearby; the leader was paged", inc.Severity, inc.Title)
		if err := n.Store.RecordStep(ctx, d.ID, Step{At: time.Now().UTC(), Kind: StepNearIncident, Actor: "system", Note: step},
			fmt.Sprintf("near:%s:%s", inc.ID, d.ID), ""); err != nil {
			return err
		}
		people, err := n.Directory.People(ctx, []string{d.Leader})
		if err != nil {
			return err
		}
		contacts, err := n.Directory.ContactsOf(ctx, []string{d.Leader})
		if err != nil {
			return err
		}
		told := n.Sender.Tell(ctx, people, contacts, func(p directory.Person, channel string) notify.Page {
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
		sent += told.Sent
		failures = append(failures, told.Failures...)
	}
	for _, err := range failures {
		n.log().WarnContext(ctx, "protection: leader not told of a nearby incident", "incident", inc.ID, "err", err)
	}
	if sent == 0 && len(failures) > 0 {
		return fmt.Errorf("protection: no detail leader was told of incident %s: %w", inc.ID, errors.Join(failures...))
	}
	return nil
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
