package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
)

// redisLogger is where go-redis's own messages go (see redisLog); run
// sets it to the server's logger.
var redisLogger atomic.Pointer[slog.Logger]

// redisLog sends go-redis's own messages (dial failures, Pub/Sub
// reconnects) to the server's log at debug level, in log.format, instead
// of stderr: while Redis is away, each request already logs its
// store_unavailable. main installs it once, before any client exists.
type redisLog struct{}

func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	if l := redisLogger.Load(); l != nil {
		l.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
		return
	}
	fmt.Fprintf(os.Stderr, "redis: "+format+"\n", v...)
}
