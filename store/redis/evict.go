package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// EvictionWarning reports whether Redis might evict filelock's keys (SPEC
// §8: Redis must run with maxmemory-policy noeviction): "" when every
// master it can see says noeviction, else a warning naming the node, its
// policy and maxmemory. It reads INFO memory (allowed where CONFIG is not).
// An evicted lock key does not free the lock early (the store still knows
// the holder and expires_at), but evicted history and counters cost
// resumes their replay.
func (s *Store) EvictionWarning(ctx context.Context) (string, error) {
	var mu sync.Mutex
	var warns []string
	check := func(ctx context.Context, c *goredis.Client) error {
		info, err := c.Info(ctx, "memory").Result()
		if err != nil {
			return wrap(err)
		}
		policy, max := infoField(info, "maxmemory_policy"), infoField(info, "maxmemory")
		if policy == "" {
			return fmt.Errorf("redis store: %s: INFO memory has no maxmemory_policy", c.Options().Addr)
		}
		if policy != "noeviction" {
			mu.Lock()
			warns = append(warns, fmt.Sprintf("%s has maxmemory-policy %s (maxmemory %s)", c.Options().Addr, policy, max))
			mu.Unlock()
		}
		return nil
	}
	var err error
	switch c := s.rdb.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, check)
	case *goredis.Client:
		err = check(ctx, c)
	default:
		return "", fmt.Errorf("redis store: cannot inspect a %T", s.rdb)
	}
	if err != nil {
		return "", err
	}
	if len(warns) == 0 {
		return "", nil
	}
	return "Redis may evict filelock's keys: " + strings.Join(warns, "; ") + "; set maxmemory-policy noeviction", nil
}

// infoField returns the value of field in an INFO reply, "" if absent.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
