package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"meridian.dev/platform/incident"
	"meridian.dev/platform/outbox"
	"meridian.dev/platform/protection"
	protectionwf "meridian.dev/workflows/protection"
)

// registerProtection installs the protection topics, each detail's rows
// in one lane so a watch's START always reaches Temporal before its
// signals.
func (h *Handlers) registerProtection(r *outbox.Relay) {
	lane := func(m outbox.Message) string {
		var ev struct {
			DetailID string `json:"detailId"`
		}
		if json.Unmarshal(m.Payload, &ev) != nil || ev.DetailID == "" {
			return ""
		}
		return "detail:" + ev.DetailID
	}
	r.HandleKeyed(protection.TopicDetailChanged, h.detailChanged, lane)
	r.HandleKeyed(protection.TopicWatch, h.watchCommand, lane)
}

func (h *Handlers) detailChanged(ctx context.Context, m outbox.Message) error {
	var ev protection.DetailChanged
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return protection.DetailUpdates.Publish(ctx, h.Publisher, ev)
}

// watchCommand starts, stops or tells a detail's check-in watch. A signal
// finding no watch running for an ACTIVE detail (never started, or
// terminated by hand) starts one from Postgres's record first: a detail
// that is active is always watched.
//
// The CHECKED_IN of a duress check-in carries its duress, raised first:
// the SEV1 incident needs only Postgres, so it must not wait on Temporal,
// and a row retried after a failed signal raises nothing twice
// (RaiseDuress is idempotent per check-in).
func (h *Handlers) watchCommand(ctx context.Context, m outbox.Message) error {
	var cmd protection.WatchCommand
	if err := json.Unmarshal(m.Payload, &cmd); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if cmd.Duress != nil {
		if _, err := h.Protection.RaiseDuress(ctx, *cmd.Duress, h.TierWait); err != nil {
			return err
		}
	}
	var send func() error
	switch cmd.Command {
	case protection.WatchStart:
		return protectionwf.StartWatchOn(ctx, h.Temporal, h.TaskQueue, protectionwf.Input{DetailID: cmd.DetailID, Interval: cmd.Interval,
			Grace: cmd.Grace, From: cmd.At, TierWait: h.TierWait})
	case protection.WatchStop:
		return protectionwf.SendStop(ctx, h.Temporal, cmd.DetailID, protectionwf.Stop{At: cmd.At, Actor: cmd.Actor})
	case protection.WatchRetime:
		send = func() error {
			return protectionwf.SendRetime(ctx, h.Temporal, cmd.DetailID, protectionwf.Retime{Interval: cmd.Interval, Grace: cmd.Grace})
		}
	case protection.WatchCheckedIn:
		send = func() error {
			return protectionwf.SendCheckedIn(ctx, h.Temporal, cmd.DetailID, protectionwf.CheckedIn{At: cmd.At, By: cmd.Actor})
		}
	case protection.WatchCodesFail:
		send = func() error {
			return protectionwf.SendCodesFailed(ctx, h.Temporal, cmd.DetailID, protectionwf.CodesFailed{At: cmd.At})
		}
	default:
		return fmt.Errorf("unknown watch command %q", cmd.Command)
	}
	err := send()
	if !errors.Is(err, protectionwf.ErrWatchNotRunning) {
		return err
	}
	started, err := h.restartWatch(ctx, cmd)
	if err != nil || !started {
		return err
	}
	return send()
}

// restartWatch starts the watch of a detail Postgres shows ACTIVE, from its
// last check-in; a detail no longer active needs none.
func (h *Handlers) restartWatch(ctx context.Context, cmd protection.WatchCommand) (bool, error) {
	st, err := h.Protection.WatchState(ctx, cmd.DetailID)
	if err != nil {
		return false, err
	}
	if st.Status != protection.StatusActive {
		return false, nil
	}
	from := st.NextDue.Add(-st.Interval)
	err = protectionwf.StartWatchOn(ctx, h.Temporal, h.TaskQueue, protectionwf.Input{DetailID: cmd.DetailID, Interval: st.Interval,
		Grace: st.Grace, From: from, TierWait: h.TierWait})
	return err == nil, err
}

// protectionIncidentOpened pages the leaders of the details an incident
// affects.
func (h *Handlers) protectionIncidentOpened(ctx context.Context, inc incident.Incident) error {
	if h.ProtectionNotifier == nil {
		return nil
	}
	return h.ProtectionNotifier.IncidentNear(ctx, inc)
}
