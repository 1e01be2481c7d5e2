package webhooks_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"filelock/internal/redistest"
	"filelock/webhooks"
)

// README:begin (the Go receiver of the README, verbatim)

// webhookHandler receives filelock's webhooks: it verifies the Standard
// Webhooks signature with the secret of webhooks.secret ("whsec_…") and
// hands each event to handle once. A 2xx answer acknowledges the event;
// any other answer (or none within webhooks.timeout) makes filelock send
// it again later, with the same webhook-id.
func webhookHandler(secret string, handle func(typ string, data json.RawMessage) error) (http.Handler, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	seen := map[string]bool{} // webhook-ids handled (keep them in your database)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		// Checks the signature and that webhook-timestamp is within 5 minutes.
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var msg struct {
			Type string          `json:"type"` // lock_acquired, lock_released, snapshot, ...
			Data json.RawMessage `json:"data"` // project_id, event_id, file, user, token, ...
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id") // "<project_id>:<event_id>", the same on every retry
		mu.Lock()
		defer mu.Unlock()
		if !seen[id] {
			if err := handle(msg.Type, msg.Data); err != nil {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			seen[id] = true
		}
		w.WriteHeader(http.StatusNoContent)
	}), nil
}

// README:end

// The README shows webhookHandler as it is here.
func TestREADMEReceiverIsTheTestedOne(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	code := string(src)
	code = code[strings.Index(code, "// webhookHandler receives"):strings.Index(code, "// README:end")]
	m := regexp.MustCompile("(?s)<!-- webhook receiver: webhooks/readme_test.go -->\n```go\n.*?\n(// webhookHandler receives.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no Go webhook receiver block")
	}
	if strings.TrimSpace(string(m[1])) != strings.TrimSpace(code) {
		t.Fatalf("README's webhookHandler differs from webhooks/readme_test.go:\n%s", m[1])
	}
}

// The README's receiver, run against a real filelockd: it gets the lock
// events with valid signatures and refuses a forged one.
func TestREADMEReceiver(t *testing.T) {
	t.Parallel()
	type event struct {
		typ  string
		data map[string]any
	}
	got := make(chan event, 16)
	h, err := webhookHandler(testSecret, func(typ string, data json.RawMessage) error {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		got <- event{typ, m}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	recv := httptest.NewServer(h)
	defer recv.Close()

	bin := buildDaemon(t)
	srv := redistest.Shared(t)
	d := startDaemon(t, bin, "FILELOCK_HTTP_ADDR=127.0.0.1:0", "FILELOCK_STORE_BACKEND=redis",
		"FILELOCK_REDIS_ADDRS="+srv.Addr, "FILELOCK_REDIS_KEY_PREFIX="+redistest.Prefix(t),
		"FILELOCK_WEBHOOKS_URLS="+recv.URL+"/filelock", "FILELOCK_WEBHOOKS_SECRET="+testSecret)
	ids := d.lockUnlock(t, "labels", "images/cat 1.jpg")
	for i, want := range []string{"lock_acquired", "lock_released"} {
		select {
		case e := <-got:
			if e.typ != want || e.data["file"] != "images/cat 1.jpg" || "labels:"+e.data["event_id"].(string) != ids[i] {
				t.Fatalf("event %d: %s %v, want %s of %s", i, e.typ, e.data, want, ids[i])
			}
		case <-time.After(waitFor):
			t.Fatalf("no %s within %v", want, waitFor)
		}
	}

	// The two attempts count in the metrics of the instance.
	deadline := time.Now().Add(waitFor)
	for {
		resp, err := http.Get(d.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(text), `filelock_webhook_deliveries_total{result="delivered"} 2`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 2 delivered attempts in /metrics:\n%s", text)
		}
		time.Sleep(50 * time.Millisecond) // the count follows the receiver's answer
	}

	// A forged delivery is refused.
	body := []byte(`{"type":"lock_released","timestamp":"2026-01-01T00:00:00.000Z","data":{}}`)
	req, _ := http.NewRequest(http.MethodPost, recv.URL, bytes.NewReader(body))
	req.Header.Set("webhook-id", "labels:1")
	req.Header.Set("webhook-timestamp", "1764547200")
	req.Header.Set("webhook-signature", "v1,Zm9yZ2Vk")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged delivery: %d, want 401", resp.StatusCode)
	}
	select {
	case e := <-got:
		t.Fatalf("unexpected event %v", e)
	default:
	}
}

// The README's example delivery carries the signature Sign (and the
// Standard Webhooks library) computes for it.
func TestREADMEExampleSignature(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)webhook-id: (\S+).*?webhook-timestamp: (\d+).*?webhook-signature: (\S+)\n\n(\{.*?\})\n`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no example delivery")
	}
	ts, _ := strconv.ParseInt(string(m[2]), 10, 64)
	if got := webhooks.Sign(mustKey(t), string(m[1]), ts, m[4]); got != string(m[3]) {
		t.Fatalf("README signature %s, want %s", m[3], got)
	}
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", string(m[1]))
	h.Set("webhook-timestamp", string(m[2]))
	h.Set("webhook-signature", string(m[3]))
	if err := wh.VerifyIgnoringTimestamp(m[4], h); err != nil {
		t.Fatal(err)
	}
}
