// Package redis is the store.Store of filelock for many instances sharing one
// Redis (standalone, Sentinel or Cluster). Every operation is one Lua script
// (lua/*.lua) run atomically on the project's hash slot; the lock clock is
// the Redis server's TIME, so all instances agree on expiry.
//
// Key layout, P being the key prefix and p the project id (which cannot
// contain braces, so {p} is the project's Redis Cluster hash tag):
//
//	P lock:{p}:<file>   hash user, token, acq, exp, ttl; Redis TTL expires_at
//	                    + backstopMargin (1 s)
//	P holders:{p}       hash file -> "<token>:<acq>:<ttl>:<user>" (no TTL)
//	P users:{p}         hash user -> "<token>:<file>" held
//	P expiry:{p}        zset file -> expires_at ms
//	P meta:{p}          hash seq (last event)
//	P events:{p}        stream, id <seq>-0, exact MAXLEN Options.History; also
//	                    the Pub/Sub channel the events are published on
//	P conns:{p}         zset connID -> lease deadline ms
//	P connuser:{p}      hash connID -> user
//	P present:{p}       hash user -> live connections
//	P grace:{p}         zset user -> disconnect release deadline ms
//	P due:{t}           zset project -> a due ms never later than the
//	                    project's earliest, for the projects of one Cluster
//	                    slot (t is a hash tag of that slot)
//	P {reaper.k}:due    zset slot -> earliest due ms (hint shard k of 16)
//	P {reaper.k}:ver    hash slot -> hint version
//
// Every due time a project script writes lowers the project's entry in its
// slot's due index in the same atomic step (ZADD LT); a release or a
// renewal leaves the entry early, and the reaper, visiting the project
// then and finding nothing due, sets it to the true earliest due time (a
// heartbeat and a connection refresh set it exactly at once). Hints tell
// reapers which slots to look at: the reapers together sweep every slot's
// index once a second (sharing the work through P {reaper.sweep}:cursor)
// and hint what is due within two seconds; a script whose due time may be
// nearer than that hints its slot itself, in the same round trip. So a lost
// hint delays an expiry by at most a second (see reaper.go). A slot whose
// hint the sweep cannot write (its hint shard's node is down) is reaped
// directly by the sweeping reaper, so a slot's expiries depend on its own
// node only. Reapers judge due times by the Redis clock (an offset they
// measure), not their own.
//
// Event seqs (and so tokens) are taken hybrid-logical-clock style: the
// larger of the project's last seq + 1 and the Redis time in µs. So
// when Redis loses writes (comes back empty or from an older snapshot, fails
// over to a replica that lagged), tokens and event ids still go up, provided
// its clock is not behind the time of the lost writes; a resume id that the
// store lost is unknown to it (store.ErrHistoryGone). Each event records the
// seq of the one before it (filelock.Event.Prev), since seqs jump.
//
// Upgrading from the previous version of this layout needs an empty Redis
// (or a new key prefix): its locks lack the holders and due index entries,
// so they would never be reaped. Its stream entries, which lack the seq of
// the event before, still decode (with Prev 0, which readers treat as a gap).
package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store on Redis. Its methods are safe for concurrent use.
type Store struct {
	rdb    goredis.UniversalClient
	opts   store.Options
	prefix string
	// clockOffset is Redis's clock minus this instance's, in ns, as the
	// reaper last measured it (see redisNow).
	clockOffset atomic.Int64
	localNow    func() time.Time // the instance's clock (a test sets it off Redis's)
	direct      *direct          // slots the reaper reaps without a hint (direct.go)
	// The ARGV of project scripts that are the store's: the key prefix;
	// history, disconnect grace ms, lock-key margin ms (lua/project.lua).
	prefixArg any
	common    [3]any
	keySeed   maphash.Seed
	keyCache  [keyCacheSize]atomic.Pointer[projectKeys]
}

// New returns a Store on client with the rules opts, prefixing every key
// with prefix (which must not contain '{' or '}'). The client stays the
// caller's: Close does not close it. For the store's errors to honour the
// callers' deadlines, create the client with ContextTimeoutEnabled. Zero
// fields of opts take the defaults (store.Options.WithDefaults).
func New(client goredis.UniversalClient, opts store.Options, prefix string) *Store {
	s := &Store{rdb: client, opts: opts.WithDefaults(), prefix: prefix, localNow: time.Now, direct: newDirect(),
		prefixArg: prefix, keySeed: maphash.MakeSeed()}
	s.common = [3]any{strconv.Itoa(s.opts.History), strconv.FormatInt(s.opts.DisconnectGrace.Milliseconds(), 10),
		strconv.FormatInt(backstopMargin.Milliseconds(), 10)}
	return s
}

// Ping reports whether Redis answers and takes writes.
//
// It also writes a short-lived key (P ready), so that a Redis that answers
// but refuses writes (a read-only replica, a Cluster slot without its
// master, an OOM refusal) is not reported ready (SPEC §3 /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return wrap(err)
	}
	return wrap(s.rdb.Set(ctx, s.prefix+"ready", "1", 10*time.Second).Err())
}

// Close releases nothing: the client is the caller's, feeds are closed by
// their owners, Run ends with its context.
func (s *Store) Close() error { return nil }

// numProjectKeys is how many KEYS a project script has (lua/project.lua).
const numProjectKeys = 11

// projectKeys are the KEYS of a project's scripts but the lock key, and
// the project id, as command arguments.
type projectKeys struct {
	projectID  string
	keys       [10]any // KEYS[1..9] (lua/project.lua) and KEYS[11], the slot's due index
	lockPrefix string  // KEYS[10] less the file
	id         any     // projectID
}

// keyCacheSize bounds the projects whose keys are kept (keyCache).
const keyCacheSize = 1024

// projectKeys returns the keys of a project, from keyCache (a direct-mapped
// cache: a project takes the place of another of the same hash, so it
// holds at most keyCacheSize projects, and a hit costs no allocation).
func (s *Store) projectKeys(projectID string) *projectKeys {
	slot := &s.keyCache[maphash.String(s.keySeed, projectID)%keyCacheSize]
	if pk := slot.Load(); pk != nil && pk.projectID == projectID {
		return pk
	}
	tag := "{" + projectID + "}"
	p := s.prefix
	pk := &projectKeys{projectID: projectID, lockPrefix: p + "lock:" + tag + ":", id: projectID}
	for i, name := range [...]string{"meta:", "events:", "users:", "holders:", "expiry:", "conns:", "connuser:", "present:", "grace:"} {
		pk.keys[i] = p + name + tag
	}
	pk.keys[9] = s.dueKey(slotOf(projectID))
	slot.Store(pk)
	return pk
}

// channel is the project's Pub/Sub channel (the name of its events stream).
func (s *Store) channel(projectID string) string {
	return s.prefix + "events:{" + projectID + "}"
}

// projectOf returns the project of a channel, "" if it is not one.
func (s *Store) projectOf(channel string) string {
	p, ok := strings.CutPrefix(channel, s.prefix+"events:{")
	if !ok || !strings.HasSuffix(p, "}") {
		return ""
	}
	return p[:len(p)-1]
}

// wrap maps a Redis failure to store_unavailable; a reply error that is not
// about availability (a bug) stays a plain error.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) && !isNetErr(err) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS", "MOVED", "ASK"} {
			if strings.HasPrefix(msg, p) {
				return store.Unavailable(err)
			}
		}
		return fmt.Errorf("redis store: %w", err)
	}
	return store.Unavailable(err)
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
