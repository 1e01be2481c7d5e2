package redis

import (
	"context"
	"embed"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFS embed.FS

func projectScript(name string) *goredis.Script {
	return goredis.NewScript(luaFile("lib") + luaFile(name))
}

func luaFile(name string) string {
	b, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return string(b)
}

var (
	acquireScript    = projectScript("acquire")
	releaseScript    = projectScript("release")
	heartbeatScript  = projectScript("heartbeat")
	statusScript     = projectScript("status")
	eventsScript     = projectScript("events")
	connectScript    = projectScript("connect")
	disconnectScript = projectScript("disconnect")
	refreshScript    = projectScript("refresh")
	reapScript       = projectScript("reap")

	registerScript   = goredis.NewScript(luaFile("register"))
	dueScript        = goredis.NewScript(luaFile("due"))
	rescheduleScript = goredis.NewScript(luaFile("reschedule"))
)

// call is one script invocation.
type call struct {
	script *goredis.Script
	keys   []string
	args   []any
	cmd    *goredis.Cmd
}

// project returns a call of a project script with lib.lua's common ARGV.
func (s *Store) project(script *goredis.Script, projectID, file string, args ...any) *call {
	keys := s.keys(projectID, file)
	common := []any{keys[8][:len(keys[8])-len(file)], s.opts.History, s.opts.DisconnectGrace.Milliseconds(), backstopMargin.Milliseconds()}
	return &call{script: script, keys: keys, args: append(common, args...)}
}

// run runs the calls in one round trip, in order (on one Redis; on a
// Cluster, calls to one slot keep their order). A script Redis does not know
// yet (a new or restarted server) is sent in full. The error is the last
// call's, mapped by wrap (earlier calls are auxiliary); each call's reply is
// in its cmd.
func (s *Store) run(ctx context.Context, calls ...*call) error {
	if len(calls) == 1 {
		c := calls[0]
		c.cmd = c.script.EvalSha(ctx, s.rdb, c.keys, c.args...)
	} else {
		_, _ = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, c := range calls {
				c.cmd = c.script.EvalSha(ctx, p, c.keys, c.args...)
			}
			return nil
		})
	}
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			c.cmd = c.script.Eval(ctx, s.rdb, c.keys, c.args...)
		}
	}
	return wrap(calls[len(calls)-1].cmd.Err())
}
