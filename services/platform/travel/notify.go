package travel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
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

// notifyParallelism bounds the sends in flight: one slow receiver (10 s
// time-out) must not hold up everyone else's.
const notifyParallelism = 8

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

	type delivery struct {
		person directory.Person
		addr   notify.Address
	}
	var deliveries []delivery
	var failures []error
	for _, p := range people {
		addrs, err := n.addressesOf(contacts[p.Subject])
		if err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", p.Subject, err))
			continue
		}
		for _, a := range addrs {
			deliveries = append(deliveries, delivery{person: p, addr: a})
		}
	}
	if len(people) < len(subjects) {
		n.log().WarnContext(ctx, "travel: people to tell about a risk rise are not in the directory", "trip", ev.TripID,
			"wanted", len(subjects), "found", len(people))
	}

	var mu sync.Mutex
	sent := 0
	var wg sync.WaitGroup
	slots := make(chan struct{}, notifyParallelism)
	for _, d := range deliveries {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			page := notify.Page{
				IdempotencyKey: fmt.Sprintf("trip:%s:risk:%d:%d:%s:%s", ev.TripID, ev.Level, ev.At.Unix(), d.person.Subject, d.addr.Channel),
				Site:           ev.TripID.String(), SiteName: travellerName + "'s trip", Region: ev.Region,
				Level: "TRAVEL RISK " + strconv.Itoa(ev.Level), TierName: "travel risk", Note: note,
				Recipients: []directory.Person{d.person}, SentAt: time.Now().UTC(),
				Topic:    "trip",
				Headline: fmt.Sprintf("%s's trip rose from level %d to %d", travellerName, ev.PreviousLevel, ev.Level),
				Action:   fmt.Sprintf("Trip %s. Review it in Meridian (trip, whoIsWhere).", ev.TripID),
			}
			err := n.Sender.Send(ctx, d.addr, page)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, fmt.Errorf("%s by %s: %w", d.person.Subject, d.addr.Channel, err))
				return
			}
			sent++
		}()
	}
	wg.Wait()
	for _, err := range failures {
		n.log().WarnContext(ctx, "travel: risk rise not delivered", "trip", ev.TripID, "level", ev.Level, "err", err)
	}
	if sent == 0 && len(failures) > 0 {
		return fmt.Errorf("travel: nobody was told that trip %s rose to level %d: %w", ev.TripID, ev.Level, errors.Join(failures...))
	}
	return nil
}

// addressesOf picks where one person is told: every channel they have an
// address of their own on, else the organisation's webhook.
func (n *Notifier) addressesOf(c directory.Contacts) ([]notify.Address, error) {
	own := notify.Addresses{Email: c.Email, WebhookURL: c.WebhookURL, SlackURL: c.SlackWebhookURL}
	var out []notify.Address
	for _, ch := range notify.Channels {
		addr, err := n.Sender.Resolve(ch, own)
		if err != nil || ch == notify.ChannelWebhook && !addr.Personal {
			continue // the organisation's webhook is the fallback, below
		}
		out = append(out, addr)
	}
	if len(out) > 0 {
		return out, nil
	}
	addr, err := n.Sender.Resolve(notify.ChannelWebhook, notify.Addresses{})
	if err != nil {
		return nil, err
	}
	return []notify.Address{addr}, nil
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
