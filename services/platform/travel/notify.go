package travel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"meridian.dev/platform/directory"
	"meridian.dev/platform/notify"
)

// TravelTeamRole is the role told whenever a trip's risk rises.
const TravelTeamRole = "travel_team"

// Notifier tells people a trip's risk rose, through their own channels.
type Notifier struct {
	Directory *directory.Store
	Sender    *notify.Sender
	Log       *slog.Logger
}

// RiskRose tells the traveller and the whole travel team (every region:
// a traveller abroad is everyone's concern) that a trip's risk rose, on
// each channel they have an address for, or by the organisation's webhook
// when they have none. A fall or an unchanged level tells nobody. It fails
// only when every send failed, so the relay retries a run that reached
// nobody and not one that reached some; each page's idempotency key (trip,
// level, instant of the change, person, channel) lets a receiver drop the
// copies a retry sends again.
func (n *Notifier) RiskRose(ctx context.Context, ev RiskChanged) error {
	if ev.Level <= ev.PreviousLevel {
		return nil
	}
	team, err := n.Directory.InRole(ctx, TravelTeamRole, "")
	if err != nil {
		return fmt.Errorf("travel: notify risk of %s: %w", ev.TripID, err)
	}
	subjects := []string{ev.Traveller}
	for _, p := range team {
		if !slices.Contains(subjects, p.Subject) {
			subjects = append(subjects, p.Subject)
		}
	}
	people, err := n.Directory.People(ctx, subjects)
	if err != nil {
		return fmt.Errorf("travel: notify risk of %s: %w", ev.TripID, err)
	}
	contacts, err := n.Directory.ContactsOf(ctx, subjects)
	if err != nil {
		return fmt.Errorf("travel: notify risk of %s: %w", ev.TripID, err)
	}
	travellerName := ev.Traveller
	for _, p := range people {
		if p.Subject == ev.Traveller && p.Name != "" {
			travellerName = p.Name
		}
	}
	note := riskRoseSentence(ev, travellerName)

	if len(people) < len(subjects) {
		n.log().WarnContext(ctx, "travel: people to tell about a risk rise are not in the directory", "trip", ev.TripID,
			"wanted", len(subjects), "found", len(people))
	}
	told := n.Sender.Tell(ctx, people, contacts, func(p directory.Person, channel string) notify.Page {
		return notify.Page{
			IdempotencyKey: fmt.Sprintf("trip:%s:risk:%d:%d:%s:%s", ev.TripID, ev.Level, ev.At.Unix(), p.Subject, channel),
			Site:           ev.TripID.String(), SiteName: travellerName + "'s trip", Region: ev.Region,
			Level: "TRAVEL RISK " + strconv.Itoa(ev.Level), TierName: "travel risk", Note: note,
			Recipients: []directory.Person{p}, SentAt: time.Now().UTC(),
			Topic:    "trip",
			Headline: fmt.Sprintf("%s's trip rose from level %d to %d", travellerName, ev.PreviousLevel, ev.Level),
			Action:   fmt.Sprintf("Trip %s. Review it in Meridian (trip, whoIsWhere).", ev.TripID),
		}
	})
	failures, sent := told.Failures, told.Sent
	for _, err := range failures {
		n.log().WarnContext(ctx, "travel: risk rise not delivered", "trip", ev.TripID, "level", ev.Level, "err", err)
	}
	if sent == 0 && len(failures) > 0 {
		return fmt.Errorf("travel: nobody was told that trip %s rose to level %d: %w", ev.TripID, ev.Level, errors.Join(failures...))
	}
	return nil
}

// riskRoseSentence is what people read: who, how far it rose, and why.
func riskRoseSentence(ev RiskChanged, traveller string) string {
	s := fmt.Sprintf("Travel risk for %s's trip rose from level %d to level %d", traveller, ev.PreviousLevel, ev.Level)
	if len(ev.Reasons) > 0 {
		s += ": " + ev.Reasons[0].Text
	}
	if len(ev.Reasons) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(ev.Reasons)-1)
	}
	return s + "."
}

func (n *Notifier) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.Default()
}
