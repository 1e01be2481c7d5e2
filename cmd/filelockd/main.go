// Command filelockd is the filelock server: a lock server for collaborative
// image labeling (see README.md). Configuration: configs/filelock.yaml,
// --config FILE, FILELOCK_SECTION_KEY environment variables, --section.key
// flags. Subcommands: version, check-config, healthcheck (filelockd --help).
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
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"filelock/configs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := command(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// commands are the subcommands; without one (or with serve), filelockd
// serves.
const commands = `Commands:
  filelockd [serve] [--config FILE] [--section.key value ...]   run the server
  filelockd version                                              print version, commit and Go version
  filelockd check-config [--config FILE] [--section.key value ...]
                                                                 print the effective configuration (secrets redacted);
                                                                 exit 1 naming the key of a bad value
  filelockd healthcheck [--config FILE] [--section.key value ...]
                                                                 exit 0 when GET /readyz at http.addr answers 200, else 1

`

// command runs the subcommand named by args[0] and returns the exit code.
func command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	var err error
	switch name {
	case "serve":
		err = run(ctx, args, getenv, stdout)
	case "version":
		if len(args) > 0 {
			err = fmt.Errorf("version: unexpected argument %q", args[0])
			break
		}
		printVersion(stdout)
	case "check-config":
		err = checkConfig(args, getenv, stdout, stderr)
	case "healthcheck":
		err = healthcheck(ctx, args, getenv, stdout)
	default:
		err = fmt.Errorf("unknown command %q (see filelockd --help)", name)
	}
	if errors.Is(err, configs.ErrHelp) {
		fmt.Fprint(stdout, commands+configs.Usage())
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "filelockd:", err)
		return 1
	}
	return 0
}
