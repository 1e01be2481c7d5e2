package check_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"filelock/internal/check"
)

// bin is filelockd, built once per test run.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "check-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = check.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// seed is CHECK_SEED when set (to replay a failing run), else the clock.
func seed(t *testing.T) uint64 {
	if s := os.Getenv("CHECK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHECK_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// topologies is the number of TestCheck* tests that share a soak.
const topologies = 4

// soak is how long each topology keeps running rounds: its share of
// CHECK_SOAK (e.g. 10m in all; make soak SOAK=10m sets it); 0 runs one
// short round of each fault.
func soak(t *testing.T) time.Duration {
	s := os.Getenv("CHECK_SOAK")
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("CHECK_SOAK=%q: %v", s, err)
	}
	return d / topologies
}
