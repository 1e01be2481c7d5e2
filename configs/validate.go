package configs

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Validate checks every value and the relations between them; the error
// names the first offending key.
func (c Config) Validate() error {
	checks := []struct {
		key string
		err error
	}{
		{"http.addr", hostPort(c.HTTP.Addr)},
		{"http.shutdown_timeout", positive(c.HTTP.ShutdownTimeout)},
		{"store.backend", oneOf(c.Store.Backend, "memory", "redis")},
		{"redis.addrs", redisAddrs(c.Redis.Addrs)},
		{"redis.db", atLeast(c.Redis.DB, 0)},
		{"redis.key_prefix", keyPrefix(c.Redis.KeyPrefix)},
		{"lock.ttl", positive(c.Lock.TTL)},
		{"lock.min_ttl", positive(c.Lock.MinTTL)},
		{"lock.max_ttl", positive(c.Lock.MaxTTL)},
		{"lock.min_ttl", check(c.Lock.MinTTL <= c.Lock.TTL, "%v is more than lock.ttl (%v)", c.Lock.MinTTL, c.Lock.TTL)},
		{"lock.max_ttl", check(c.Lock.MaxTTL >= c.Lock.TTL, "%v is less than lock.ttl (%v)", c.Lock.MaxTTL, c.Lock.TTL)},
		{"lock.heartbeat_interval", positive(c.Lock.HeartbeatInterval)},
		{"lock.heartbeat_interval", check(c.Lock.HeartbeatInterval < c.Lock.TTL,
			"%v must be less than lock.ttl (%v), or locks expire between heartbeats", c.Lock.HeartbeatInterval, c.Lock.TTL)},
		{"lock.disconnect_grace", check(c.Lock.DisconnectGrace >= 0, "%v is negative", c.Lock.DisconnectGrace)},
		{"events.history", atLeast(c.Events.History, 1)},
		{"sse.keepalive", positive(c.SSE.Keepalive)},
		{"limits.max_body_bytes", atLeast(c.Limits.MaxBodyBytes, 1)},
		{"limits.send_queue", atLeast(c.Limits.SendQueue, 1)},
		{"limits.max_connections", atLeast(c.Limits.MaxConnections, 0)},
		{"limits.max_connections_per_user", atLeast(c.Limits.MaxConnectionsPerUser, 0)},
		{"limits.user_rps", check(c.Limits.UserRPS >= 0, "%v is negative", c.Limits.UserRPS)},
		{"auth.mode", oneOf(c.Auth.Mode, "none", "jwt")},
		{"auth.jwt.secret", check(c.Auth.Mode != "jwt" || (c.Auth.JWT.Secret != "") != (c.Auth.JWT.PublicKeyFile != ""),
			"auth.mode jwt needs exactly one of auth.jwt.secret and auth.jwt.public_key_file")},
		{"cors.allowed_origins", origins(c.CORS.AllowedOrigins)},
		{"log.level", oneOf(c.Log.Level, "debug", "info", "warn", "error")},
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
