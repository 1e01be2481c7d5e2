package redis_test

import (
	"fmt"
	"slices"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// With one Cluster master down, WebhookProjects fails, and still returns
// the projects of the masters that answered, so that their deliveries go
// on meanwhile.
func TestWebhookProjectsMasterDown(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	cl := c.Client(t)
	s := redis.New(cl, storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	down := c.Addrs()[0]
	var want []string
	for i := range 30 {
		p := fmt.Sprint("proj", i)
		if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: "f", User: "u"}); err != nil {
			t.Fatal(err)
		}
		slot, err := cl.ClusterKeySlot(ctx, "{"+p+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && r.Nodes[0].Addr != down {
				want = append(want, p)
			}
		}
	}
	if len(want) == 0 || len(want) == 30 {
		t.Fatalf("%d of 30 projects on the masters that stay up: want some, not all", len(want))
	}
	n := goredis.NewClient(&goredis.Options{Addr: down})
	_ = n.ShutdownNoSave(ctx).Err() // the connection closes: no answer
	_ = n.Close()
	got, err := s.WebhookProjects(ctx)
	if err == nil {
		t.Fatalf("WebhookProjects with a master down: %v and no error", got)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("WebhookProjects with a master down: %v (%v), want the projects of the others %v", got, err, want)
	}
}
