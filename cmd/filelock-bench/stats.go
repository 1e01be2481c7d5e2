package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// pct is the nearest-rank percentile of sorted values (p=100: the max), the
// same rank as the reference instruments use.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func msf(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

// table prints a titled table: header then rows, columns aligned.
type table struct {
	title string
	head  []string
	rows  [][]string
}

func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, row)
}

func (t *table) print() {
	fmt.Printf("\n%s\n", t.title)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(cells []string) { fmt.Fprintln(w, strings.Join(cells, "\t")+"\t") }
	line(t.head)
	seps := make([]string, len(t.head))
	for i, h := range t.head {
		seps[i] = strings.Repeat("-", len(h))
	}
	line(seps)
	for _, r := range t.rows {
		line(r)
	}
	w.Flush()
}

// sorted returns the durations sorted.
func sorted(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

// vmRSS is VmRSS of pid in kB (-1 if unknown).
func vmRSS(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb
		}
	}
	return -1
}

// cpuSeconds is the user+system CPU time of pid (USER_HZ = 100).
func cpuSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+1:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

// raiseNofile lifts the soft RLIMIT_NOFILE to the hard limit (children
// inherit it) and returns it.
func raiseNofile() uint64 {
	var rl syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}
