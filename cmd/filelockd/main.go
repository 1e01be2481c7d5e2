// Command filelockd is the filelock server: a lock server for collaborative
// image labeling (see README.md). Configuration: configs/filelock.yaml,
// --config FILE, FILELOCK_SECTION_KEY environment variables, --section.key
// flags.
//
//	@title						filelock API
//	@version					1.0
//	@description				Locks for collaborative image labeling: one person per file, one file per person and project,
//	@description				locks that expire on their own, live events over SSE, WebSocket and Socket.IO.
//	@description				Errors have the shape {"error": {"code", "message", "field"?}, "lock"?}.
//	@license.name				MIT
//	@BasePath					/
//	@securityDefinitions.apikey	BearerAuth
//	@in							header
//	@name						Authorization
//	@description				auth.mode jwt only: "Bearer <JWT>".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"filelock/configs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if errors.Is(err, configs.ErrHelp) {
		fmt.Fprint(os.Stdout, configs.Usage())
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "filelockd:", err)
		os.Exit(1)
	}
}
