//go:build callgrind

package redis

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/store"
)

// TestCallgrindScriptCost counts the instructions redis-server runs per
// lock script, the most load-independent figure of a script's cost: a
// private redis-server runs under valgrind's callgrind, and each phase (256
// Acquires, 256 Releases of those locks, 256 runs of a script of only the
// library prelude, of an empty script, both with an Acquire's KEYS and
// ARGV, and of cmd/filelock-bench's reference lock_acquire.lua) is counted
// between callgrind_control -z and -d. Command parsing and networking are
// included. Needs valgrind; takes about a minute:
//
//	go test -tags callgrind -run CallgrindScriptCost -v ./store/redis
func TestCallgrindScriptCost(t *testing.T) {
	for _, tool := range []string{"valgrind", "callgrind_control", "redis-server"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	vg := exec.Command("valgrind", "--tool=callgrind", "--callgrind-out-file="+filepath.Join(dir, "cg.out"),
		"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := vg.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = vg.Process.Kill(); _ = vg.Wait() }()
	rdb := goredis.NewClient(&goredis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), ReadTimeout: 10 * time.Second})
	defer rdb.Close()
	ctx := t.Context()
	for deadline := time.Now().Add(60 * time.Second); rdb.Ping(ctx).Err() != nil; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis-server under valgrind did not start")
		}
	}

	s := New(rdb, store.DefaultOptions(), "cg:")
	prelude := newScript(luaFile("lib") + luaFile("project") + "return 1\n")
	empty := newScript("return 1\n")
	refSrc, err := os.ReadFile("../../cmd/filelock-bench/lock_acquire.lua")
	if err != nil {
		t.Fatal(err)
	}
	ref := newScript(string(refSrc))
	const n = 256
	where := func(i int) (p, u, f string) {
		return fmt.Sprintf("bench-%d", i%16), fmt.Sprintf("user-%d", i), fmt.Sprintf("images/%d.jpg", i)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	phases := []struct {
		name string
		run  func(int)
	}{
		{"acquire", func(i int) {
			p, u, f := where(i)
			_, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: f, User: u})
			must(err)
		}},
		{"release", func(i int) {
			p, u, f := where(i)
			_, err := s.Release(ctx, store.ReleaseRequest{ProjectID: p, File: f, User: u})
			must(err)
		}},
		{"prelude", func(i int) {
			p, u, f := where(i)
			must(s.run(ctx, s.project(prelude, p, f, f, u, int64(60000), "0")))
		}},
		{"empty", func(i int) {
			p, u, f := where(i)
			must(s.run(ctx, s.project(empty, p, f, f, u, int64(60000), "0")))
		}},
		{"reference", func(i int) {
			tag := fmt.Sprintf("{ref-%d}", i%16)
			must(s.run(ctx, &call{script: ref, keys: []string{"lock:" + tag + ":f" + strconv.Itoa(i), "locks:" + tag, "due:" + tag, "events:" + tag},
				args: []any{"u" + strconv.Itoa(i), 90000, "f" + strconv.Itoa(i), "ch:" + tag}}))
		}},
	}
	for _, ph := range phases { // scripts loaded, projects there
		for i := range n {
			ph.run(i)
		}
	}
	pid := strconv.Itoa(vg.Process.Pid)
	totals := regexp.MustCompile(`(?m)^(?:summary|totals): (\d+)`)
	dumps := 0
	for round := range 2 {
		for _, ph := range phases {
			must(exec.CommandContext(ctx, "callgrind_control", "-z", pid).Run())
			for i := range n {
				ph.run(i)
			}
			must(exec.CommandContext(ctx, "callgrind_control", "-d", pid).Run())
			dumps++
			b, err := os.ReadFile(filepath.Join(dir, "cg.out."+strconv.Itoa(dumps)))
			must(err)
			m := totals.FindSubmatch(b)
			if m == nil {
				t.Fatalf("no totals in dump %d", dumps)
			}
			ir, _ := strconv.ParseInt(string(m[1]), 10, 64)
			t.Logf("round %d: %-9s %7d instructions per call", round, ph.name, ir/n)
		}
	}
}
