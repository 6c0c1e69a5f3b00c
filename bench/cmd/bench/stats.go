package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Summary describes a latency distribution.
type Summary struct {
	N             int
	P50, P99, Max time.Duration
	Mean          time.Duration
}

func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	var sum float64
	for _, v := range d {
		sum += float64(v)
	}
	return Summary{N: len(d), P50: percentile(d, 0.50), P99: percentile(d, 0.99), Max: d[len(d)-1],
		Mean: time.Duration(sum / float64(len(d)))}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Usage is CPU spent over a stretch of wall time: by this process (the
// gateway, the worker and the load generators, all in-process) and by the
// whole machine (Postgres, Redis and Temporal included, and anything else
// that runs there).
type Usage struct {
	Wall        time.Duration
	ProcessCPU  time.Duration
	MachineBusy time.Duration
	// PostgresCPU is spent by the Postgres backends serving this run's
	// database (matched by name in their process title); RedisCPU by the
	// redis-server process, which other users of that server share.
	PostgresCPU time.Duration
	RedisCPU    time.Duration
	// Commits are transactions committed in this run's database (Postgres
	// flushes these statistics about once a second, so the edges blur);
	// WALBytes is WAL written by the whole server.
	Commits  int64
	WALBytes int64
	at       time.Time
}

func (u Usage) Sub(v Usage) Usage {
	return Usage{Wall: u.at.Sub(v.at), ProcessCPU: u.ProcessCPU - v.ProcessCPU, MachineBusy: u.MachineBusy - v.MachineBusy,
		PostgresCPU: u.PostgresCPU - v.PostgresCPU, RedisCPU: u.RedisCPU - v.RedisCPU,
		Commits: u.Commits - v.Commits, WALBytes: u.WALBytes - v.WALBytes}
}

// PerOp spreads the CPU over n operations.
func (u Usage) PerOp(n int) string {
	if n <= 0 || u.Wall <= 0 {
		return "n/a"
	}
	per := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/float64(n)/1e3, 'f', 0, 64) }
	line := fmt.Sprintf("CPU per op: bench process %s µs, postgres backends %s µs, redis %s µs", per(u.ProcessCPU), per(u.PostgresCPU), per(u.RedisCPU))
	if u.Commits > 0 {
		line += fmt.Sprintf("; postgres %.2f commits/op, %.0f B WAL/op", float64(u.Commits)/float64(n), float64(u.WALBytes)/float64(n))
	}
	return line
}

// usage is readUsage plus this run's database statistics.
func (e *env) usage() Usage {
	u := readUsage(e.dbName)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.pool.QueryRow(ctx, `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = $1),
		pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`, e.dbName).Scan(&u.Commits, &u.WALBytes)
	return u
}

// ProcessCores is the average number of cores this process kept busy.
func (u Usage) ProcessCores() float64 { return cores(u.ProcessCPU, u.Wall) }

// MachineCores is the average number of cores the machine kept busy.
func (u Usage) MachineCores() float64 { return cores(u.MachineBusy, u.Wall) }

func cores(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return cpu.Seconds() / wall.Seconds()
}

func readUsage(dbName string) Usage {
	u := Usage{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.ProcessCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	u.MachineBusy = machineBusy()
	u.PostgresCPU, u.RedisCPU = serviceCPU(dbName)
	return u
}

// serviceCPU sums the CPU time of the Postgres backends whose process title
// names dbName, and of redis-server, from /proc (Linux; zero elsewhere). A
// backend that exits between two readings takes its time with it, so this
// is a slight undercount; the benchmark's pools keep theirs open.
func serviceCPU(dbName string) (pg, rd time.Duration) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, ent := range entries {
		pid := ent.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue
		}
		lp, rp := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
		if lp < 0 || rp < lp {
			continue
		}
		comm := string(stat[lp+1 : rp])
		var isPG bool
		switch comm {
		case "postgres":
			cmd, err := os.ReadFile("/proc/" + pid + "/cmdline")
			if err != nil || dbName == "" || !strings.Contains(string(cmd), " "+dbName+" ") {
				continue
			}
			isPG = true
		case "redis-server":
		default:
			continue
		}
		// Fields after the comm: state is field 3; utime and stime are 14, 15.
		f := strings.Fields(string(stat[rp+1:]))
		if len(f) < 13 {
			continue
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		d := time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ
		if isPG {
			pg += d
		} else {
			rd += d
		}
	}
	return pg, rd
}

// machineBusy reads the busy time of every core from /proc/stat (Linux);
// elsewhere it is zero and the report says n/a.
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice,
		// already counted in user and nice]
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += v
	}
	return time.Duration(busy) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func usageLine(u Usage) string {
	if u.Wall <= 0 {
		return "n/a"
	}
	machine := "n/a"
	if u.MachineBusy > 0 {
		machine = fmt.Sprintf("%.2f", u.MachineCores())
	}
	return fmt.Sprintf("bench process %.2f cores, machine %s cores busy", u.ProcessCores(), machine)
}

func (e *env) printThroughput(t *ThroughputReport) {
	fmt.Fprintln(e.out)
	fmt.Fprintln(e.out, "Part 1: status update throughput")
	for _, side := range []struct {
		name string
		r    *OpsResult
	}{{"system (GraphQL/HTTP → gateway → Postgres)", t.System}, {"raw baseline (pgx transaction)", t.Raw}} {
		r := side.r
		if r == nil {
			continue
		}
		fmt.Fprintf(e.out, "  %-44s %8.0f ops/s  p50 %s ms  p99 %s ms  max %s ms  (%d ops in %s, %d errors; %s)\n",
			side.name, r.Throughput(), ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max), r.Ops, r.Window, r.Errors, usageLine(r.Usage))
	}
	for _, side := range []struct {
		name string
		r    *OpsResult
	}{{"system", t.System}, {"raw", t.Raw}} {
		if side.r != nil {
			fmt.Fprintf(e.out, "  %-6s %s\n", side.name, side.r.Usage.PerOp(side.r.Ops))
		}
	}
	if t.System != nil && t.Raw != nil && t.Raw.Throughput() > 0 {
		fmt.Fprintf(e.out, "  throughput ratio system/raw: %.2f\n", t.System.Throughput()/t.Raw.Throughput())
	}
	fmt.Fprintln(e.out)
}

func (e *env) printFanout(f *FanoutReport) {
	fmt.Fprintln(e.out)
	fmt.Fprintln(e.out, "Part 2: fan-out latency")
	fmt.Fprintf(e.out, "  updates: %d measured at %.0f/s achieved (target %d/s), %d errors; mutation latency p50 %s ms, p99 %s ms\n",
		f.Updates, f.AchievedRate, f.Rate, f.UpdateErrors, ms(f.MutationLatency.P50), ms(f.MutationLatency.P99))
	fmt.Fprintf(e.out, "  system  (mutation start → subscriber):    p50 %s ms  p99 %s ms  max %s ms  received %d/%d, %d duplicates (%d subscribers, %d B/frame avg; %s)\n",
		ms(f.System.Latency.P50), ms(f.System.Latency.P99), ms(f.System.Latency.Max), f.System.Received, f.System.Expected,
		f.System.Duplicates, f.Subscribers, f.FrameBytes, usageLine(f.Usage))
	fmt.Fprintf(e.out, "  system  (mutation response → subscriber): p50 %s ms  p99 %s ms  max %s ms  (negative: the event arrived before the HTTP response)\n",
		ms(f.FromResponse.P50), ms(f.FromResponse.P99), ms(f.FromResponse.Max))
	fmt.Fprintf(e.out, "  system  %s (per update, fan-out included)\n", f.Usage.PerOp(f.Updates))
	if f.Raw != nil {
		fmt.Fprintf(e.out, "  raw     (PUBLISH → SUBSCRIBE, go-redis):   p50 %s ms  p99 %s ms  max %s ms  received %d/%d at %.0f msgs/s achieved (%s)\n",
			ms(f.Raw.Latency.P50), ms(f.Raw.Latency.P99), ms(f.Raw.Latency.Max), f.Raw.Received, f.Raw.Expected, f.RawAchievedRate, usageLine(f.RawUsage))
		if f.Raw.Latency.P99 > 0 {
			fmt.Fprintf(e.out, "  p99 ratio system/raw: %.1f\n", float64(f.System.Latency.P99)/float64(f.Raw.Latency.P99))
		}
	}
	fmt.Fprintln(e.out)
}

// Targets the benchmark shows.
const (
	targetThroughputRatio = 0.5
	targetFanoutP99       = 20 * time.Millisecond
)

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// printTable prints the final side-by-side table.
func printTable(out io.Writer, r *Report) {
	fmt.Fprintln(out, "Results")
	if r.Throughput == nil && r.Fanout == nil && r.Escalation == nil {
		return // only Part 4 ran: its own table follows
	}
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, " metric\t system\t raw baseline\t ratio\t target\t met?")
	fmt.Fprintln(tw, " ------\t ------\t ------------\t -----\t ------\t ----")
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	if t := r.Throughput; t != nil && t.System != nil && t.Raw != nil {
		sys, raw := t.System, t.Raw
		tput := ratio(sys.Throughput(), raw.Throughput())
		met := raw.Throughput() > 0 && sys.Throughput()/raw.Throughput() >= targetThroughputRatio
		fmt.Fprintf(tw, " status updates/s (%d clients)\t %.0f\t %.0f\t %s\t ratio ≥ %.1f\t %s\n",
			sys.Workers, sys.Throughput(), raw.Throughput(), tput, targetThroughputRatio, yesNo(met))
		fmt.Fprintf(tw, " update latency p50 (ms)\t %s\t %s\t %s\t -\t -\n", ms(sys.Latency.P50), ms(raw.Latency.P50),
			ratio(float64(sys.Latency.P50), float64(raw.Latency.P50)))
		fmt.Fprintf(tw, " update latency p99 (ms)\t %s\t %s\t %s\t -\t -\n", ms(sys.Latency.P99), ms(raw.Latency.P99),
			ratio(float64(sys.Latency.P99), float64(raw.Latency.P99)))
		fmt.Fprintf(tw, " update errors\t %d\t %d\t -\t 0\t %s\n", sys.Errors, raw.Errors, yesNo(sys.Errors == 0 && raw.Errors == 0))
	}
	if f := r.Fanout; f != nil {
		rawP50, rawP99, rawMax, rawRecv, rawRate := "n/a", "n/a", "n/a", "n/a", "n/a"
		p50r, p99r := "n/a", "n/a"
		if f.Raw != nil {
			rawP50, rawP99, rawMax = ms(f.Raw.Latency.P50), ms(f.Raw.Latency.P99), ms(f.Raw.Latency.Max)
			rawRecv = fmt.Sprintf("%d/%d", f.Raw.Received, f.Raw.Expected)
			rawRate = fmt.Sprintf("%.0f", f.RawAchievedRate)
			p50r = ratio(float64(f.System.Latency.P50), float64(f.Raw.Latency.P50))
			p99r = ratio(float64(f.System.Latency.P99), float64(f.Raw.Latency.P99))
		}
		fmt.Fprintf(tw, " fan-out p50 (ms, %d subs × %d/s)\t %s\t %s\t %s\t -\t -\n", f.Subscribers, f.Rate, ms(f.System.Latency.P50), rawP50, p50r)
		fmt.Fprintf(tw, " fan-out p99 (ms)\t %s\t %s\t %s\t < %s ms\t %s\n", ms(f.System.Latency.P99), rawP99, p99r,
			ms(targetFanoutP99), yesNo(f.System.Latency.N > 0 && f.System.Latency.P99 < targetFanoutP99))
		fmt.Fprintf(tw, " fan-out max (ms)\t %s\t %s\t -\t -\t -\n", ms(f.System.Latency.Max), rawMax)
		fmt.Fprintf(tw, " fan-out p99 from response (ms)\t %s\t -\t -\t -\t -\n", ms(f.FromResponse.P99))
		fmt.Fprintf(tw, " events received/expected\t %d/%d\t %s\t -\t no loss\t %s\n", f.System.Received, f.System.Expected, rawRecv,
			yesNo(f.System.Expected > 0 && f.System.Received == f.System.Expected && f.System.Duplicates == 0))
		fmt.Fprintf(tw, " achieved update rate (/s)\t %.0f\t %s\t -\t %d\t %s\n", f.AchievedRate, rawRate, f.Rate,
			yesNo(f.AchievedRate >= 0.95*float64(f.Rate)))
	}
	if x := r.Escalation; x != nil {
		sys, bare := x.System, x.Bare
		fmt.Fprintf(tw, " first page p50 (ms, %d incidents at once)\t %s\t %s\t %s\t -\t -\n", x.Incidents, ms(sys.Latency.P50), ms(bare.Latency.P50),
			ratio(float64(sys.Latency.P50), float64(bare.Latency.P50)))
		fmt.Fprintf(tw, " first page p99 (ms)\t %s\t %s\t %s\t ≤ %.1f× raw\t %s\n", ms(sys.Latency.P99), ms(bare.Latency.P99),
			ratio(float64(sys.Latency.P99), float64(bare.Latency.P99)), targetEscalationRatio,
			yesNo(sys.Latency.N > 0 && bare.Latency.P99 > 0 && float64(sys.Latency.P99) <= targetEscalationRatio*float64(bare.Latency.P99)))
		fmt.Fprintf(tw, " first page max (ms)\t %s\t %s\t -\t -\t -\n", ms(sys.Latency.Max), ms(bare.Latency.Max))
		fmt.Fprintf(tw, " first page p99 from response (ms)\t %s\t -\t -\t -\t -\n", ms(x.FromResponse.P99))
		fmt.Fprintf(tw, " incidents paged (all delivered?)\t %d/%d\t %d/%d\t -\t all, once\t %s\n", sys.Delivered, sys.Expected,
			bare.Delivered, bare.Expected, yesNo(x.allPaged()))
	}
	_ = tw.Flush()
}

// backgroundLoad is how many cores the machine kept busy over d, or -1 when
// it cannot tell.
func backgroundLoad(ctx context.Context, d time.Duration) float64 {
	u0 := readUsage("")
	if u0.MachineBusy == 0 {
		return -1
	}
	select {
	case <-ctx.Done():
		return -1
	case <-time.After(d):
	}
	return readUsage("").Sub(u0).MachineCores()
}
