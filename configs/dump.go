package configs

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Redacted is what YAML prints in place of a secret's value.
const Redacted = "<redacted>"

// secretKeys are the keys whose values YAML never prints.
var secretKeys = []string{"redis.password", "auth.jwt.secret", "auth.api_keys", "webhooks.secret"}

// IsSecret reports whether key holds a secret (its value is redacted).
func IsSecret(key string) bool { return slices.Contains(secretKeys, key) }

// YAML returns the configuration as a YAML document with every key, in the
// order of filelock.yaml. A secret that is set is printed as "<redacted>"
// (each element of a list of secrets); an unset one as empty, so that one
// can see whether it is set. Without secrets, the document loaded as a
// --config file gives the same configuration.
func (c Config) YAML() []byte {
	var b bytes.Buffer
	var prev []string
	for _, f := range c.fields() {
		parts := strings.Split(f.key, ".")
		common := 0
		for common < len(prev)-1 && common < len(parts)-1 && prev[common] == parts[common] {
			common++
		}
		for i := common; i < len(parts)-1; i++ {
			if i == 0 && b.Len() > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "%s%s:\n", strings.Repeat("  ", i), parts[i])
		}
		fmt.Fprintf(&b, "%s%s: %s\n", strings.Repeat("  ", len(parts)-1), parts[len(parts)-1], yamlValue(f.target, IsSecret(f.key)))
		prev = parts
	}
	return b.Bytes()
}

// yamlValue writes the value target points to as a YAML scalar or flow
// sequence (JSON-style quoting, which YAML reads).
func yamlValue(target any, secret bool) string {
	quote := func(s string) string {
		if secret && s != "" {
			s = Redacted
		}
		return strconv.Quote(s)
	}
	switch t := target.(type) {
	case *string:
		return quote(*t)
	case *time.Duration:
		return strconv.Quote(t.String())
	case *int:
		return strconv.Itoa(*t)
	case *int64:
		return strconv.FormatInt(*t, 10)
	case *float64:
		return strconv.FormatFloat(*t, 'g', -1, 64)
	case *[]string:
		items := make([]string, len(*t))
		for i, s := range *t {
			items[i] = quote(s)
		}
		return "[" + strings.Join(items, ", ") + "]"
	default:
		panic(fmt.Sprintf("configs: no YAML form for %T", target))
	}
}
