// Command filelock-bench loads a filelock server the way real clients do
// and prints one table per scenario (issue 11, BENCHMARKS.md):
//
//   - sse, ws: fan-out. N subscribers of one project (SSE streams, or
//     WebSockets that join it), then E events (POST /lock) every interval;
//     delivery latency p50/p90/p99/max, missing and duplicate deliveries,
//     and the server's VmRSS growth per connection.
//   - mixed: the same with half the subscribers SSE streams and half
//     WebSockets, and the p99 of each transport besides.
//   - idle: VmRSS per idle SSE stream and per idle WebSocket at -idle-n.
//   - lock-http: lock+unlock cycles over HTTP from -c clients (requests/s),
//     next to the ceiling of a null Go JSON HTTP server (null-http) that
//     this program starts in a process of its own.
//   - lock-ws: lock and unlock messages over open WebSockets, -c clients.
//   - expiry: -expiry-n locks of 5 s over -expiry-p projects taken over
//     HTTP, every project's SSE stream followed: how late each expired
//     release arrives (p50/p99/max) and how many never do.
//   - lua: the raw Redis ceiling: the reference lock-like Lua script from
//     -c concurrent clients (a private redis-server unless -redis is given).
//
// Sockets come from source addresses spread over 127.0.0.2-250, so tens of
// thousands fit; raise `ulimit -n` first (this program raises its soft
// limit to the hard one, and so does the server it starts). The figures
// are measured as the reference instruments of the project measure them.
//
// Against a running server: -url http://127.0.0.1:8000 -server-pid PID.
// Or -spawn bin/filelockd: a fresh server (store -store) per scenario.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

type options struct {
	url       string
	pid       int
	spawn     string
	store     string
	redis     string
	scenarios []string
	ns        []int
	events    int
	interval  time.Duration
	ramp      int
	settle    time.Duration
	idleN     int
	clients   int
	dur       time.Duration
	timeout   time.Duration
	strict    bool
	expiryN   int
	expiryP   string
}

func main() {
	var o options
	var scen, ns string
	null := flag.String("null-server", "", "internal: serve the null JSON HTTP server on this address")
	flag.StringVar(&o.url, "url", "", "base URL of a running filelock (instead of -spawn)")
	flag.IntVar(&o.pid, "server-pid", 0, "pid of the running filelock, for VmRSS (with -url)")
	flag.StringVar(&o.spawn, "spawn", "", "filelockd binary to start fresh for each scenario")
	flag.StringVar(&o.store, "store", "memory", "store of the spawned server: memory or redis")
	flag.StringVar(&o.redis, "redis", "", "Redis address for -store redis and the lua scenario (default: a private redis-server)")
	flag.StringVar(&scen, "scenarios", "sse,ws,mixed,idle,lock-http,null-http,lock-ws,lua,expiry", "scenarios to run, comma-separated")
	flag.StringVar(&ns, "n", "1000,5000", "fan-out subscriber counts, comma-separated")
	flag.IntVar(&o.events, "events", 20, "fan-out: events to publish")
	flag.DurationVar(&o.interval, "interval", 200*time.Millisecond, "fan-out: time between events")
	flag.IntVar(&o.ramp, "ramp", 1000, "new connections per second (0 = at once)")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "pause between all connections ready and the RSS reading")
	flag.IntVar(&o.idleN, "idle-n", 10000, "idle: connections held for the RSS reading")
	flag.IntVar(&o.clients, "c", 64, "lock scenarios: concurrent clients")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "lock scenarios: duration of each")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "max wait for connections and deliveries")
	flag.IntVar(&o.expiryN, "expiry-n", 10000, "expiry: locks to let expire")
	flag.StringVar(&o.expiryP, "expiry-p", "1,100", "expiry: project counts, comma-separated")
	flag.BoolVar(&o.strict, "strict", false, "exit 1 on any missing or duplicate delivery, failed connection or request error")
	cpuprofile := flag.String("cpuprofile", "", "write this program's own CPU profile (the load generator's) to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatalf("-cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatalf("-cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *null != "" {
		if err := serveNull(*null); err != nil {
			fatalf("null server: %v", err)
		}
		return
	}
	o.scenarios = strings.Split(scen, ",")
	for _, s := range strings.Split(ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatalf("-n: bad count %q", s)
		}
		o.ns = append(o.ns, n)
	}
	if (o.url == "") == (o.spawn == "") {
		fatalf("give -url (a running server) or -spawn (a filelockd binary)")
	}
	lim := raiseNofile()
	need := max(slices.Max(o.ns), o.idleN) + 256
	fmt.Printf("filelock-bench: %s, store %s, open files limit %d, %s\n", describe(o), o.store, lim, time.Now().UTC().Format(time.RFC3339))
	if lim < uint64(need) {
		fmt.Printf("WARNING: %d connections need an open files limit of about %d (ulimit -n)\n", need-256, need)
	}
	r := &runner{o: o}
	defer r.cleanup()
	failed := false
	for _, s := range o.scenarios {
		if err := r.run(strings.TrimSpace(s)); err != nil {
			fmt.Fprintf(os.Stderr, "scenario %s: %v\n", s, err)
			failed = true
		}
	}
	if failed {
		r.cleanup()
		os.Exit(1)
	}
}

func describe(o options) string {
	if o.spawn != "" {
		return "fresh " + o.spawn + " per scenario"
	}
	return o.url
}

type runner struct {
	o         options
	redisAddr string
	stopRedis func()
}

func (r *runner) cleanup() {
	if r.stopRedis != nil {
		r.stopRedis()
		r.stopRedis = nil
	}
}

// redisFor returns the Redis to use, starting a private one on first need.
func (r *runner) redisFor() (string, error) {
	if r.o.redis != "" {
		return r.o.redis, nil
	}
	if r.redisAddr == "" {
		addr, stop, err := startRedis()
		if err != nil {
			return "", err
		}
		r.redisAddr, r.stopRedis = addr, stop
	}
	return r.redisAddr, nil
}

// server returns the filelock to load: a fresh one with -spawn.
func (r *runner) server() (*target, error) {
	if r.o.spawn == "" {
		return &target{base: strings.TrimRight(r.o.url, "/"), pid: r.o.pid, stop: func() {}}, nil
	}
	addr := ""
	if r.o.store == "redis" {
		var err error
		if addr, err = r.redisFor(); err != nil {
			return nil, err
		}
	}
	return spawn(r.o.spawn, r.o.store, addr)
}

func (r *runner) run(s string) error {
	switch s {
	case "sse", "ws", "mixed":
		return r.fanout(s)
	case "idle":
		return r.idle()
	case "lock-http", "null-http", "lock-ws":
		return r.lock(s)
	case "lua":
		return r.lua()
	case "expiry":
		return r.expiry()
	}
	return fmt.Errorf("unknown scenario (sse, ws, mixed, idle, lock-http, null-http, lock-ws, lua, expiry)")
}

// fanout runs the fan-out scenario of mode (sse, ws or mixed) at each -n;
// mixed adds each transport's ready subscribers and p99 to the table.
func (r *runner) fanout(mode string) (err error) {
	over := strings.ToUpper(mode)
	if mode == "mixed" {
		over = "SSE and WebSocket, half each"
	}
	t := &table{title: fmt.Sprintf("fan-out over %s: %d events every %v to one project, store %s", over, r.o.events, r.o.interval, r.o.store),
		head: []string{"subscribers", "ready", "p50 ms", "p90 ms", "p99 ms", "max ms", "missing", "duplicates", "dropped", "kB/conn", "server CPU s"}}
	if mode == "mixed" {
		t.head = append(t.head, "SSE/WS ready", "SSE p99 ms", "WS p99 ms")
	}
	defer t.print()
	for i, n := range r.o.ns {
		srv, serr := r.server()
		if serr != nil {
			return serr
		}
		res := fanout(fanoutConfig{base: srv.base, pid: srv.pid, mode: mode, n: n, events: r.o.events, interval: r.o.interval,
			ramp: r.o.ramp, settle: r.o.settle, timeout: r.o.timeout, project: fmt.Sprintf("bench%d", i)})
		srv.stop()
		if res.err != nil {
			return res.err
		}
		if r.o.strict && (res.missing > 0 || res.dups > 0 || res.failed > 0 || res.dropped > 0) {
			err = fmt.Errorf("%d subscribers: %d missing, %d duplicates, %d failed, %d dropped",
				n, res.missing, res.dups, res.failed, res.dropped)
		}
		row := []any{n, res.ready, msf(pct(res.lat, 50)), msf(pct(res.lat, 90)), msf(pct(res.lat, 99)), msf(pct(res.lat, 100)),
			res.missing, res.dups, res.dropped, kb(res.kBPerConn), fmt.Sprintf("%.2f", res.serverCPU)}
		if mode == "mixed" {
			row = append(row, fmt.Sprintf("%d/%d", res.readySSE, res.readyWS), msf(pct(res.latSSE, 99)), msf(pct(res.latWS, 99)))
		}
		t.add(row...)
	}
	return err
}

func (r *runner) idle() (err error) {
	t := &table{title: fmt.Sprintf("idle connections: server VmRSS growth per connection, store %s", r.o.store),
		head: []string{"transport", "held", "ready", "failed", "kB/conn"}}
	defer t.print()
	for _, mode := range []string{"sse", "ws"} {
		var srv *target
		srv, err = r.server()
		if err != nil {
			return err
		}
		if srv.pid <= 0 {
			srv.stop()
			return fmt.Errorf("idle needs the server's pid (-server-pid or -spawn)")
		}
		res := fanout(fanoutConfig{base: srv.base, pid: srv.pid, mode: mode, n: r.o.idleN, ramp: r.o.ramp,
			settle: r.o.settle, timeout: r.o.timeout, project: "idle"})
		srv.stop()
		t.add(strings.ToUpper(mode), r.o.idleN, res.ready, res.failed, kb(res.kBPerConn))
		if r.o.strict && res.failed > 0 {
			err = fmt.Errorf("%s: %d connections failed", mode, res.failed)
		}
	}
	return err
}

func (r *runner) lock(s string) error {
	var srv *target
	var err error
	what := map[string]string{"lock-http": "filelock lock+unlock over HTTP", "null-http": "null Go JSON HTTP server (ceiling)",
		"lock-ws": "filelock lock/unlock over open WebSockets"}[s]
	if s == "null-http" {
		srv, err = startNull()
	} else {
		srv, err = r.server()
	}
	if err != nil {
		return err
	}
	defer srv.stop()
	prefix := fmt.Sprintf("lb%d", time.Now().UnixNano()%1e6)
	var meter *redisMeter
	if s != "null-http" && r.o.store == "redis" && (r.o.spawn != "" || r.o.redis != "") {
		addr, err := r.redisFor()
		if err != nil {
			return err
		}
		meter = startRedisMeter(addr)
	}
	cpu0 := cpuSeconds(srv.pid)
	var res loadResult
	if s == "lock-ws" {
		res = wsLockLoad(srv.base, r.o.clients, 16, 1000, r.o.dur, prefix)
	} else {
		res = httpLockLoad(srv.base, r.o.clients, 16, 1000, r.o.dur, prefix)
	}
	cost := loadCost{serverCPU: cpuSeconds(srv.pid) - cpu0, hasServer: srv.pid > 0}
	cost.redisCPU, cost.scripts, cost.usecPerScript = meter.stop()
	if res.err != nil {
		return res.err
	}
	store := r.o.store
	if s == "null-http" {
		store = "-"
	}
	r.lockTable(what, store, res, cost)
	if r.o.strict && res.errors > 0 {
		return fmt.Errorf("%d request errors", res.errors)
	}
	return nil
}

// loadCost is what a load cost the server and Redis, per request.
type loadCost struct {
	serverCPU     float64 // s, of the server process
	hasServer     bool    // its pid is known
	redisCPU      float64 // s, of the Redis process (0: not measured)
	scripts       int64   // EVALSHA calls Redis ran
	usecPerScript float64 // their mean duration, µs (INFO commandstats)
}

func (r *runner) lockTable(what, store string, res loadResult, cost loadCost) {
	t := &table{title: fmt.Sprintf("%s: %d clients for %v", what, r.o.clients, r.o.dur),
		head: []string{"store", "requests", "requests/s", "p50 ms", "p99 ms", "max ms", "errors",
			"server CPU µs/req", "Redis CPU µs/req", "Redis scripts/req", "Redis µs/script"}}
	perReq := func(sec float64, ok bool) string {
		if !ok || res.requests == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", sec*1e6/float64(res.requests))
	}
	scripts, usec := "-", "-"
	if cost.scripts > 0 && res.requests > 0 {
		scripts = fmt.Sprintf("%.2f", float64(cost.scripts)/float64(res.requests))
		usec = fmt.Sprintf("%.1f", cost.usecPerScript)
	}
	t.add(store, res.requests, fmt.Sprintf("%.0f", res.perSecond), msf(pct(res.lat, 50)), msf(pct(res.lat, 99)), msf(pct(res.lat, 100)), res.errors,
		perReq(cost.serverCPU, cost.hasServer), perReq(cost.redisCPU, cost.redisCPU > 0), scripts, usec)
	t.print()
}

func (r *runner) lua() error {
	addr, err := r.redisFor()
	if err != nil {
		return err
	}
	meter := startRedisMeter(addr)
	res := luaLoad(addr, r.o.clients, r.o.dur)
	var cost loadCost
	cost.redisCPU, cost.scripts, cost.usecPerScript = meter.stop()
	if res.err != nil {
		return res.err
	}
	r.lockTable("raw Lua lock script on Redis (ceiling)", "redis "+addr, res, cost)
	if r.o.strict && res.errors > 0 {
		return fmt.Errorf("%d script errors", res.errors)
	}
	return nil
}

func (r *runner) expiry() (err error) {
	t := &table{title: fmt.Sprintf("expiry: %d locks of 5 s taken by 64 HTTP workers, every project's SSE stream followed, store %s", r.o.expiryN, r.o.store),
		head: []string{"projects", "locks", "taken in s", "lag p50 ms", "lag p99 ms", "lag max ms", "never released"}}
	defer t.print()
	for _, ps := range strings.Split(r.o.expiryP, ",") {
		p, perr := strconv.Atoi(strings.TrimSpace(ps))
		if perr != nil || p <= 0 {
			return fmt.Errorf("-expiry-p: bad count %q", ps)
		}
		srv, serr := r.server()
		if serr != nil {
			return serr
		}
		res := expiryLag(srv.base, r.o.expiryN, p, 5, 30*time.Second)
		srv.stop()
		if res.err != nil {
			return res.err
		}
		t.add(p, res.locks, fmt.Sprintf("%.1f", res.took.Seconds()), msf(pct(res.lag, 50)), msf(pct(res.lag, 99)), msf(pct(res.lag, 100)), res.locks-res.seen)
		if r.o.strict && (res.locks != r.o.expiryN || res.seen != res.locks) {
			err = fmt.Errorf("expiry, %d projects: %d of %d locks taken, %d never released", p, res.locks, r.o.expiryN, res.locks-res.seen)
		}
	}
	return err
}

func kb(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "filelock-bench: "+format+"\n", a...)
	os.Exit(2)
}
