package main

import (
	"context"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// warnEviction logs a warning for each Redis node that may evict keys
// (maxmemory-policy other than noeviction): an evicted lock or token
// counter breaks the guarantees of SPEC §1 (I3, I7). A node that does not
// answer CONFIG GET (a managed Redis may refuse it) is reported at info
// level: the policy could not be checked.
func warnEviction(ctx context.Context, client goredis.UniversalClient, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	check := func(ctx context.Context, c *goredis.Client) error {
		addr := c.Options().Addr
		res, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		if err != nil {
			log.Info("could not check Redis maxmemory-policy", "redis", addr, "err", err)
			return nil
		}
		if p := res["maxmemory-policy"]; p != "" && p != "noeviction" {
			log.Warn("Redis may evict filelock's keys: set maxmemory-policy noeviction", "redis", addr, "maxmemory_policy", p)
		}
		return nil
	}
	switch c := client.(type) {
	case *goredis.Client:
		_ = check(ctx, c)
	case *goredis.ClusterClient:
		_ = c.ForEachMaster(ctx, check)
	}
}
