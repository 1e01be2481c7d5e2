package store_test

import (
	"math"
	"testing"
	"time"

	"filelock/store"
)

func TestTTLSeconds(t *testing.T) {
	o := store.DefaultOptions()
	for _, c := range []struct {
		v    float64
		want time.Duration
	}{
		{-1, o.MinTTL}, {0, o.MinTTL}, {1e-12, o.MinTTL}, {math.Inf(-1), o.MinTTL}, {4.999, o.MinTTL},
		{5, 5 * time.Second}, {90.5, 90500 * time.Millisecond}, {3600, time.Hour},
		{3600.001, time.Hour}, {1e300, time.Hour}, {math.Inf(1), time.Hour},
	} {
		if got := o.TTLSeconds(c.v); got != c.want {
			t.Errorf("TTLSeconds(%v) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestClampTTL(t *testing.T) {
	o := store.Options{DefaultTTL: 20 * time.Second, MinTTL: 10 * time.Second, MaxTTL: 30 * time.Second}
	for _, c := range []struct{ in, want time.Duration }{
		{0, 20 * time.Second}, {-time.Second, 20 * time.Second}, {time.Second, 10 * time.Second},
		{25 * time.Second, 25 * time.Second}, {time.Minute, 30 * time.Second},
	} {
		if got := o.ClampTTL(c.in); got != c.want {
			t.Errorf("ClampTTL(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
