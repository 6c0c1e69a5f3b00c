package notify

import (
	"context"
	"fmt"
	"sync"

	"meridian.dev/platform/directory"
)

// tellParallelism bounds the sends in flight: one slow receiver (10 s
// time-out) must not hold up everyone else's.
const tellParallelism = 8

// Told is what Tell did: how many pages went out, and each failure.
type Told struct {
	Sent     int
	Failures []error
}

// Tell pages each person, outside any escalation (a trip's risk, a check-in
// falling due, an incident near a protection detail), on every channel they
// have an address of their own on, else by the organisation's webhook, at
// most a few at a time. page builds each person's page for one channel; its
// IdempotencyKey should name the person and the channel, so a receiver
// drops the copies a retry sends again. A person whose addresses cannot be
// resolved counts as a failure, never as silence.
func (s *Sender) Tell(ctx context.Context, people []directory.Person, contacts map[string]directory.Contacts,
	page func(p directory.Person, channel string) Page) Told {
	type delivery struct {
		person directory.Person
		addr   Address
	}
	var told Told
	var deliveries []delivery
	for _, p := range people {
		addrs, err := s.addressesOf(contacts[p.Subject])
		if err != nil {
			told.Failures = append(told.Failures, fmt.Errorf("%s: %w", p.Subject, err))
			continue
		}
		for _, a := range addrs {
			deliveries = append(deliveries, delivery{person: p, addr: a})
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, tellParallelism)
	for _, d := range deliveries {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			err := s.Send(ctx, d.addr, page(d.person, d.addr.Channel))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				told.Failures = append(told.Failures, fmt.Errorf("%s by %s: %w", d.person.Subject, d.addr.Channel, err))
				return
			}
			told.Sent++
		}()
	}
	wg.Wait()
	return told
}

// addressesOf picks where one person is told: every channel they have an
// address of their own on, else the organisation's webhook.
func (s *Sender) addressesOf(c directory.Contacts) ([]Address, error) {
	own := Addresses{Email: c.Email, WebhookURL: c.WebhookURL, SlackURL: c.SlackWebhookURL}
	var out []Address
	for _, ch := range Channels {
		addr, err := s.Resolve(ch, own)
		if err != nil || ch == ChannelWebhook && !addr.Personal {
			continue // the organisation's webhook is the fallback, below
		}
		out = append(out, addr)
	}
	if len(out) > 0 {
		return out, nil
	}
	addr, err := s.Resolve(ChannelWebhook, Addresses{})
	if err != nil {
		return nil, err
	}
	return []Address{addr}, nil
}
