package redis

import (
	"regexp"
	"strings"
	"testing"
)

// TestScriptsDefineWhatTheyCall: each script carries every library
// function it calls (a script holds only the library parts it names, and
// Redis would fail only when the call runs).
func TestScriptsDefineWhatTheyCall(t *testing.T) {
	calls := regexp.MustCompile(`(?:^|[^.:\w])([A-Za-z_]\w*)\s*\(`)
	quoted := regexp.MustCompile(`'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"`)
	defs := regexp.MustCompile(`local function ([A-Za-z_]\w*)|local ([A-Za-z_]\w*) = `)
	builtin := map[string]bool{"tonumber": true, "tostring": true, "ipairs": true, "pairs": true, "unpack": true,
		"type": true, "error": true, "assert": true, "select": true, "next": true, "function": true,
		"if": true, "and": true, "or": true, "not": true, "return": true, "in": true, "until": true, "elseif": true}
	for name, sc := range map[string]*script{"acquire": acquireScript, "claim": claimScript, "release": releaseScript,
		"heartbeat": heartbeatScript, "status": statusScript, "lock": lockScript, "events": eventsScript,
		"connect": connectScript, "disconnect": disconnectScript, "refresh": refreshScript, "reap": reapScript,
		"hint": hintScript, "take": takeScript, "settle": settleScript, "share": shareScript} {
		var code strings.Builder // the source less strings and comments
		for _, line := range strings.Split(sc.src, "\n") {
			line = quoted.ReplaceAllString(line, "''")
			line, _, _ = strings.Cut(line, "--")
			code.WriteString(line + "\n")
		}
		defined := map[string]bool{}
		for _, m := range defs.FindAllStringSubmatch(code.String(), -1) {
			defined[m[1]+m[2]] = true
		}
		for _, m := range calls.FindAllStringSubmatch(code.String(), -1) {
			if f := m[1]; !defined[f] && !builtin[f] {
				t.Errorf("%s calls %s, which it does not define", name, f)
			}
		}
	}
}
