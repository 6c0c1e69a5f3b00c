package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"meridian.dev/worker/demo"
)

// FanoutReport is Part 2.
type FanoutReport struct {
	Subscribers      int
	Rate             int
	Updates          int // measured updates that succeeded
	UpdateErrors     int // failed updates, probes and warm-up included
	FirstError       string
	AchievedRate     float64
	MutationLatency  Summary
	System           Delivery // latency from the mutation's start
	FromResponse     Summary  // latency from the mutation's response
	SubscriberErrors int
	// FirstSubscriberError says why the first failed subscriber failed.
	FirstSubscriberError string
	FrameBytes           int
	Usage                Usage

	Raw             *Delivery
	RawAchievedRate float64
	RawUsage        Usage
}

// Delivery is what subscribers received of the measured events.
type Delivery struct {
	Expected, Received, Duplicates int64
	Latency                        Summary
}

const subscription = `subscription { siteStatusChanged { cursor site { id code } current { level version updatedAt } } }`

// sample is one event one subscriber received: which (site, version) and
// when, as time since the phase's base.
type sample struct {
	key uint64
	at  time.Duration
}

func eventKey(siteIdx int, version int32) uint64 {
	return uint64(siteIdx)<<32 | uint64(uint32(version))
}

type wsSubscriber struct {
	conn       *websocket.Conn
	samples    []sample
	count      atomic.Int64
	frameBytes int64
	closing    atomic.Bool
	err        error
	done       chan struct{}
}

// fanout runs Part 2: subscribers over graphql-transport-ws, a paced load
// of mutations, then the Redis Pub/Sub baseline with the same sizes.
func (e *env) fanout(ctx context.Context) (*FanoutReport, error) {
	cfg := e.cfg
	rep := &FanoutReport{Subscribers: cfg.Subscribers, Rate: cfg.Rate}
	e.logf("part 2, system: connecting %d subscribers over WebSocket (graphql-transport-ws), personas rotating", cfg.Subscribers)
	ids := make(map[string]int, len(e.sites))
	for _, s := range e.sites {
		ids[s.gid] = s.idx
	}
	base := time.Now()
	perSub := int(float64(cfg.Rate)*(cfg.Warmup+cfg.FanoutDuration).Seconds()*1.1) + 64
	subs, err := e.connectSubscribers(ctx, cfg.Subscribers, perSub)
	if err != nil {
		for _, s := range subs {
			s.conn.Close()
		}
		return nil, err
	}
	for _, s := range subs {
		go s.read(base, ids)
	}
	stopSubscribers := func() {
		for _, s := range subs {
			s.closing.Store(true)
			s.conn.Close()
		}
		for _, s := range subs {
			<-s.done
		}
	}
	defer stopSubscribers() // a second call finds them stopped

	// Subscribing has no acknowledgement in graphql-transport-ws: probe with
	// updates until every subscriber has seen one, then let the probes settle.
	fanSites := e.sysSites[:min(cfg.FanoutSites, len(e.sysSites))]
	probe := fanSites[0]
	deadline := time.Now().Add(30 * time.Second)
	probes := 0
	for !allReceived(subs, 1) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("subscribers not all receiving events 30 s after %d probe updates: %s", probes, subscriberState(subs))
		}
		if err := e.updateViaGateway(ctx, probe); err != nil {
			rep.UpdateErrors++
			e.resync(ctx, probe)
		}
		probes++
		time.Sleep(100 * time.Millisecond)
	}
	settle(subs, 300*time.Millisecond)
	e.logf("all %d subscribers receiving (after %d probe updates); paced load of %d updates/s over %d sites for %s (after %s warm-up)",
		len(subs), probes, cfg.Rate, len(fanSites), cfg.FanoutDuration, cfg.Warmup)

	before := make([]int64, len(subs))
	for i, s := range subs {
		before[i] = s.count.Load()
	}

	type mutation struct {
		start, resp time.Duration
		measured    bool
		ok          bool
	}
	var recMu sync.Mutex
	records := map[uint64]*mutation{}
	free := make(chan *benchSite, len(fanSites))
	for _, s := range fanSites {
		free <- s
	}
	var inflight sync.WaitGroup
	var errMu sync.Mutex
	var stopProfile func()
	var usage0 Usage
	window, err := pace(ctx, cfg.Rate, cfg.Warmup, cfg.FanoutDuration, func() error {
		stop, err := e.startProfile("fanout")
		stopProfile = stop
		usage0 = e.usage()
		return err
	}, func(measured bool) bool {
		var s *benchSite
		select {
		case s = <-free:
		case <-ctx.Done():
			return false
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			m := &mutation{measured: measured}
			recMu.Lock()
			records[eventKey(s.idx, s.version+1)] = m
			recMu.Unlock()
			m.start = time.Since(base)
			err := e.updateViaGateway(ctx, s)
			m.resp = time.Since(base)
			if err != nil {
				errMu.Lock()
				rep.UpdateErrors++
				if rep.FirstError == "" {
					rep.FirstError = fmt.Sprintf("%s: %v", s.code, err)
				}
				errMu.Unlock()
				e.resync(ctx, s)
			} else {
				m.ok = true
			}
			free <- s
		}()
		return true
	})
	if stopProfile != nil {
		rep.Usage = e.usage().Sub(usage0)
		stopProfile()
	}
	inflight.Wait()
	if err != nil {
		return nil, err
	}

	var okAll, okMeasured int64
	var mutLat []time.Duration
	for _, m := range records {
		if !m.ok {
			continue
		}
		okAll++
		if m.measured {
			okMeasured++
			mutLat = append(mutLat, m.resp-m.start)
		}
	}
	rep.Updates = int(okMeasured)
	if window > 0 {
		rep.AchievedRate = float64(okMeasured) / window.Seconds()
	}
	rep.MutationLatency = summarize(mutLat)

	// Wait for the last events (up to -drain), then stop the subscribers.
	drainStart := time.Now()
	for time.Since(drainStart) < cfg.Drain && ctx.Err() == nil {
		done := true
		for i, s := range subs {
			if s.count.Load()-before[i] < okAll {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Anything arriving later than this counts as lost.
	stopSubscribers()

	var fromStart, fromResp []time.Duration
	var frameBytes, frames int64
	for _, s := range subs {
		if s.err != nil {
			rep.SubscriberErrors++
			if rep.FirstSubscriberError == "" {
				rep.FirstSubscriberError = s.err.Error()
			}
		}
		seen := make(map[uint64]bool, okMeasured)
		for _, smp := range s.samples {
			m, ok := records[smp.key]
			if !ok || !m.measured || !m.ok {
				continue // a probe, warm-up or earlier event
			}
			if seen[smp.key] {
				rep.System.Duplicates++
				continue
			}
			seen[smp.key] = true
			rep.System.Received++
			fromStart = append(fromStart, smp.at-m.start)
			fromResp = append(fromResp, smp.at-m.resp)
		}
		frameBytes += s.frameBytes
		frames += int64(len(s.samples))
	}
	rep.System.Expected = okMeasured * int64(len(subs))
	rep.System.Latency = summarize(fromStart)
	rep.FromResponse = summarize(fromResp)
	if frames > 0 {
		rep.FrameBytes = int(frameBytes / frames)
	}

	raw, err := e.rawPubSub(ctx, rep)
	if err != nil {
		return nil, err
	}
	rep.Raw = raw
	return rep, nil
}

// connectSubscribers opens n graphql-transport-ws connections, each
// authenticated in connection_init with a persona's token, and subscribes.
func (e *env) connectSubscribers(ctx context.Context, n, capacity int) ([]*wsSubscriber, error) {
	subs := make([]*wsSubscriber, n)
	errs := make([]error, n)
	dialer := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			token := e.tokens[demo.Personas[i%len(demo.Personas)].Subject]
			subs[i], errs[i] = subscribe(ctx, dialer, "ws://"+e.gateway+"/graphql", token, capacity)
		}()
	}
	wg.Wait()
	var connected []*wsSubscriber
	var firstErr error
	for i, s := range subs {
		if s != nil {
			connected = append(connected, s)
		}
		if errs[i] != nil && firstErr == nil {
			firstErr = fmt.Errorf("subscriber %d: %w", i, errs[i])
		}
	}
	return connected, firstErr
}

func subscribe(ctx context.Context, dialer websocket.Dialer, url, token string, capacity int) (*wsSubscriber, error) {
	conn, resp, err := dialer.DialContext(ctx, url, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	fail := func(err error) (*wsSubscriber, error) {
		conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + token}}); err != nil {
		return fail(fmt.Errorf("connection_init: %w", err))
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ack struct {
		Type string `json:"type"`
	}
	if err := conn.ReadJSON(&ack); err != nil {
		return fail(fmt.Errorf("waiting for connection_ack: %w", err))
	}
	if ack.Type != "connection_ack" {
		return fail(fmt.Errorf("got %q instead of connection_ack", ack.Type))
	}
	if err := conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": subscription}}); err != nil {
		return fail(fmt.Errorf("subscribe: %w", err))
	}
	_ = conn.SetReadDeadline(time.Time{})
	_ = conn.SetWriteDeadline(time.Time{})
	return &wsSubscriber{conn: conn, samples: make([]sample, 0, capacity), done: make(chan struct{})}, nil
}

// read records every event as it arrives. It does as little as it can per
// frame so the client's own cost stays small next to the server's.
func (s *wsSubscriber) read(base time.Time, ids map[string]int) {
	defer close(s.done)
	var buf bytes.Buffer
	for {
		_, r, err := s.conn.NextReader()
		if err != nil {
			if !s.closing.Load() {
				s.err = fmt.Errorf("read: %w", err)
			}
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			if !s.closing.Load() {
				s.err = fmt.Errorf("read: %w", err)
			}
			return
		}
		at := time.Since(base)
		b := buf.Bytes()
		switch frameType(b) {
		case "next":
			idx, version, ok := parseEvent(b, ids)
			if !ok {
				s.err = fmt.Errorf("unexpected event frame: %.300s", b)
				continue
			}
			s.samples = append(s.samples, sample{key: eventKey(idx, version), at: at})
			s.frameBytes += int64(len(b))
			s.count.Add(1)
		case "ping":
			_ = s.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
		case "pong":
		default:
			s.err = fmt.Errorf("server sent %.300s", b)
			return
		}
	}
}

var (
	typeField    = []byte(`"type":"`)
	siteIDField  = []byte(`"site":{"id":"`)
	versionField = []byte(`"version":`)
)

func frameType(b []byte) string {
	i := bytes.Index(b, typeField)
	if i < 0 {
		return ""
	}
	rest := b[i+len(typeField):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	switch t := rest[:j]; string(t) { // no allocation for these comparisons
	case "next":
		return "next"
	case "ping":
		return "ping"
	case "pong":
		return "pong"
	default:
		return string(t)
	}
}

// parseEvent finds the site ID and the current version in a "next" frame
// without decoding it all; it falls back to a full decode.
func parseEvent(b []byte, ids map[string]int) (int, int32, bool) {
	if i := bytes.Index(b, siteIDField); i >= 0 {
		rest := b[i+len(siteIDField):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			idx, known := ids[string(rest[:j])]
			if v := bytes.Index(rest, versionField); known && v >= 0 {
				num := rest[v+len(versionField):]
				k := 0
				for k < len(num) && num[k] >= '0' && num[k] <= '9' {
					k++
				}
				if n, err := strconv.ParseInt(string(num[:k]), 10, 32); err == nil {
					return idx, int32(n), true
				}
			}
		}
	}
	var f struct {
		Payload struct {
			Data struct {
				SiteStatusChanged struct {
					Site    struct{ ID string }
					Current struct{ Version int32 }
				}
			}
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, 0, false
	}
	ev := f.Payload.Data.SiteStatusChanged
	idx, ok := ids[ev.Site.ID]
	return idx, ev.Current.Version, ok
}

func allReceived(subs []*wsSubscriber, n int64) bool {
	for _, s := range subs {
		if s.count.Load() < n {
			return false
		}
	}
	return true
}

func subscriberState(subs []*wsSubscriber) string {
	waiting := 0
	var firstErr error
	for _, s := range subs {
		if s.count.Load() == 0 {
			waiting++
		}
		if s.err != nil && firstErr == nil {
			firstErr = s.err
		}
	}
	return fmt.Sprintf("%d of %d have seen nothing (first error: %v)", waiting, len(subs), firstErr)
}

// settle waits until no subscriber has received anything for quiet.
func settle(subs []*wsSubscriber, quiet time.Duration) {
	total := func() int64 {
		var n int64
		for _, s := range subs {
			n += s.count.Load()
		}
		return n
	}
	last := total()
	for {
		time.Sleep(quiet)
		n := total()
		if n == last {
			return
		}
		last = n
	}
}

// pace calls fire rate times a second for warm-up plus duration, telling it
// whether the call falls in the measured window; onMeasure runs once when
// that window starts. It returns the window's length: from its first call to
// its last, plus one interval, so a load generator that keeps up reports
// exactly the rate asked for, and one that falls behind reports less.
func pace(ctx context.Context, rate int, warmup, duration time.Duration, onMeasure func() error, fire func(measured bool) bool) (time.Duration, error) {
	interval := time.Second / time.Duration(rate)
	nWarm := int(warmup / interval)
	total := nWarm + max(1, int(duration/interval))
	start := time.Now()
	var windowStart, last time.Time
	timer := time.NewTimer(0)
	<-timer.C
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		measured := i >= nWarm
		if i == nWarm {
			if err := onMeasure(); err != nil {
				return 0, err
			}
			windowStart = time.Now()
		}
		if !fire(measured) {
			return 0, ctx.Err()
		}
		last = time.Now()
	}
	return last.Sub(windowStart) + interval, nil
}

// rawPubSub is Part 2's baseline: the same number of subscribers and the
// same rate through a plain Redis PUBLISH → SUBSCRIBE round trip, with
// messages the size of the system's frames.
func (e *env) rawPubSub(ctx context.Context, sys *FanoutReport) (*Delivery, error) {
	cfg := e.cfg
	channel := e.prefix + "fanout"
	size := sys.FrameBytes
	if size < 32 {
		size = 400
	}
	e.logf("part 2, raw baseline: %d go-redis Pub/Sub subscribers, %d messages/s of %d B for %s (after %s warm-up)",
		cfg.Subscribers, cfg.Rate, size, cfg.FanoutDuration, cfg.Warmup)

	type rawSub struct {
		ps      *redis.PubSub
		samples []sample
		count   atomic.Int64
		err     error
		done    chan struct{}
	}
	base := time.Now()
	nWarm := int(cfg.Warmup / (time.Second / time.Duration(cfg.Rate)))
	capacity := int(float64(cfg.Rate)*(cfg.Warmup+cfg.FanoutDuration).Seconds()*1.1) + 64
	subs := make([]*rawSub, 0, cfg.Subscribers)
	rctx, cancel := context.WithCancel(ctx)
	stopped := false
	stopSubscribers := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for _, s := range subs {
			s.ps.Close()
			<-s.done
		}
	}
	defer stopSubscribers()
	for range cfg.Subscribers {
		ps := e.rdb.Subscribe(rctx, channel)
		if _, err := ps.Receive(rctx); err != nil { // the subscription confirmation
			ps.Close()
			return nil, fmt.Errorf("redis subscribe: %w", err)
		}
		s := &rawSub{ps: ps, samples: make([]sample, 0, capacity), done: make(chan struct{})}
		subs = append(subs, s)
		go func() {
			defer close(s.done)
			for {
				msg, err := ps.ReceiveMessage(rctx)
				if err != nil {
					if rctx.Err() == nil && !errors.Is(err, redis.ErrClosed) {
						s.err = err
					}
					return
				}
				at := time.Since(base)
				if len(msg.Payload) < 10 {
					s.err = fmt.Errorf("bad message %.40q", msg.Payload)
					continue
				}
				seq, err := strconv.ParseUint(msg.Payload[:10], 10, 64)
				if err != nil {
					s.err = fmt.Errorf("bad message %.40q", msg.Payload)
					continue
				}
				s.samples = append(s.samples, sample{key: seq, at: at})
				s.count.Add(1)
			}
		}()
	}

	padding := bytes.Repeat([]byte("x"), size-11)
	total := nWarm + max(1, int(cfg.FanoutDuration/(time.Second/time.Duration(cfg.Rate))))
	starts := make([]time.Duration, total)
	published := make([]bool, total)
	var inflight sync.WaitGroup
	var seq int
	var usage0 Usage
	var pubErr atomic.Value
	window, err := pace(ctx, cfg.Rate, cfg.Warmup, cfg.FanoutDuration, func() error {
		usage0 = e.usage()
		return nil
	}, func(bool) bool {
		i := seq
		seq++
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			msg := make([]byte, 0, size)
			msg = strconv.AppendUint(msg, uint64(i)+1e9, 10) // always 10 digits
			msg = append(msg, '|')
			msg = append(msg, padding...)
			starts[i] = time.Since(base)
			if err := e.rdb.Publish(ctx, channel, msg).Err(); err != nil {
				pubErr.CompareAndSwap(nil, err)
				return
			}
			published[i] = true
		}()
		return true
	})
	sys.RawUsage = e.usage().Sub(usage0)
	inflight.Wait()
	if err != nil {
		return nil, err
	}
	if v := pubErr.Load(); v != nil {
		return nil, fmt.Errorf("redis publish: %v", v)
	}
	measured := int64(0)
	for i := nWarm; i < seq; i++ {
		if published[i] {
			measured++
		}
	}
	if window > 0 {
		sys.RawAchievedRate = float64(measured) / window.Seconds()
	}

	drainStart := time.Now()
	for time.Since(drainStart) < cfg.Drain && ctx.Err() == nil {
		done := true
		for _, s := range subs {
			if s.count.Load() < int64(seq) {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopSubscribers()
	res := &Delivery{Expected: measured * int64(len(subs))}
	var lat []time.Duration
	for _, s := range subs {
		if s.err != nil {
			return nil, fmt.Errorf("redis subscriber: %w", s.err)
		}
		seen := make(map[uint64]bool, measured)
		for _, smp := range s.samples {
			i := int(smp.key - 1e9)
			if i < nWarm || i >= seq || !published[i] {
				continue
			}
			if seen[smp.key] {
				res.Duplicates++
				continue
			}
			seen[smp.key] = true
			res.Received++
			lat = append(lat, smp.at-starts[i])
		}
	}
	res.Latency = summarize(lat)
	return res, nil
}
