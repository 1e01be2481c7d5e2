package configs

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Validate checks every value on its own; the error names the first
// offending key. The relations between the lock durations are reconcile's.
func (c Config) Validate() error {
	checks := []struct {
		key string
		err error
	}{
		{"http.addr", hostPort(c.HTTP.Addr)},
		{"http.shutdown_timeout", positive(c.HTTP.ShutdownTimeout)},
		{"http.read_timeout", positive(c.HTTP.ReadTimeout)},
		{"http.admin_addr", check(c.HTTP.AdminAddr == "" || hostPort(c.HTTP.AdminAddr) == nil, "%q is not a host:port address", c.HTTP.AdminAddr)},
		{"store.backend", oneOf(c.Store.Backend, "memory", "redis")},
		{"redis.addrs", redisAddrs(c.Redis.Addrs)},
		{"redis.db", atLeast(c.Redis.DB, 0)},
		{"redis.key_prefix", keyPrefix(c.Redis.KeyPrefix)},
		{"lock.ttl", positive(c.Lock.TTL)},
		{"lock.min_ttl", positive(c.Lock.MinTTL)},
		{"lock.max_ttl", positive(c.Lock.MaxTTL)},
		{"lock.heartbeat_interval", positive(c.Lock.HeartbeatInterval)},
		{"lock.disconnect_grace", check(c.Lock.DisconnectGrace >= 0, "%v is negative", c.Lock.DisconnectGrace)},
		{"events.history", atLeast(c.Events.History, 1)},
		{"sse.keepalive", positive(c.SSE.Keepalive)},
		{"limits.max_body_bytes", atLeast(c.Limits.MaxBodyBytes, 1)},
		{"limits.send_queue", atLeast(c.Limits.SendQueue, 1)},
		{"limits.max_connections", atLeast(c.Limits.MaxConnections, 0)},
		{"limits.max_connections_per_user", atLeast(c.Limits.MaxConnectionsPerUser, 0)},
		{"limits.user_rps", check(c.Limits.UserRPS >= 0, "%v is negative", c.Limits.UserRPS)},
		{"limits.max_projects_per_connection", atLeast(c.Limits.MaxProjectsPerConn, 1)},
		{"auth.mode", oneOf(c.Auth.Mode, "none", "jwt")},
		{"auth.jwt.secret", check(c.Auth.Mode != "jwt" || (c.Auth.JWT.Secret != "") != (c.Auth.JWT.PublicKeyFile != ""),
			"auth.mode jwt needs exactly one of auth.jwt.secret and auth.jwt.public_key_file")},
		{"auth.jwt.secret", check(c.Auth.JWT.Secret == "" || len(c.Auth.JWT.Secret) >= 32,
			"an HS256 secret must be at least 32 bytes (it is %d)", len(c.Auth.JWT.Secret))},
		{"auth.jwt.leeway", check(c.Auth.JWT.Leeway >= 0, "%v is negative", c.Auth.JWT.Leeway)},
		{"auth.api_keys", apiKeys(c.Auth.APIKeys)},
		{"cors.allowed_origins", origins(c.CORS.AllowedOrigins)},
		{"log.level", oneOf(c.Log.Level, "debug", "info", "warn", "error")},
		{"log.format", oneOf(c.Log.Format, "text", "json")},
		{"webhooks.urls", webhookURLs(c.Webhooks.URLs)},
		{"webhooks.secret", webhookSecret(c.Webhooks.Secret, len(c.Webhooks.URLs) > 0)},
		{"webhooks.events", webhookEvents(c.Webhooks.Events)},
		{"webhooks.timeout", positive(c.Webhooks.Timeout)},
		{"webhooks.max_backoff", positive(c.Webhooks.MaxBackoff)},
	}
	for _, ch := range checks {
		if ch.err != nil {
			return fmt.Errorf("%s: %w", ch.key, ch.err)
		}
	}
	return nil
}

func check(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func positive(d time.Duration) error { return check(d > 0, "%v must be more than 0", d) }

func atLeast[N int | int64](n, least N) error {
	return check(n >= least, "%d must be at least %d", n, least)
}

func oneOf(v string, allowed ...string) error {
	return check(slices.Contains(allowed, v), "%q is not one of %s", v, strings.Join(allowed, ", "))
}

func hostPort(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q is not a host:port address", addr)
	}
	return nil
}

func redisAddrs(addrs []string) error {
	if len(addrs) == 0 {
		return fmt.Errorf("needs at least one address")
	}
	for _, a := range addrs {
		if err := hostPort(a); err != nil {
			return err
		}
	}
	return nil
}

func keyPrefix(p string) error {
	return check(!strings.ContainsAny(p, "{}"), "%q must not contain { or } (they delimit the per-project hash tag)", p)
}

func origins(list []string) error {
	for _, o := range list {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("%q is not an origin (http://host[:port], https://host[:port] or *)", o)
		}
	}
	return nil
}

// reconcile makes min_ttl ≤ ttl ≤ max_ttl and heartbeat_interval < ttl.
// When two of them disagree and only one was set (by a file, the
// environment or a flag, whatever its value), the set one wins and the
// other follows it (setting lock.ttl=3s alone lowers min_ttl to 3s and the
// heartbeat interval to 1s); when both were set, the configuration is
// refused, naming the key.
func (c *Config) reconcile(set map[string]bool) error {
	l := &c.Lock
	adjust := func(key string, to *time.Duration, v time.Duration, why string) {
		c.Adjusted = append(c.Adjusted, fmt.Sprintf("%s set to %v (was %v): %s", key, v, *to, why))
		*to = v
	}
	if l.MinTTL > l.TTL {
		switch {
		case !set["lock.min_ttl"]:
			adjust("lock.min_ttl", &l.MinTTL, l.TTL, "not above lock.ttl")
		case !set["lock.ttl"]:
			adjust("lock.ttl", &l.TTL, l.MinTTL, "not below lock.min_ttl")
		default:
			return fmt.Errorf("lock.min_ttl: %v is more than lock.ttl (%v)", l.MinTTL, l.TTL)
		}
	}
	if l.MaxTTL < l.TTL {
		switch {
		case !set["lock.max_ttl"]:
			adjust("lock.max_ttl", &l.MaxTTL, l.TTL, "not below lock.ttl")
		case !set["lock.ttl"]:
			adjust("lock.ttl", &l.TTL, l.MaxTTL, "not above lock.max_ttl")
		default:
			return fmt.Errorf("lock.max_ttl: %v is less than lock.ttl (%v)", l.MaxTTL, l.TTL)
		}
	}
	if l.MinTTL > l.MaxTTL {
		return fmt.Errorf("lock.min_ttl: %v is more than lock.max_ttl (%v)", l.MinTTL, l.MaxTTL)
	}
	if l.HeartbeatInterval >= l.TTL {
		if set["lock.heartbeat_interval"] {
			return fmt.Errorf("lock.heartbeat_interval: %v must be less than lock.ttl (%v), or locks expire between heartbeats", l.HeartbeatInterval, l.TTL)
		}
		adjust("lock.heartbeat_interval", &l.HeartbeatInterval, max(l.TTL/3, time.Millisecond), "a third of lock.ttl")
	}
	return nil
}

func apiKeys(keys []string) error {
	for i, k := range keys {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("key %d is empty", i+1)
		}
	}
	return nil
}

func webhookURLs(urls []string) error {
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%q is not an http:// or https:// URL", u)
		}
	}
	return nil
}

// webhookSecret checks the Standard Webhooks secret form: whsec_ followed
// by the base64 of 24 to 64 bytes.
func webhookSecret(secret string, needed bool) error {
	if secret == "" {
		return check(!needed, "required when webhooks.urls is set (whsec_ + base64 of 24-64 random bytes)")
	}
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return fmt.Errorf("must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("is not whsec_ + base64")
	}
	return check(len(key) >= 24 && len(key) <= 64, "decodes to %d bytes; it must be 24 to 64", len(key))
}

// WebhookEventNames are the event names webhooks.events may list (SPEC §4).
var WebhookEventNames = []string{"lock_acquired", "lock_released", "user_joined", "user_left", "snapshot"}

func webhookEvents(names []string) error {
	for _, n := range names {
		if err := oneOf(n, WebhookEventNames...); err != nil {
			return err
		}
	}
	return nil
}
