package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestRequestIDInEveryFormat(t *testing.T) {
	var b bytes.Buffer
	log, err := New(&b, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithRequestID(context.Background(), "rid-1")
	log.With("component", "x").InfoContext(ctx, "hello", "k", 1)
	log.Info("no context")
	log.DebugContext(ctx, "below the level")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["request_id"] != "rid-1" || first["component"] != "x" || first["msg"] != "hello" {
		t.Errorf("first line: %v", first)
	}
	if _, ok := second["request_id"]; ok {
		t.Errorf("a line without a request context has a request_id: %v", second)
	}

	b.Reset()
	text, err := New(&b, "text", "debug")
	if err != nil {
		t.Fatal(err)
	}
	text.DebugContext(ctx, "hello")
	if !strings.Contains(b.String(), "request_id=rid-1") {
		t.Errorf("text line: %q", b.String())
	}
}

func TestBadSettings(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "xml", "info"); err == nil || !strings.Contains(err.Error(), "log.format") {
		t.Errorf("format xml: %v", err)
	}
	if _, err := New(&bytes.Buffer{}, "json", "loud"); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("level loud: %v", err)
	}
	if id := NewRequestID(); len(id) != 32 || id == NewRequestID() {
		t.Errorf("NewRequestID: %q", id)
	}
}
