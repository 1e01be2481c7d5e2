package redis

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/store"
)

// Webhook delivery state (store.Deliveries), on the project's slot like
// every key of a project:
//
//	P whlease:{p}   string "<fence> <owner>", Redis TTL = the lease
//	P whfence:{p}   string the last fence handed out (seeded from TIME)
//	P whpos:{p}     hash url -> acknowledged event id
//
// Projects are found by their events streams: SCAN on every master, and a
// pattern subscription to their Pub/Sub channels for the live hints (Redis
// Cluster broadcasts PUBLISH to every node, so one connection hears all).
// No script touches two projects.

var _ store.Deliveries = (*Store)(nil)

var (
	webhookLeaseScript   = newScript(luaFile("webhook_lease"))
	webhookReleaseScript = newScript(luaFile("webhook_release"))
	webhookAckScript     = newScript(luaFile("webhook_ack"))
)

// deliveryStateTTL is how long a project's delivery positions and fence
// outlive its last acknowledgement: longer than its history (a day), so
// that a project whose history is still there never loses its position.
const deliveryStateTTL = 2 * 24 * time.Hour

func (s *Store) webhookKeys(projectID string) (lease, fence, pos string) {
	tag := "{" + projectID + "}"
	return s.prefix + "whlease:" + tag, s.prefix + "whfence:" + tag, s.prefix + "whpos:" + tag
}

// WebhookProjects implements store.Deliveries: a SCAN of every master for
// the projects' events streams. When a master fails, the projects of the
// others are returned beside the error.
func (s *Store) WebhookProjects(ctx context.Context) ([]string, error) {
	match := globEscape(s.prefix) + "events:{*}"
	var mu sync.Mutex // masters are scanned concurrently
	seen := map[string]bool{}
	var out []string
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.ScanType(ctx, cursor, match, 1000, "stream").Result()
			if err != nil {
				return err
			}
			mu.Lock()
			for _, k := range keys {
				if p := s.projectOf(k); p != "" && !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
			mu.Unlock()
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	if cc, ok := s.rdb.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return out, wrap(err)
	}
	return out, nil
}

// globEscape quotes the glob metacharacters of a Redis MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// WatchProjects implements store.Deliveries with a pattern subscription
// to every project's channel. go-redis reconnects and resubscribes by
// itself; after a broken connection the first hint is "" (messages of the
// gap are lost).
func (s *Store) WatchProjects(ctx context.Context) (<-chan string, error) {
	ps := s.rdb.PSubscribe(context.WithoutCancel(ctx))
	if err := ps.PSubscribe(ctx, globEscape(s.prefix)+"events:{*}"); err != nil {
		_ = ps.Close()
		return nil, wrap(err)
	}
	// Hints start once Redis confirmed the subscription.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := ps.Receive(rctx); err != nil {
		_ = ps.Close()
		return nil, wrap(err)
	}
	out := make(chan string, 1024)
	go func() {
		<-ctx.Done()
		_ = ps.Close()
	}()
	go func() {
		defer close(out)
		backoff := 10 * time.Millisecond
		lost := false
		for {
			msg, err := ps.ReceiveTimeout(context.Background(), feedPingAfter)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					_ = ps.Ping(context.Background())
					continue
				}
				lost = true
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, feedMaxBackoff)
				continue
			}
			backoff = 10 * time.Millisecond
			hint := ""
			if m, ok := msg.(*goredis.Message); ok && !lost {
				if hint = s.projectOf(m.Channel); hint == "" {
					continue
				}
			} else if !lost {
				continue // a subscription confirmation: nothing was missed
			}
			lost = false
			select {
			case out <- hint:
			default: // the reader fell behind: one catch-up hint instead
				select {
				case <-out:
				default:
				}
				select {
				case out <- "":
				default:
				}
			}
		}
	}()
	return out, nil
}

// LeaseDelivery implements store.Deliveries.
func (s *Store) LeaseDelivery(ctx context.Context, projectID, owner string, fence int64, ttl time.Duration) (int64, error) {
	lease, fenceKey, _ := s.webhookKeys(projectID)
	c := &call{script: webhookLeaseScript, keys: []string{lease, fenceKey},
		args: []any{owner, strconv.FormatInt(fence, 10), max(ttl.Milliseconds(), 1), deliveryStateTTL.Milliseconds()}}
	if err := s.run(ctx, c); err != nil {
		return 0, err
	}
	got, err := c.cmd.Int64()
	if err != nil {
		return 0, wrap(err)
	}
	if got < 0 {
		return 0, store.ErrLeaseLost
	}
	return got, nil
}

// ReleaseDelivery implements store.Deliveries.
func (s *Store) ReleaseDelivery(ctx context.Context, projectID, owner string, fence int64) error {
	lease, _, _ := s.webhookKeys(projectID)
	return s.run(ctx, &call{script: webhookReleaseScript, keys: []string{lease}, args: []any{owner, strconv.FormatInt(fence, 10)}})
}

// DeliveryPositions implements store.Deliveries.
func (s *Store) DeliveryPositions(ctx context.Context, projectID string) (map[string]string, error) {
	_, _, pos := s.webhookKeys(projectID)
	m, err := s.rdb.HGetAll(ctx, pos).Result()
	if err != nil {
		return nil, wrap(err)
	}
	return m, nil
}

// AckDelivery implements store.Deliveries.
func (s *Store) AckDelivery(ctx context.Context, projectID, owner string, fence int64, url, eventID string) error {
	lease, _, pos := s.webhookKeys(projectID)
	c := &call{script: webhookAckScript, keys: []string{lease, pos},
		args: []any{owner, strconv.FormatInt(fence, 10), url, eventID, deliveryStateTTL.Milliseconds()}}
	if err := s.run(ctx, c); err != nil {
		return err
	}
	if n, err := c.cmd.Int64(); err != nil {
		return wrap(err)
	} else if n == 0 {
		return store.ErrLeaseLost
	}
	return nil
}
