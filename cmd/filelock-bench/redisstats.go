package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisMeter reads what a load cost a Redis: the CPU time of its process
// (INFO cpu) and the scripts it ran (INFO commandstats, reset at start).
type redisMeter struct {
	rdb  *redis.Client
	cpu0 float64
}

// startRedisMeter starts a meter on addr; nil when Redis does not answer.
func startRedisMeter(addr string) *redisMeter {
	m := &redisMeter{rdb: redis.NewClient(&redis.Options{Addr: addr})}
	ctx := context.Background()
	if err := m.rdb.ConfigResetStat(ctx).Err(); err != nil {
		m.rdb.Close()
		return nil
	}
	m.cpu0 = m.cpu(ctx)
	return m
}

func (m *redisMeter) cpu(ctx context.Context) float64 {
	info, _ := m.rdb.Info(ctx, "cpu").Result()
	return infoFloat(info, "used_cpu_user") + infoFloat(info, "used_cpu_sys")
}

// stop returns the CPU seconds Redis spent since start, the EVALSHA calls
// it ran and their mean duration in µs (INFO commandstats usec_per_call).
func (m *redisMeter) stop() (cpu float64, scripts int64, usecPerScript float64) {
	if m == nil {
		return 0, 0, 0
	}
	defer m.rdb.Close()
	ctx := context.Background()
	cpu = m.cpu(ctx) - m.cpu0
	info, _ := m.rdb.Info(ctx, "commandstats").Result()
	for _, line := range strings.Split(info, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				scripts, _ = strconv.ParseInt(val, 10, 64)
			case "usec_per_call":
				usecPerScript, _ = strconv.ParseFloat(val, 64)
			}
		}
	}
	return cpu, scripts, usecPerScript
}

// infoFloat returns a numeric field of an INFO reply (0 if absent).
func infoFloat(info, field string) float64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
