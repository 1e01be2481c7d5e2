package webhooks

import (
	"slices"
	"testing"
	"time"

	"filelock/store/memory"
	"filelock/store/storetest"
)

// A URL listed twice is one receiver: one cursor, so one POST per event
// and one position, which two cursors would move back and forth.
func TestNewDeduplicatesURLs(t *testing.T) {
	st := memory.New(storetest.Opts())
	defer st.Close()
	d, err := New(st, Options{URLs: []string{"http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "http://127.0.0.1:1/a"},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G", Timeout: time.Second, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://127.0.0.1:1/a", "http://127.0.0.1:1/b"}; !slices.Equal(d.opts.URLs, want) {
		t.Fatalf("URLs %v, want %v", d.opts.URLs, want)
	}
}
