package client_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEExample: the backend handler shown in README.md is the one
// TestBackendExample runs.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_backend_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, code, ok := strings.Cut(string(src), "// README:begin\n")
	code, _, ok2 := strings.Cut(code, "// README:end")
	if !ok || !ok2 {
		t.Fatal("example_backend_test.go lacks its README:begin/end markers")
	}
	if !strings.Contains(string(readme), "```go\n"+strings.TrimSpace(code)+"\n```") {
		t.Fatalf("README.md does not show the handler of example_backend_test.go as it is:\n%s", code)
	}
}
