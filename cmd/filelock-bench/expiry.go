package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// expiryResult is what an expiry measurement found.
type expiryResult struct {
	locks, seen int
	took        time.Duration   // taking the locks
	lag         []time.Duration // sorted: expired event received - expires_at
	err         error
}

// expiryLag is the reference expirylag: n locks of ttl over p projects,
// taken over HTTP by 64 workers, every project's SSE stream followed; each
// lock_released "expired" is timed against the lock's expires_at. It waits
// up to wait after the last expiry is due.
func expiryLag(base string, n, p int, ttl int, wait time.Duration) expiryResult {
	prefix := fmt.Sprintf("xl%d", time.Now().UnixNano()%1e6)
	var mu sync.Mutex
	exp := map[string]time.Time{}
	got := map[string]time.Duration{}
	var bodies []io.Closer
	defer func() {
		for _, b := range bodies {
			b.Close()
		}
	}()
	for i := range p {
		pid := fmt.Sprintf("%s-%d", prefix, i)
		resp, err := http.Get(base + "/events/" + pid)
		if err != nil {
			return expiryResult{err: err}
		}
		bodies = append(bodies, resp.Body)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() && sc.Text() != "" { // up to the end of the snapshot: the stream is live
		}
		go func() {
			var ev string
			for sc.Scan() {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "event:"); ok {
					ev = strings.TrimSpace(v)
				} else if v, ok := strings.CutPrefix(line, "data:"); ok && ev == "lock_released" {
					now := time.Now()
					var d struct{ File, Reason string }
					if json.Unmarshal([]byte(v), &d) == nil && d.Reason == "expired" {
						mu.Lock()
						if x, ok := exp[pid+"/"+d.File]; ok {
							got[pid+"/"+d.File] = now.Sub(x)
						}
						mu.Unlock()
					}
				}
			}
		}()
	}
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 10 * time.Second}
	defer cl.CloseIdleConnections()
	jobs := make(chan int)
	var wg sync.WaitGroup
	t0 := time.Now()
	var last time.Time
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				pid := fmt.Sprintf("%s-%d", prefix, i%p)
				f := fmt.Sprintf("img-%d.jpg", i)
				body := fmt.Sprintf(`{"project_id":%q,"file":%q,"user_id":"u%d","ttl_seconds":%d}`, pid, f, i, ttl)
				resp, err := cl.Post(base+"/lock", "application/json", bytes.NewBufferString(body))
				if err != nil {
					continue
				}
				var r struct {
					Lock struct {
						ExpiresAt time.Time `json:"expires_at"`
					} `json:"lock"`
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &r) == nil {
					mu.Lock()
					exp[pid+"/"+f] = r.Lock.ExpiresAt
					if r.Lock.ExpiresAt.After(last) {
						last = r.Lock.ExpiresAt
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(t0)
	for deadline := last.Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		done := len(got) == len(exp)
		mu.Unlock()
		if done {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	res := expiryResult{locks: len(exp), seen: len(got), took: took}
	for _, d := range got {
		res.lag = append(res.lag, d)
	}
	res.lag = sorted(res.lag)
	return res
}
