package redis

import (
	"context"
	"time"
)

// Reaper tuning: how often Run asks which projects are due, and how many
// projects (and items of each kind per project) one round handles before
// asking again.
const (
	reapInterval = 100 * time.Millisecond
	reapBatch    = 100
)

// Run implements store.Store. Every instance may run it: due projects are
// found in the global due index (P {reaper}:due), each project's due work is
// done by one atomic script, so concurrent reapers do every release once.
// It returns nil when ctx ends; Redis failures are retried.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(reapInterval)
	defer t.Stop()
	for {
		for s.reapOnce(ctx) { // a full batch: more may be due
			if ctx.Err() != nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// reapOnce does one round; it reports whether the batch was full.
func (s *Store) reapOnce(ctx context.Context) bool {
	c := &call{script: dueScript, keys: s.reaperKeys(), args: []any{reapBatch}}
	if err := s.run(ctx, c); err != nil {
		return false
	}
	due, _ := c.cmd.Val().([]any)
	for i := 0; i+1 < len(due); i += 2 {
		project, _ := due[i].(string)
		ver, _ := due[i+1].(string)
		r := s.project(reapScript, project, "", reapBatch)
		_, rest, err := s.runReply(ctx, r)
		if err != nil {
			continue // stays due: retried next round
		}
		next := dueOf(rest[0])
		_ = s.run(ctx, &call{script: rescheduleScript, keys: s.reaperKeys(), args: []any{project, ver, next}})
	}
	return len(due)/2 == reapBatch
}

// registerCall tells the reaper that the project may have something due
// within d (measured on the reaper slot's Redis clock).
func (s *Store) registerCall(projectID string, d time.Duration) *call {
	return &call{script: registerScript, keys: s.reaperKeys(), args: []any{projectID, "rel", d.Milliseconds()}}
}

// runRegistered runs a project script that may add a due time no earlier
// than now+d, in one round trip after registering the project for
// now+d: should the process die before registerAfter, the reaper still
// finds the project (and reaps no later than it must).
func (s *Store) runRegistered(ctx context.Context, projectID string, d time.Duration, c *call) (string, []any, error) {
	if err := s.run(ctx, s.registerCall(projectID, d), c); err != nil {
		return "", nil, err
	}
	code, rest, err := reply(c.cmd.Val())
	if err == nil && len(rest) == 0 {
		err = errShort(c)
	}
	return code, rest, err
}

// registerAfter registers the project's actual next due time returned by
// the script. Registration only ever lowers the due time and bumps the
// version, so a reaper's reschedule cannot overwrite it.
func (s *Store) registerAfter(ctx context.Context, projectID string, due int64) {
	if due < 0 {
		return
	}
	_ = s.run(ctx, &call{script: registerScript, keys: s.reaperKeys(), args: []any{projectID, "abs", due}})
}
