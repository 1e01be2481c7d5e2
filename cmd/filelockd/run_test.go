package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"filelock/auth"
	"filelock/internal/redistest"
)

// syncBuffer is the server's stdout, read while it is written.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// listening finds the bound address in a text or JSON log.
var listening = regexp.MustCompile(`msg=listening addr=(\S+)|"msg":"listening","addr":"([^"]+)"`)

// listenAddr is the address of the listening line of log, or "".
func listenAddr(log string) string {
	m := listening.FindStringSubmatch(log)
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}

// start runs the server with args and env until the test ends and returns
// its base URL and its log.
func start(t *testing.T, args []string, env map[string]string) (string, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("run did not return after cancel; log:\n%s", out)
		}
		if !strings.Contains(out.String(), "msg=stopped") && !strings.Contains(out.String(), `"msg":"stopped"`) {
			t.Errorf("no graceful stop logged:\n%s", out)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if addr := listenAddr(out.String()); addr != "" {
			return "http://" + addr, out
		}
		select {
		case err := <-done:
			t.Fatalf("run returned %v before listening; log:\n%s", err, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no listening line; log:\n%s", out)
	return "", nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestRunMemory(t *testing.T) {
	base, out := start(t, []string{"--http.addr", "127.0.0.1:0"}, nil)
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	res, err := http.Post(base+"/lock", "application/json", strings.NewReader(`{"project_id":"p","file":"f","user_id":"u"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("/lock %d", res.StatusCode)
	}
	if !strings.Contains(out.String(), "level=WARN") || !strings.Contains(out.String(), "auth.mode is none") {
		t.Errorf("no warning about auth.mode none:\n%s", out)
	}
}

func TestRunRedis(t *testing.T) {
	srv := redistest.Start(t)
	base, _ := start(t, []string{"--http.addr=127.0.0.1:0", "--store.backend=redis", "--log.level=error"},
		map[string]string{"FILELOCK_REDIS_ADDRS": srv.Addr, "FILELOCK_REDIS_KEY_PREFIX": redistest.Prefix(t)})
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	if code, body := get(t, base+"/status/p"); code != 200 || !strings.Contains(body, `"last_event_id"`) {
		t.Fatalf("/status %d %s", code, body)
	}
	// The store goes away: not ready, requests answered 503, liveness unchanged.
	srv.Stop()
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "store_unavailable") {
		t.Fatalf("/readyz with Redis down: %d %s", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz with Redis down: %d", code)
	}
	srv.Start()
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz after Redis is back: %d %s", code, body)
	}
}

func TestRunBadConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"FILELOCK_LOCK_TTL": "abc"}, `lock.ttl: "abc" is not a duration`},
		{[]string{"--store.backend=disk"}, nil, "store.backend"},
		{[]string{"--http.addr=256.0.0.1:99999"}, nil, "http.addr"},
	} {
		err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%v, %v) = %v, want an error containing %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestRunJWT(t *testing.T) {
	const secret = "test-secret-of-enough-length-0123456789"
	base, _ := start(t, []string{"--http.addr=127.0.0.1:0"}, map[string]string{"FILELOCK_AUTH_MODE": "jwt", "FILELOCK_AUTH_JWT_SECRET": secret})
	token, err := auth.Mint(secret, "alice", []string{"p"}, false, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body, tok string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path, body, token string
		status                    int
		want                      string
	}{
		{"GET", "/status/p", "", "", 401, "unauthorized"},
		{"GET", "/status/p", "", token, 200, `"project_id":"p"`},
		{"GET", "/status/q", "", token, 403, "forbidden"},
		{"POST", "/lock", `{"project_id":"p","file":"f","user_id":"bob"}`, token, 403, "user_mismatch"},
		{"POST", "/lock", `{"project_id":"p","file":"f"}`, token, 200, `"user":"alice"`},
		{"POST", "/unlock", `{"project_id":"p","file":"f","force":true}`, token, 403, "forbidden"},
		{"POST", "/unlock", `{"project_id":"p","file":"f","user_id":"alice"}`, token, 200, `"released":true`},
	} {
		if code, body := call(tc.method, tc.path, tc.body, tc.token); code != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.method, tc.path, tc.body, code, body, tc.status, tc.want)
		}
	}
}
