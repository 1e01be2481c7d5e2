package main

import (
	"testing"

	"filelock/configs"
	"filelock/events"
	"filelock/handlers"
	"filelock/store"
)

// TestDefaultsAgree holds the defaults of the embedded configs/filelock.yaml
// (what the server runs with) equal to the defaults the packages apply to a
// zero field (what a library user or a test gets), so that each default has
// one value.
func TestDefaultsAgree(t *testing.T) {
	cfg, err := configs.Load(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	opts := store.DefaultOptions()
	for _, c := range []struct {
		key       string
		yaml, pkg any
	}{
		{"lock.ttl", cfg.Lock.TTL, opts.DefaultTTL},
		{"lock.min_ttl", cfg.Lock.MinTTL, opts.MinTTL},
		{"lock.max_ttl", cfg.Lock.MaxTTL, opts.MaxTTL},
		{"lock.disconnect_grace", cfg.Lock.DisconnectGrace, opts.DisconnectGrace},
		{"events.history", cfg.Events.History, opts.History},
		{"lock.heartbeat_interval", cfg.Lock.HeartbeatInterval, handlers.DefaultHeartbeatInterval},
		{"limits.max_body_bytes", cfg.Limits.MaxBodyBytes, int64(handlers.DefaultMaxBodyBytes)},
		{"sse.keepalive", cfg.SSE.Keepalive, handlers.DefaultSSEKeepalive},
		{"limits.max_projects_per_connection", cfg.Limits.MaxProjectsPerConn, handlers.DefaultMaxProjectsPerConn},
		{"limits.send_queue", cfg.Limits.SendQueue, events.DefaultQueue},
	} {
		if c.yaml != c.pkg {
			t.Errorf("%s: configs/filelock.yaml says %v, the package default is %v", c.key, c.yaml, c.pkg)
		}
	}
}
