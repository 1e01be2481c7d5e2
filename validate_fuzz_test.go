package filelock

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

// The identifier rules of SPEC §2, restated independently of validate.go.

func specProjectID(s string) bool {
	if n := utf8.RuneCountInString(s); n < 1 || n > 128 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func specText(s string, maxBytes int) bool {
	if len(s) < 1 || len(s) > maxBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= 0x1f || r == 0x7f {
			return false
		}
	}
	return true
}

func specFile(s string) bool { return specText(s, 1024) && s != "." && s != ".." }
func specUser(s string) bool { return specText(s, 256) }

// FuzzValidate checks ValidateProjectID, ValidateFile and ValidateUser
// against SPEC §2: they never panic, accept exactly what the SPEC allows,
// refuse with an invalid_request *Error naming the field, and every accepted
// identifier round-trips exactly through JSON, alone and inside a Lock.
func FuzzValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		check := func(name, field string, err error, want bool) {
			t.Helper()
			if (err == nil) != want {
				t.Fatalf("%s(%q) = %v, SPEC says valid=%v", name, s, err, want)
			}
			if err != nil {
				var fe *Error
				if !errors.As(err, &fe) || fe.Code != EInvalid || fe.Field != field || fe.Message == "" {
					t.Fatalf("%s(%q): %#v is not an invalid_request error on %s", name, s, err, field)
				}
			}
		}
		pErr, fErr, uErr := ValidateProjectID(s), ValidateFile(s), ValidateUser("user_id", s)
		check("ValidateProjectID", "project_id", pErr, specProjectID(s))
		check("ValidateFile", "file", fErr, specFile(s))
		check("ValidateUser", "user_id", uErr, specUser(s))

		if pErr == nil || fErr == nil || uErr == nil {
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatalf("marshal %q: %v", s, err)
			}
			var back string
			if err := json.Unmarshal(b, &back); err != nil || back != s {
				t.Fatalf("JSON round trip of %q: %q, %v", s, back, err)
			}
		}
		if pErr == nil && fErr == nil && uErr == nil {
			at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
			l := Lock{ProjectID: s, File: s, User: s, Token: 42, AcquiredAt: at, ExpiresAt: at.Add(90 * time.Second)}
			b, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			var back Lock
			if err := json.Unmarshal(b, &back); err != nil || back.ProjectID != s || back.File != s || back.User != s ||
				back.Token != 42 || !back.AcquiredAt.Equal(l.AcquiredAt) || !back.ExpiresAt.Equal(l.ExpiresAt) {
				t.Fatalf("Lock JSON round trip of %q: %+v, %v", s, back, err)
			}
		} else if fErr == nil && uErr == nil {
			l := Lock{ProjectID: "p", File: s, User: s}
			b, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			var back Lock
			if err := json.Unmarshal(b, &back); err != nil || back.File != s || back.User != s {
				t.Fatalf("Lock JSON round trip of %q: %+v, %v", s, back, err)
			}
		}
	})
}
