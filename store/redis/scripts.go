package redis

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"slices"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFS embed.FS

// script is a Lua script, run by its SHA1 digest and sent in full to a Redis
// that does not know it yet.
type script struct{ src, sha string }

func newScript(src string) *script {
	h := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(h[:])}
}

// projectScript is a script of one project: lib.lua, the library parts
// it uses (lib_<part>.lua), project.lua, name.lua.
func projectScript(name string, parts ...string) *script {
	return newScript(library(parts...) + luaFile("project") + luaFile(name))
}

// library is lib.lua and the parts given, in order.
func library(parts ...string) string {
	src := luaFile("lib")
	for _, p := range parts {
		src += luaFile("lib_" + p)
	}
	return src
}

func luaFile(name string) string {
	b, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return string(b)
}

var (
	acquireScript    = projectScript("acquire", "locks")
	claimScript      = projectScript("claim", "locks")
	releaseScript    = projectScript("release")
	heartbeatScript  = projectScript("heartbeat", "locks", "index")
	statusScript     = projectScript("status")
	lockScript       = projectScript("lock")
	eventsScript     = projectScript("events")
	connectScript    = projectScript("connect", "presence")
	disconnectScript = projectScript("disconnect", "presence")
	refreshScript    = projectScript("refresh", "presence", "index")

	reapScript   = newScript(library("locks", "presence", "index") + luaFile("reap"))
	hintScript   = newScript(luaFile("hint"))
	takeScript   = newScript(luaFile("take"))
	settleScript = newScript(luaFile("settle"))
	shareScript  = newScript(luaFile("sweepshare"))
)

// call is one script invocation: the script with keys and args, or (a
// project script, see project) the whole EVALSHA command built already.
type call struct {
	script  *script
	keys    []string
	args    []any
	cmd     *goredis.Cmd
	evalsha []any // evalsha, sha, numkeys, keys..., args...; nil: built from keys and args
}

// project returns a call of a project script with project.lua's KEYS and
// common ARGV, followed by args.
func (s *Store) project(sc *script, projectID, file string, args ...any) *call {
	pk := s.projectKeys(projectID)
	a := make([]any, 0, 3+numProjectKeys+2+len(s.common)+len(args))
	a = append(a, "evalsha", sc.sha, numProjectKeys)
	a = append(a, pk.keys[:9]...)
	a = append(a, pk.lockPrefix+file, pk.keys[9], s.prefixArg, pk.id)
	a = append(a, s.common[:]...)
	return &call{script: sc, evalsha: append(a, args...)}
}

// run runs the calls in one round trip, in order (on one Redis; on a
// Cluster, calls to one slot keep their order), and returns the last
// call's error, mapped by wrap. Each call's reply is in its cmd.
func (s *Store) run(ctx context.Context, calls ...*call) error {
	s.pipeline(ctx, calls...)
	return wrap(calls[len(calls)-1].cmd.Err())
}

// pipeline sends the calls in one round trip, in order. A script Redis
// does not know yet (a new or restarted server) is sent in full.
func (s *Store) pipeline(ctx context.Context, calls ...*call) {
	if len(calls) == 1 {
		calls[0].send(ctx, s.rdb, "evalsha", calls[0].script.sha)
	} else {
		_, _ = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, c := range calls {
				c.send(ctx, p, "evalsha", c.script.sha)
			}
			return nil
		})
	}
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			c.send(ctx, s.rdb, "eval", c.script.src)
		}
	}
}

// send runs the call as EVALSHA or EVAL (queues it, on a pipeline). The
// command is sent at most once: a script whose reply was lost may have run,
// and run again it would answer wrongly (a new lock would come back as
// renewed). MaxRetries -1 ensures that for one Redis, but a ClusterClient
// still resends a command after a lost reply (EOF, timeout), on the same
// node and then on another; it does not resend a NoRetry command. MOVED and
// ASK redirections, after which the script has not run, are still followed.
func (c *call) send(ctx context.Context, p interface {
	Process(context.Context, goredis.Cmder) error
}, name, body string) {
	var args []any
	if c.evalsha != nil {
		args = c.evalsha
		if name != "evalsha" {
			args = slices.Clone(args)
			args[0], args[1] = name, body
		}
	} else {
		args = make([]any, 0, 3+len(c.keys)+len(c.args))
		args = append(args, name, body, len(c.keys))
		for _, k := range c.keys {
			args = append(args, k)
		}
		args = append(args, c.args...)
	}
	c.cmd = goredis.NewCmd(ctx, args...)
	c.cmd.SetFirstKeyPos(3)
	_ = p.Process(ctx, onceCmd{c.cmd})
}

// onceCmd is a command go-redis never resends.
type onceCmd struct{ *goredis.Cmd }

func (onceCmd) NoRetry() bool { return true }
