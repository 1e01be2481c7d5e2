package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"filelock/internal/redistest"
	"filelock/store"
)

// BenchmarkScriptCost measures the Redis cost of the lock scripts on a
// private server, load independent as far as can be: the CPU time of
// Redis's main thread (INFO cpu) per lock+unlock cycle (an Acquire and a
// Release, over 16 projects and 64 users as the lock-http scenario of
// filelock-bench), and the median SLOWLOG duration (every command logged;
// the clock of INFO commandstats, in µs) of each Acquire and Release, the
// median being untouched by the odd preemption of a loaded machine. The
// same for a script of only lib.lua and project.lua (the prelude) and for
// an empty script, both with an Acquire's KEYS and ARGV, run in phases of
// their own. The commands the scripts ran, with their Redis time, go to
// the log (-v).
//
//	go test -run '^$' -bench ScriptCost -benchtime 5000x -v ./store/redis
func BenchmarkScriptCost(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	ctx := b.Context()
	s := New(rdb, store.DefaultOptions(), "cost:")
	prelude := newScript(luaFile("lib") + luaFile("project") + "return 1\n")
	empty := newScript("return 1\n")
	admin := func(args ...any) any {
		v, err := rdb.Do(ctx, args...).Result()
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	where := func(i int) (p, u, f string) {
		return fmt.Sprintf("bench-%d", i%16), fmt.Sprintf("user-%d", i%64), fmt.Sprintf("images/%d.jpg", i%1000)
	}
	pair := func(i int) {
		p, u, f := where(i)
		if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: f, User: u}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Release(ctx, store.ReleaseRequest{ProjectID: p, File: f, User: u}); err != nil {
			b.Fatal(err)
		}
	}
	bare := func(sc *script) func(int) {
		return func(i int) {
			p, u, f := where(i)
			if err := s.run(ctx, s.project(sc, p, f, f, u, int64(60000), "0")); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range 64 { // the scripts are loaded, the projects exist
		pair(i)
		bare(prelude)(i)
		bare(empty)(i)
	}
	cpu := func() float64 { // µs
		info := admin("info", "cpu").(string)
		var t float64
		for _, l := range strings.Split(info, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && strings.HasSuffix(k, "_main_thread") {
				f, _ := strconv.ParseFloat(v, 64)
				t += f
			}
		}
		return t * 1e6
	}
	admin("config", "set", "slowlog-log-slower-than", "0", "slowlog-max-len", "1024")
	admin("config", "resetstat")
	names := map[string]string{acquireScript.sha: "acquire", releaseScript.sha: "release", prelude.sha: "prelude", empty.sha: "empty"}
	durs := map[string][]int64{}
	collect := func() {
		for _, e := range admin("slowlog", "get", "-1").([]any) {
			e := e.([]any)
			args := e[3].([]any)
			if len(args) < 2 || !strings.EqualFold(args[0].(string), "evalsha") {
				continue
			}
			if name, ok := names[args[1].(string)]; ok {
				durs[name] = append(durs[name], e[2].(int64))
			}
		}
		admin("slowlog", "reset")
	}
	cpus := map[string]float64{}
	b.ResetTimer()
	for _, ph := range []struct {
		name string
		run  func(int)
	}{{"pair", pair}, {"prelude", bare(prelude)}, {"empty", bare(empty)}} {
		admin("slowlog", "reset")
		t0, spent := cpu(), 0.0
		for i := range b.N {
			ph.run(64 + i)
			if i%400 == 399 { // at most 800 scripts: within the log's length
				b.StopTimer()
				t1 := cpu()
				collect()
				t0, spent = cpu(), spent+t1-t0
				b.StartTimer()
			}
		}
		b.StopTimer()
		spent += cpu() - t0
		collect()
		cpus[ph.name] = spent / float64(b.N)
		b.StartTimer()
	}
	b.StopTimer()
	for _, name := range []string{"acquire", "release", "prelude", "empty"} {
		if d := durs[name]; len(d) > 0 {
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2]), "µs-p50/"+name)
		}
	}
	for name, c := range cpus {
		b.ReportMetric(c, "µs-cpu/"+name)
	}
	b.ReportMetric(0, "ns/op")
	logCommandStats(ctx, b, rdb)
}

// logCommandStats logs INFO commandstats, busiest first.
func logCommandStats(ctx context.Context, b *testing.B, rdb *goredis.Client) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(info, "\n") {
		if strings.HasPrefix(l, "cmdstat_") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	usec := func(l string) int64 {
		var v int64
		if i := strings.Index(l, "usec="); i >= 0 {
			_, _ = fmt.Sscanf(l[i+5:], "%d", &v)
		}
		return v
	}
	slices.SortFunc(lines, func(x, y string) int { return int(usec(y) - usec(x)) })
	for _, l := range lines {
		b.Log(l)
	}
}
