// Command filelock-token prints an HS256 token for a filelock server running
// with auth.mode jwt and auth.jwt.secret:
//
//	filelock-token --secret "$SECRET" --sub user1 --projects 1234,5678 --ttl 8h
//	filelock-token --sub admin1 --projects '*' --admin   # secret from FILELOCK_AUTH_JWT_SECRET
//
// The token's claims are sub (the user), projects (the project ids the user
// may touch; "*" for all) and admin (may force an unlock), and exp.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filelock/auth"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("filelock-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "HS256 secret (auth.jwt.secret); default $FILELOCK_AUTH_JWT_SECRET")
	sub := fs.String("sub", "", "the user (claim sub); required")
	projects := fs.String("projects", "", `comma-separated project ids the user may touch, or "*" for all; empty: none`)
	admin := fs.Bool("admin", false, "allow force unlock (claim admin)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token (claim exp)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "filelock-token: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *secret == "" {
		*secret = getenv("FILELOCK_AUTH_JWT_SECRET")
	}
	if *secret == "" || *sub == "" {
		fmt.Fprintln(stderr, "filelock-token: --sub and a secret (--secret or $FILELOCK_AUTH_JWT_SECRET) are required")
		return 2
	}
	var list []string
	for _, p := range strings.Split(*projects, ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	tok, err := auth.Mint(*secret, *sub, list, *admin, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "filelock-token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
