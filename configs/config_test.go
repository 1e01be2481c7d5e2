package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func defaults() Config {
	return Config{
		HTTP:   HTTP{Addr: ":8000", ShutdownTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second},
		Store:  Store{Backend: "memory"},
		Redis:  Redis{Addrs: []string{"127.0.0.1:6379"}},
		Lock:   Lock{TTL: 90 * time.Second, MinTTL: 5 * time.Second, MaxTTL: time.Hour, HeartbeatInterval: 30 * time.Second, DisconnectGrace: 10 * time.Second},
		Events: Events{History: 1000},
		SSE:    SSE{Keepalive: 15 * time.Second},
		Limits: Limits{MaxBodyBytes: 16384, SendQueue: 256, MaxConnections: 10000, MaxConnectionsPerUser: 100, MaxProjectsPerConn: 32},
		Auth:   Auth{Mode: "none", JWT: JWT{Leeway: 30 * time.Second}, APIKeys: []string{}},
		CORS:   CORS{AllowedOrigins: []string{"*"}},
		Log:    Log{Level: "info", Format: "text"},
		Webhooks: Webhooks{URLs: []string{}, Events: []string{"lock_acquired", "lock_released"},
			Timeout: 5 * time.Second, MaxBackoff: time.Minute},
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	partial := writeFile(t, "partial.yaml", "lock:\n  ttl: 2m\nredis:\n  addrs: [\"a:1\", \"b:2\"]\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*Config)
	}{
		{"defaults", nil, nil, func(*Config) {}},
		{"env duration", nil, map[string]string{"FILELOCK_LOCK_DISCONNECT_GRACE": "1s"}, func(c *Config) { c.Lock.DisconnectGrace = time.Second }},
		{"env list", nil, map[string]string{"FILELOCK_REDIS_ADDRS": "h1:1, h2:2,,"}, func(c *Config) { c.Redis.Addrs = []string{"h1:1", "h2:2"} }},
		{"env nested key", nil, map[string]string{"FILELOCK_AUTH_MODE": "jwt", "FILELOCK_AUTH_JWT_SECRET": "s3cret-s3cret-s3cret-s3cret-s3cret"},
			func(c *Config) { c.Auth.Mode = "jwt"; c.Auth.JWT.Secret = "s3cret-s3cret-s3cret-s3cret-s3cret" }},
		{"env int and float", nil, map[string]string{"FILELOCK_REDIS_DB": "3", "FILELOCK_LIMITS_USER_RPS": "2.5", "FILELOCK_LIMITS_MAX_BODY_BYTES": "1024"},
			func(c *Config) { c.Redis.DB = 3; c.Limits.UserRPS = 2.5; c.Limits.MaxBodyBytes = 1024 }},
		{"flag", []string{"--http.addr", "127.0.0.1:0"}, nil, func(c *Config) { c.HTTP.Addr = "127.0.0.1:0" }},
		{"flag with =", []string{"--log.level=debug"}, nil, func(c *Config) { c.Log.Level = "debug" }},
		{"flag beats env", []string{"--lock.ttl=3m"}, map[string]string{"FILELOCK_LOCK_TTL": "2m"}, func(c *Config) { c.Lock.TTL = 3 * time.Minute }},
		{"flag list", []string{"--cors.allowed_origins", "https://a.example,http://b.example:8080"}, nil,
			func(c *Config) { c.CORS.AllowedOrigins = []string{"https://a.example", "http://b.example:8080"} }},
		{"config file over defaults", []string{"--config", partial}, nil,
			func(c *Config) { c.Lock.TTL = 2 * time.Minute; c.Redis.Addrs = []string{"a:1", "b:2"} }},
		{"env beats config file", []string{"--config", partial}, map[string]string{"FILELOCK_LOCK_TTL": "100s"},
			func(c *Config) { c.Lock.TTL = 100 * time.Second; c.Redis.Addrs = []string{"a:1", "b:2"} }},
		{"redis backend", []string{"--store.backend=redis", "--redis.key_prefix=t1:"}, nil,
			func(c *Config) { c.Store.Backend = "redis"; c.Redis.KeyPrefix = "t1:" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	unknown := writeFile(t, "typo.yaml", "lock:\n  tll: 2m\n")
	badYAML := writeFile(t, "bad.yaml", "lock: [\n")
	intTTL := writeFile(t, "int.yaml", "lock:\n  ttl: 90\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the error must contain this
	}{
		{"bad duration env", nil, map[string]string{"FILELOCK_LOCK_TTL": "abc"}, `lock.ttl: "abc" is not a duration`},
		{"bad duration flag", []string{"--lock.disconnect_grace=soon"}, nil, `lock.disconnect_grace: "soon" is not a duration`},
		{"duration without unit in file", []string{"--config", intTTL}, nil, "lock.ttl: 90 is not a duration"},
		{"negative grace", nil, map[string]string{"FILELOCK_LOCK_DISCONNECT_GRACE": "-1s"}, "lock.disconnect_grace:"},
		{"zero ttl", nil, map[string]string{"FILELOCK_LOCK_TTL": "0s"}, "lock.ttl:"},
		{"min over ttl, both set", nil, map[string]string{"FILELOCK_LOCK_MIN_TTL": "2m", "FILELOCK_LOCK_TTL": "1m"}, "lock.min_ttl:"},
		{"max under ttl, both set", nil, map[string]string{"FILELOCK_LOCK_MAX_TTL": "1m", "FILELOCK_LOCK_TTL": "2m"}, "lock.max_ttl:"},
		{"min over ttl, both set, min at its default", nil, map[string]string{"FILELOCK_LOCK_TTL": "2s", "FILELOCK_LOCK_MIN_TTL": "5s"}, "lock.min_ttl:"},
		{"max under ttl, both set, max at its default", []string{"--lock.ttl=2h", "--lock.max_ttl=1h"}, nil, "lock.max_ttl:"},
		{"min over max", nil, map[string]string{"FILELOCK_LOCK_MIN_TTL": "2m", "FILELOCK_LOCK_MAX_TTL": "1m"}, "lock.m"},
		{"heartbeat not under ttl", nil, map[string]string{"FILELOCK_LOCK_HEARTBEAT_INTERVAL": "90s"}, "lock.heartbeat_interval:"},
		{"bad int", nil, map[string]string{"FILELOCK_EVENTS_HISTORY": "many"}, `events.history: "many" is not an integer`},
		{"zero history", nil, map[string]string{"FILELOCK_EVENTS_HISTORY": "0"}, "events.history:"},
		{"bad backend", nil, map[string]string{"FILELOCK_STORE_BACKEND": "etcd"}, `store.backend: "etcd" is not one of memory, redis`},
		{"bad auth mode", []string{"--auth.mode=ldap"}, nil, "auth.mode:"},
		{"jwt without key", []string{"--auth.mode=jwt"}, nil, "auth.jwt.secret:"},
		{"short hs256 secret", []string{"--auth.mode=jwt", "--auth.jwt.secret=0123456789abcdef0123456789abcde"}, nil, "auth.jwt.secret: an HS256 secret must be at least 32 bytes"},
		{"bad log format", []string{"--log.format=xml"}, nil, "log.format:"},
		{"zero read timeout", []string{"--http.read_timeout=0s"}, nil, "http.read_timeout:"},
		{"bad admin addr", []string{"--http.admin_addr=9090"}, nil, "http.admin_addr:"},
		{"zero projects per connection", []string{"--limits.max_projects_per_connection=0"}, nil, "limits.max_projects_per_connection:"},
		{"webhook without secret", []string{"--webhooks.urls=http://127.0.0.1:9/hook"}, nil, "webhooks.secret: required"},
		{"webhook bad secret", []string{"--webhooks.urls=http://127.0.0.1:9/hook", "--webhooks.secret=abc"}, nil, "webhooks.secret: must start with whsec_"},
		{"webhook short secret", []string{"--webhooks.urls=http://127.0.0.1:9/hook", "--webhooks.secret=whsec_MTIzNDU2Nzg5MA=="}, nil, "webhooks.secret: decodes to 10 bytes"},
		{"webhook bad url", []string{"--webhooks.urls=ftp://x/y", "--webhooks.secret=whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}, nil, "webhooks.urls:"},
		{"webhook bad event", []string{"--webhooks.events=lock_stolen"}, nil, "webhooks.events:"},
		{"jwt with both keys", []string{"--auth.mode=jwt", "--auth.jwt.secret=s", "--auth.jwt.public_key_file=k.pem"}, nil, "auth.jwt.secret:"},
		{"bad log level", []string{"--log.level=loud"}, nil, "log.level:"},
		{"bad addr", []string{"--http.addr=8000"}, nil, "http.addr:"},
		{"bad redis addr", nil, map[string]string{"FILELOCK_REDIS_ADDRS": "localhost"}, "redis.addrs:"},
		{"hash tag in prefix", []string{"--redis.key_prefix={x}"}, nil, "redis.key_prefix:"},
		{"negative db", []string{"--redis.db=-1"}, nil, "redis.db:"},
		{"bad rps", []string{"--limits.user_rps=fast"}, nil, "limits.user_rps:"},
		{"negative rps", []string{"--limits.user_rps=-1"}, nil, "limits.user_rps:"},
		{"zero body", []string{"--limits.max_body_bytes=0"}, nil, "limits.max_body_bytes:"},
		{"zero send queue", []string{"--limits.send_queue=0"}, nil, "limits.send_queue:"},
		{"negative max connections", []string{"--limits.max_connections=-1"}, nil, "limits.max_connections:"},
		{"bad origin", []string{"--cors.allowed_origins=example.com"}, nil, "cors.allowed_origins:"},
		{"zero keepalive", []string{"--sse.keepalive=0s"}, nil, "sse.keepalive:"},
		{"zero shutdown", []string{"--http.shutdown_timeout=0s"}, nil, "http.shutdown_timeout:"},
		{"unknown flag", []string{"--lock.tll=1s"}, nil, "unknown flag: --lock.tll"},
		{"positional", []string{"serve"}, nil, `unexpected argument "serve"`},
		{"unknown file key", []string{"--config", unknown}, nil, `unknown key "lock.tll"`},
		{"missing file", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, nil, "config file"},
		{"bad yaml", []string{"--config", badYAML}, nil, "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	if _, err := Load([]string{"--help"}, env(nil)); !errors.Is(err, ErrHelp) {
		t.Fatalf("Load(--help) = %v, want ErrHelp", err)
	}
	u := Usage()
	for _, k := range append(Keys(), "config") {
		if !strings.Contains(u, "--"+k+" ") {
			t.Errorf("usage lacks --%s:\n%s", k, u)
		}
	}
}

// TestDefaultsFileHasEveryKey keeps filelock.yaml and the key table in step.
func TestDefaultsFileHasEveryKey(t *testing.T) {
	text := string(defaultYAML)
	for _, k := range Keys() {
		parts := strings.Split(k, ".")
		if !strings.Contains(text, parts[len(parts)-1]+":") {
			t.Errorf("filelock.yaml lacks %s", k)
		}
	}
	if got, want := EnvVar("lock.disconnect_grace"), "FILELOCK_LOCK_DISCONNECT_GRACE"; got != want {
		t.Errorf("EnvVar = %s, want %s", got, want)
	}
	// Loading the defaults file as a --config file is a no-op.
	p := writeFile(t, "defaults.yaml", text)
	got, err := Load([]string{"--config", p}, env(nil))
	if err != nil || !reflect.DeepEqual(got, defaults()) {
		t.Fatalf("Load(--config defaults) = %+v, %v", got, err)
	}
}

// TestLoadReconcilesLockDurations checks that a lock duration changed alone
// carries the others that would contradict it, and says so.
func TestLoadReconcilesLockDurations(t *testing.T) {
	cases := []struct {
		env                      map[string]string
		ttl, min, max, heartbeat time.Duration
	}{
		{map[string]string{"FILELOCK_LOCK_TTL": "3s"}, 3 * time.Second, 3 * time.Second, time.Hour, time.Second},
		{map[string]string{"FILELOCK_LOCK_TTL": "2h"}, 2 * time.Hour, 5 * time.Second, 2 * time.Hour, 30 * time.Second},
		{map[string]string{"FILELOCK_LOCK_MIN_TTL": "2m"}, 2 * time.Minute, 2 * time.Minute, time.Hour, 30 * time.Second},
		{map[string]string{"FILELOCK_LOCK_MAX_TTL": "1m"}, time.Minute, 5 * time.Second, time.Minute, 30 * time.Second},
		{map[string]string{"FILELOCK_LOCK_TTL": "3s", "FILELOCK_LOCK_MIN_TTL": "1s"}, 3 * time.Second, time.Second, time.Hour, time.Second},
	}
	for _, tc := range cases {
		c, err := Load(nil, func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		l := c.Lock
		if l.TTL != tc.ttl || l.MinTTL != tc.min || l.MaxTTL != tc.max || l.HeartbeatInterval != tc.heartbeat {
			t.Errorf("%v: ttl %v min %v max %v heartbeat %v; want %v %v %v %v", tc.env, l.TTL, l.MinTTL, l.MaxTTL, l.HeartbeatInterval, tc.ttl, tc.min, tc.max, tc.heartbeat)
		}
		if len(c.Adjusted) == 0 {
			t.Errorf("%v: no adjustment reported", tc.env)
		}
	}
	if c, err := Load(nil, func(string) string { return "" }); err != nil || len(c.Adjusted) != 0 {
		t.Fatalf("defaults: %v, adjusted %v", err, c.Adjusted)
	}
}
