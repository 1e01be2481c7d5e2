package main

import (
	"strings"
	"testing"

	"filelock/auth"
)

func TestRun(t *testing.T) {
	const secret = "cli-secret-0123456789abcdef0123456789"
	v, err := auth.New(auth.Config{Mode: "jwt", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "FILELOCK_AUTH_JWT_SECRET" {
			return secret
		}
		return ""
	}
	noEnv := func(string) string { return "" }

	var out, errb strings.Builder
	if rc := run([]string{"--secret", secret, "--sub", "user1", "--projects", "p1, p2", "--ttl", "5m"}, noEnv, &out, &errb); rc != 0 {
		t.Fatalf("rc = %d, stderr %q", rc, errb.String())
	}
	id, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil || id.User != "user1" || !id.CanAccess("p1") || !id.CanAccess("p2") || id.CanAccess("p3") || id.Admin {
		t.Fatalf("token: %+v, %v", id, err)
	}

	out.Reset()
	if rc := run([]string{"--sub", "admin1", "--projects", "*", "--admin"}, env, &out, &errb); rc != 0 {
		t.Fatalf("rc = %d, stderr %q", rc, errb.String())
	}
	id, err = v.Verify(strings.TrimSpace(out.String()))
	if err != nil || id.User != "admin1" || !id.All || !id.Admin {
		t.Fatalf("admin token: %+v, %v", id, err)
	}

	for _, args := range [][]string{
		{"--sub", "u"},                          // no secret
		{"--secret", secret},                    // no sub
		{"--secret", secret, "--sub", "u", "x"}, // stray argument
		{"--secret", secret, "--sub", "u", "--ttl", "-1s"},
		{"--secret", secret, "--sub", "u", "--projects", "a/b"},
		{"--nope"},
	} {
		out.Reset()
		errb.Reset()
		if rc := run(args, noEnv, &out, &errb); rc == 0 || out.Len() != 0 || errb.Len() == 0 {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want failure with a message", args, rc, out.String(), errb.String())
		}
	}
}
