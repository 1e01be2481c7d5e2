package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"filelock/metrics"
)

// version and commit are stamped at build time (make build, make release):
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc1234" ./cmd/filelockd
var (
	version = "devel"
	commit  = ""
)

// build identifies this binary: the stamped version and commit; without a
// stamped commit, the one the Go toolchain recorded (with "-dirty" for
// uncommitted changes), else "unknown".
func build() metrics.Build {
	c := commit
	if c == "" {
		c = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			if rev != "" {
				c = rev
				if modified == "true" {
					c += "-dirty"
				}
			}
		}
	}
	return metrics.Build{Version: version, Commit: c, GoVersion: runtime.Version()}
}

// printVersion is `filelockd version`.
func printVersion(w io.Writer) {
	b := build()
	fmt.Fprintf(w, "filelockd %s\ncommit %s\n%s %s/%s\n", b.Version, b.Commit, b.GoVersion, runtime.GOOS, runtime.GOARCH)
}
