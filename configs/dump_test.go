package configs

import (
	"reflect"
	"strings"
	"testing"
)

// TestYAMLRoundTrips checks that the printed configuration, read back as a
// --config file, is the same configuration: every key and value is there.
func TestYAMLRoundTrips(t *testing.T) {
	c, err := Load([]string{"--http.addr", "127.0.0.1:9"}, env(map[string]string{
		"FILELOCK_REDIS_ADDRS":      "a:1,b:2",
		"FILELOCK_LIMITS_USER_RPS":  "2.5",
		"FILELOCK_LOG_FORMAT":       "json",
		"FILELOCK_REDIS_KEY_PREFIX": `fl:"x"`,
		"FILELOCK_WEBHOOKS_EVENTS":  "lock_released",
	}))
	if err != nil {
		t.Fatal(err)
	}
	text := string(c.YAML())
	for _, k := range Keys() {
		parts := strings.Split(k, ".")
		if !strings.Contains(text, parts[len(parts)-1]+":") {
			t.Errorf("YAML lacks %s:\n%s", k, text)
		}
	}
	got, err := Load([]string{"--config", writeFile(t, "dump.yaml", text)}, env(nil))
	if err != nil {
		t.Fatalf("Load(printed config): %v\n%s", err, text)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\n%s", got, c, text)
	}
}

// TestYAMLRedactsSecrets checks that no secret value is printed, and that
// an unset secret shows as empty.
func TestYAMLRedactsSecrets(t *testing.T) {
	secrets := map[string]string{
		"FILELOCK_REDIS_PASSWORD":    "redis-pass-0123",
		"FILELOCK_AUTH_MODE":         "jwt",
		"FILELOCK_AUTH_JWT_SECRET":   "jwt-secret-0123456789-0123456789-0123",
		"FILELOCK_AUTH_API_KEYS":     "api-key-aaaaaaaaaaaaaaaa,api-key-bbbbbbbbbbbbbbbb",
		"FILELOCK_WEBHOOKS_URLS":     "http://127.0.0.1:1/hook",
		"FILELOCK_WEBHOOKS_SECRET":   "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"FILELOCK_REDIS_MASTER_NAME": "mymaster",
	}
	c, err := Load(nil, env(secrets))
	if err != nil {
		t.Fatal(err)
	}
	text := string(c.YAML())
	for k, v := range secrets {
		if k == "FILELOCK_AUTH_MODE" || k == "FILELOCK_WEBHOOKS_URLS" || k == "FILELOCK_REDIS_MASTER_NAME" {
			if !strings.Contains(text, v) {
				t.Errorf("%s=%s not printed:\n%s", k, v, text)
			}
			continue
		}
		for _, part := range strings.Split(v, ",") {
			if strings.Contains(text, part) {
				t.Errorf("secret %s printed:\n%s", k, text)
			}
		}
	}
	for _, want := range []string{`password: "<redacted>"`, `secret: "<redacted>"`, `api_keys: ["<redacted>", "<redacted>"]`} {
		if !strings.Contains(text, want) {
			t.Errorf("YAML lacks %s:\n%s", want, text)
		}
	}
	plain, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if text := string(plain.YAML()); !strings.Contains(text, `password: ""`) || strings.Contains(text, Redacted) {
		t.Errorf("unset secrets should print empty:\n%s", text)
	}
}
