package webhooks_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filelock/internal/redistest"
)

// daemon is a filelockd process.
type daemon struct {
	cmd  *exec.Cmd
	base string
	mu   sync.Mutex
	log  bytes.Buffer
}

func (d *daemon) logged(s string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Contains(d.log.String(), s)
}

var listeningLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// buildDaemon builds cmd/filelockd once for the test.
func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "filelockd")
	out, err := exec.Command("go", "build", "-o", bin, "filelock/cmd/filelockd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startDaemon(t *testing.T, bin string, env ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = pw.Close() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		d.base = "http://" + a
	case <-time.After(waitFor):
		t.Fatalf("filelockd did not start:\n%s", d.log.String())
	}
	return d
}

func (d *daemon) post(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(d.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
	}
	return out
}

// lockUnlock locks and unlocks a file through the daemon and returns the
// two events' webhook-ids.
func (d *daemon) lockUnlock(t *testing.T, project, file string) []string {
	t.Helper()
	l := d.post(t, "/lock", map[string]any{"project_id": project, "file": file, "user_id": "u"})
	tok := int64(l["lock"].(map[string]any)["token"].(float64))
	d.post(t, "/unlock", map[string]any{"project_id": project, "file": file, "user_id": "u"})
	resp, err := http.Get(d.base + "/status/" + project)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		LastEventID string `json:"last_event_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return []string{fmt.Sprintf("%s:%d", project, tok), project + ":" + st.LastEventID}
}

// Two filelockd processes share a Redis; the one delivering a project is
// killed with SIGKILL while it retries: the other takes the project over
// once the lease lapses, from the first unacknowledged event.
func TestSIGKILLHandover(t *testing.T) {
	t.Parallel()
	bin := buildDaemon(t)
	srv := redistest.Shared(t)
	r := newReceiver(t)
	env := []string{
		"FILELOCK_HTTP_ADDR=127.0.0.1:0", "FILELOCK_STORE_BACKEND=redis",
		"FILELOCK_REDIS_ADDRS=" + srv.Addr, "FILELOCK_REDIS_KEY_PREFIX=" + redistest.Prefix(t),
		"FILELOCK_WEBHOOKS_URLS=" + r.URL(), "FILELOCK_WEBHOOKS_SECRET=" + testSecret,
		"FILELOCK_WEBHOOKS_MAX_BACKOFF=200ms", "FILELOCK_WEBHOOKS_TIMEOUT=1s",
	}
	a, b := startDaemon(t, bin, env...), startDaemon(t, bin, env...)
	acked := a.lockUnlock(t, "p", "images/1.jpg")
	r.waitAcked(acked...)
	r.mode.Store(mode500)
	pending := append(b.lockUnlock(t, "p", "images/2.jpg"), a.lockUnlock(t, "p", "images/3.jpg")...)
	r.waitAttempts(pending[0], 2)
	// The one whose log shows the retries holds the project's lease.
	deadline := time.Now().Add(waitFor)
	var holder, other *daemon
	for holder == nil {
		switch {
		case a.logged(pending[0]):
			holder, other = a, b
		case b.logged(pending[0]):
			holder, other = b, a
		case time.Now().After(deadline):
			t.Fatal("neither instance logged the failing delivery")
		default:
			time.Sleep(20 * time.Millisecond) // the log line follows the attempt
		}
	}
	if err := holder.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = holder.cmd.Wait()
	r.mode.Store(modeOK)
	r.waitAcked(append(acked, pending...)...)
	later := other.lockUnlock(t, "p", "images/4.jpg")
	r.waitAcked(later...)
	r.checkOrder()
	r.checkOnce()
}
