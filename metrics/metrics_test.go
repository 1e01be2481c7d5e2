package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestNilIsANoOp: a package given no Metrics may count through nil.
func TestNilIsANoOp(t *testing.T) {
	var m *Metrics
	m.LockAcquired()
	m.LockReleased("unlocked")
	m.Conflict("file_locked")
	m.ConnOpened(SSE)()
	m.EventsDelivered(WS, 3)
	m.SubscriberDropped(DropLagging)
	m.StoreCall("acquire", time.Millisecond)
	m.StoreError()
	m.WebhookDelivery(WebhookDelivered)
	m.Request("/lock", "POST", 200, time.Millisecond)
	m.Register()
}

func TestCounts(t *testing.T) {
	m := New(Build{Version: "v1", Commit: "c1", GoVersion: "go1"})
	closed := m.ConnOpened(WS)
	m.ConnOpened(WS)
	closed()
	closed() // once only
	m.Conflict("file_locked")
	m.Conflict("invalid_request") // not a conflict
	m.WebhookDelivery(WebhookFailed)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`filelock_connections{transport="ws"} 1`,
		`filelock_lock_conflicts_total{code="file_locked"} 1`,
		`filelock_webhook_deliveries_total{result="failed"} 1`,
		`filelock_build_info{commit="c1",goversion="go1",version="v1"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, `code="invalid_request"`) {
		t.Errorf("invalid_request counted as a conflict")
	}
}
