package main

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// lockScript is the reference lock-like script (GET, SET PX, HSET, ZADD,
// XADD, PUBLISH): the raw cost of one lock operation in Redis.
//
//go:embed lock_acquire.lua
var lockScript string

// luaLoad runs the lock script from c concurrent clients for d, each
// client on keys of its own project tag, and reports the rate.
func luaLoad(addr string, c int, d time.Duration) loadResult {
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: c, MinIdleConns: c, ContextTimeoutEnabled: true})
	defer rdb.Close()
	ctx := context.Background()
	sha, err := rdb.ScriptLoad(ctx, lockScript).Result()
	if err != nil {
		return loadResult{err: err}
	}
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	stop := time.Now().Add(d)
	prefix := fmt.Sprintf("luabench%d", time.Now().UnixNano()%1e6)
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag := fmt.Sprintf("{%s-%d}", prefix, w%16)
			user, file := fmt.Sprintf("u%d", w), fmt.Sprintf("img/%d.jpg", w)
			keys := []string{"lock:" + tag + ":" + file, "locks:" + tag, "due:" + tag, "events:" + tag}
			for time.Now().Before(stop) {
				t0 := time.Now()
				err := rdb.EvalSha(ctx, sha, keys, user, 90000, file, "ch:"+tag).Err()
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return finish(lat, d, errs.Load())
}

// startRedis starts a private redis-server (no persistence) on a free port.
func startRedis() (addr string, stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "filelock-bench-redis")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--maxmemory-policy", "noeviction")
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) }
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server did not start on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
