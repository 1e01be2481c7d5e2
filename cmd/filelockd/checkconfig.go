package main

import (
	"fmt"
	"io"

	"filelock/auth"
	"filelock/configs"
)

// checkConfig is `filelockd check-config [--config FILE] [--section.key
// value ...]`: it applies every source as the server would (defaults ←
// file ← environment ← flags), prints the effective configuration as YAML
// with secrets redacted, and the adjustments start-up would warn about on
// stderr. It returns the error start-up would stop with (naming the key).
func checkConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := configs.Load(args, getenv)
	if err != nil {
		return err
	}
	// What start-up checks beyond the values themselves: the JWT key.
	if _, err := auth.New(authConfig(cfg)); err != nil {
		return err
	}
	for _, a := range cfg.Adjusted {
		fmt.Fprintln(stderr, "warning: config adjusted:", a)
	}
	_, err = stdout.Write(cfg.YAML())
	return err
}
