package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"filelock/internal/redistest"
	"filelock/metrics"
)

// runCommand runs filelockd's command line in process and returns its
// exit code and output.
func runCommand(t *testing.T, args []string, env map[string]string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = command(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := runCommand(t, []string{"version"}, nil)
	if code != 0 || !strings.Contains(out, "filelockd devel") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "commit ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errOut := runCommand(t, []string{"version", "extra"}, nil); code != 1 || !strings.Contains(errOut, "extra") {
		t.Fatalf("version extra: %d %q", code, errOut)
	}
	if code, _, errOut := runCommand(t, []string{"frobnicate"}, nil); code != 1 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
	if code, out, _ := runCommand(t, []string{"--help"}, nil); code != 0 || !strings.Contains(out, "check-config") || !strings.Contains(out, "--lock.ttl") {
		t.Fatalf("--help: %d %q", code, out)
	}
}

// TestCheckConfig: every source applies in order (defaults ← file ← env ←
// flags), secrets are redacted, and a bad value exits 1 naming its key.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "filelock.yaml")
	writeText(t, file, "http:\n  addr: 127.0.0.1:7001\nlock:\n  ttl: 60s\nlog:\n  level: debug\nredis:\n  password: file-pass-secret\n")
	env := map[string]string{
		"FILELOCK_HTTP_ADDR":      "127.0.0.1:7002",
		"FILELOCK_LOG_LEVEL":      "warn",
		"FILELOCK_AUTH_API_KEYS":  "key-one-0123456789abcdef,key-two-0123456789abcdef",
		"FILELOCK_EVENTS_HISTORY": "500",
	}
	code, out, errOut := runCommand(t, []string{"check-config", "--config", file, "--http.addr", "127.0.0.1:7003"}, env)
	if code != 0 {
		t.Fatalf("check-config: %d %s", code, errOut)
	}
	for _, want := range []string{
		`addr: "127.0.0.1:7003"`, // flag over env over file
		`ttl: "1m0s"`,            // file over defaults
		`level: "warn"`,          // env over file
		"history: 500",           // env over defaults
		`max_ttl: "1h0m0s"`,      // default
		`password: "<redacted>"`,
		`api_keys: ["<redacted>", "<redacted>"]`,
		`secret: ""`, // unset secrets show as empty
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config output lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"file-pass-secret", "key-one", "key-two"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("check-config printed the secret %s:\n%s", secret, out)
		}
	}

	// A lock duration set alone carries the others, with a warning.
	code, out, errOut = runCommand(t, []string{"check-config"}, map[string]string{"FILELOCK_LOCK_TTL": "3s"})
	if code != 0 || !strings.Contains(errOut, "warning: config adjusted") || !strings.Contains(out, `min_ttl: "3s"`) {
		t.Errorf("adjusted: %d %q\n%s", code, errOut, out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	writeText(t, bad, "lock:\n  tll: 60s\n")
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"FILELOCK_LOCK_TTL": "abc"}, "lock.ttl"},
		{[]string{"--store.backend", "disk"}, nil, "store.backend"},
		{[]string{"--log.format", "xml"}, nil, "log.format"},
		{[]string{"--config", bad}, nil, `"lock.tll"`},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "config file"},
		{nil, map[string]string{"FILELOCK_AUTH_MODE": "jwt", "FILELOCK_AUTH_JWT_SECRET": "short"}, "auth.jwt.secret"},
		{nil, map[string]string{"FILELOCK_AUTH_MODE": "jwt", "FILELOCK_AUTH_JWT_PUBLIC_KEY_FILE": filepath.Join(dir, "none.pem")}, "auth.jwt.public_key_file"},
		{nil, map[string]string{"FILELOCK_WEBHOOKS_URLS": "http://127.0.0.1:1/h"}, "webhooks.secret"},
	} {
		code, out, errOut := runCommand(t, append([]string{"check-config"}, tc.args...), tc.env)
		if code != 1 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("check-config %v %v: %d %q (stdout %d bytes), want exit 1 naming %s", tc.args, tc.env, code, errOut, len(out), tc.want)
		}
	}
}

func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHealthcheck: exit 0 only when /readyz answers 200.
func TestHealthcheck(t *testing.T) {
	// A wildcard listen address is probed on loopback.
	base, _ := start(t, []string{"--http.addr", ":0"}, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if code, out, errOut := runCommand(t, []string{"healthcheck"}, map[string]string{"FILELOCK_HTTP_ADDR": ":" + port}); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("healthcheck of a ready server: %d %q %q", code, out, errOut)
	}

	// A server whose store is down is not ready.
	rs := redistest.Start(t)
	redisBase, _ := start(t, []string{"--http.addr", "127.0.0.1:0", "--store.backend", "redis"},
		map[string]string{"FILELOCK_REDIS_ADDRS": rs.Addr, "FILELOCK_REDIS_KEY_PREFIX": redistest.Prefix(t)})
	addr := strings.TrimPrefix(redisBase, "http://")
	if code, _, errOut := runCommand(t, []string{"healthcheck", "--http.addr", addr}, nil); code != 0 {
		t.Fatalf("healthcheck with Redis up: %d %s", code, errOut)
	}
	rs.Stop()
	if code, _, errOut := runCommand(t, []string{"healthcheck", "--http.addr", addr}, nil); code != 1 || !strings.Contains(errOut, "503") {
		t.Fatalf("healthcheck with Redis down: %d %q", code, errOut)
	}

	// Nobody listening; a port that cannot be probed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	if code, _, _ := runCommand(t, []string{"healthcheck", "--http.addr", dead}, nil); code != 1 {
		t.Fatalf("healthcheck of nothing: %d", code)
	}
	if code, _, errOut := runCommand(t, []string{"healthcheck", "--http.addr", "127.0.0.1:0"}, nil); code != 1 || !strings.Contains(errOut, "http.addr") {
		t.Fatalf("healthcheck of port 0: %d %q", code, errOut)
	}
}

// scrape reads /metrics at url into its families.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// sample returns the value of the family's series with the given label
// (name, value pairs), and whether it exists: a counter's or gauge's value,
// a histogram's count.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i+1 < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// families of SPEC §9: name, type, label, the label values present at 0.
var families = []struct {
	name   string
	typ    dto.MetricType
	label  string
	values []string
}{
	{"filelock_locks_acquired_total", dto.MetricType_COUNTER, "", nil},
	{"filelock_locks_released_total", dto.MetricType_COUNTER, "reason", []string{"unlocked", "expired", "disconnected", "forced", "switched"}},
	{"filelock_lock_conflicts_total", dto.MetricType_COUNTER, "code", []string{"file_locked", "user_has_lock", "none_free", "not_owner", "stale_token"}},
	{"filelock_connections", dto.MetricType_GAUGE, "transport", []string{"sse", "ws", "socketio"}},
	{"filelock_events_delivered_total", dto.MetricType_COUNTER, "transport", []string{"sse", "ws", "socketio"}},
	{"filelock_subscribers_dropped_total", dto.MetricType_COUNTER, "reason", []string{"lagging", "resync"}},
	{"filelock_store_duration_seconds", dto.MetricType_HISTOGRAM, "op", metrics.StoreOps},
	{"filelock_webhook_deliveries_total", dto.MetricType_COUNTER, "result", []string{"delivered", "failed"}},
}

// checkFamilies checks that every family of SPEC §9 is there with each of
// its known label values at 0, and filelock_build_info.
func checkFamilies(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for _, f := range families {
		got := fams[f.name]
		if got == nil {
			t.Errorf("/metrics lacks %s", f.name)
			continue
		}
		if got.GetType() != f.typ {
			t.Errorf("%s is a %v, want %v", f.name, got.GetType(), f.typ)
		}
		if f.label == "" {
			if v, ok := sample(fams, f.name); !ok || v != 0 {
				t.Errorf("%s = %v, %v; want 0", f.name, v, ok)
			}
			continue
		}
		for _, val := range f.values {
			if v, ok := sample(fams, f.name, f.label, val); !ok || v != 0 {
				t.Errorf("%s{%s=%q} = %v (present %v), want present at 0", f.name, f.label, val, v, ok)
			}
		}
	}
	if v, ok := sample(fams, "filelock_build_info", "version", "devel", "commit", build().Commit, "goversion", runtime.Version()); !ok || v != 1 {
		t.Errorf("filelock_build_info{version=devel,commit=%s,goversion=%s} = %v, %v", build().Commit, runtime.Version(), v, ok)
	}
}

// TestMetricsFamilies: every family of SPEC §9 is there from start-up with
// its label values at 0, and they count what happens.
func TestMetricsFamilies(t *testing.T) {
	base, _ := start(t, []string{"--http.addr", "127.0.0.1:0", "--log.level", "error"}, nil)
	checkFamilies(t, scrape(t, base+"/metrics"))

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if r := wsCall(t, ws, "join_project", map[string]any{"project_id": "p", "user_id": "u1"}, nil); r["ok"] != true {
		t.Fatalf("join: %v", r)
	}
	if r := wsCall(t, ws, "lock", map[string]any{"project_id": "p", "file": "a.jpg"}, nil); r["ok"] != true {
		t.Fatalf("lock: %v", r)
	}
	res, err := http.Post(base+"/lock", "application/json", strings.NewReader(`{"project_id":"p","file":"a.jpg","user_id":"u2"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 409 {
		t.Fatalf("conflicting lock: %d", res.StatusCode)
	}
	if r := wsCall(t, ws, "unlock", map[string]any{"project_id": "p", "file": "a.jpg"}, nil); r["ok"] != true {
		t.Fatalf("unlock: %v", r)
	}
	fams := scrape(t, base+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"filelock_locks_acquired_total", nil, 1},
		{"filelock_locks_released_total", []string{"reason", "unlocked"}, 1},
		{"filelock_lock_conflicts_total", []string{"code", "file_locked"}, 1},
		{"filelock_connections", []string{"transport", "ws"}, 1},
		{"filelock_connections", []string{"transport", "sse"}, 0},
		{"filelock_store_duration_seconds", []string{"op", "acquire"}, 2},
		{"filelock_store_duration_seconds", []string{"op", "release"}, 1},
	} {
		if v, _ := sample(fams, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	// snapshot, lock_acquired, lock_released reach the WebSocket (the
	// reply may come before the event, so at least the snapshot).
	if v, _ := sample(fams, "filelock_events_delivered_total", "transport", "ws"); v < 1 {
		t.Errorf("filelock_events_delivered_total{transport=ws} = %v", v)
	}
	ws.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := sample(scrape(t, base+"/metrics"), "filelock_connections", "transport", "ws")
		if v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("filelock_connections{transport=ws} = %v after the WebSocket closed", v)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

var adminListening = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)

// TestAdminAddr: http.admin_addr serves /metrics and /debug/pprof/ on a
// listener of its own; the main listener serves no pprof.
func TestAdminAddr(t *testing.T) {
	base, out := start(t, []string{"--http.addr", "127.0.0.1:0", "--http.admin_addr", "127.0.0.1:0"}, nil)
	m := adminListening.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no admin listening line:\n%s", out)
	}
	admin := "http://" + m[1]
	checkFamilies(t, scrape(t, admin+"/metrics"))
	if code, body := get(t, admin+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("admin /debug/pprof/: %d %.200s", code, body)
	}
	if code, body := get(t, admin+"/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Fatalf("admin goroutine profile: %d %.200s", code, body)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != 404 {
		t.Fatalf("main listener /debug/pprof/: %d, want 404", code)
	}
	// Off by default.
	_, out = start(t, []string{"--http.addr", "127.0.0.1:0"}, nil)
	if strings.Contains(out.String(), "admin listening") {
		t.Fatalf("admin listener without http.admin_addr:\n%s", out)
	}
}

// jsonLines parses every line of a JSON log; each must be one object.
func jsonLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestJSONLogs: log.format json writes one JSON object per line; each
// request gets one line with its id, taken from X-Request-ID or made, and
// echoed; the lines a request causes carry the same id.
func TestJSONLogs(t *testing.T) {
	// Redis at an address nobody serves: requests cause a store warning.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	base, out := start(t, []string{"--http.addr", "127.0.0.1:0", "--log.format", "json", "--store.backend", "redis"},
		map[string]string{"FILELOCK_REDIS_ADDRS": dead})

	do := func(method, path, body, id string) *http.Response {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	res := do("POST", "/lock", `{"project_id":"p","file":"a.jpg","user_id":"u"}`, "req-given-1")
	if res.StatusCode != 503 || res.Header.Get("X-Request-ID") != "req-given-1" {
		t.Fatalf("POST /lock: %d, X-Request-ID %q", res.StatusCode, res.Header.Get("X-Request-ID"))
	}
	made := do("GET", "/healthz", "", "").Header.Get("X-Request-ID")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(made) {
		t.Fatalf("made request id %q", made)
	}
	bad := do("GET", "/nowhere", "", "has space").Header.Get("X-Request-ID")
	if bad == "has space" || bad == "" {
		t.Fatalf("an unusable X-Request-ID was kept: %q", bad)
	}

	var byID map[string][]map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		byID = map[string][]map[string]any{}
		for _, l := range jsonLines(t, out.String()) {
			if id, ok := l["request_id"].(string); ok {
				byID[id] = append(byID[id], l)
			}
		}
		if len(byID["req-given-1"]) >= 2 && len(byID[bad]) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request lines missing:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	var msgs []string
	for _, l := range byID["req-given-1"] {
		msgs = append(msgs, l["msg"].(string))
		if l["msg"] == "request" {
			for k, want := range map[string]any{"method": "POST", "path": "/lock", "route": "/lock", "status": 503.0, "level": "WARN"} {
				if l[k] != want {
					t.Errorf("request line %s = %v, want %v: %v", k, l[k], want, l)
				}
			}
			for _, k := range []string{"time", "duration_ms", "bytes", "remote_addr", "user_agent"} {
				if _, ok := l[k]; !ok {
					t.Errorf("request line lacks %s: %v", k, l)
				}
			}
		}
	}
	slices.Sort(msgs)
	if !slices.Equal(msgs, []string{"request", "store unavailable"}) {
		t.Errorf("lines of request req-given-1: %v", msgs)
	}
	if l := byID[bad][0]; l["status"] != 404.0 || l["route"] != "unmatched" {
		t.Errorf("404 line: %v", l)
	}
	// Probes log at debug level only.
	if len(byID[made]) != 0 {
		t.Errorf("a /healthz request was logged at info: %v", byID[made])
	}
}

// TestStampedBuild builds the binary as make build does and checks that
// the version is stamped and that healthcheck's exit status is the
// process's.
func TestStampedBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "filelockd")
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test -X main.commit=0123abc", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(out), "filelockd v9.8.7-test") || !strings.Contains(string(out), "commit 0123abc") {
		t.Fatalf("version: %v %q", err, out)
	}
	base, _ := start(t, []string{"--http.addr", "127.0.0.1:0"}, nil)
	hc := exec.Command(bin, "healthcheck", "--http.addr", strings.TrimPrefix(base, "http://"))
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck of a ready server: %v %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	hc = exec.Command(bin, "healthcheck", "--http.addr", dead)
	if err := hc.Run(); hc.ProcessState == nil || hc.ProcessState.ExitCode() != 1 {
		t.Fatalf("healthcheck of nothing: %v, want exit status 1", err)
	}
}
