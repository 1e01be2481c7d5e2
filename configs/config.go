// Package configs loads the filelock server's configuration (SPEC §7):
// defaults (filelock.yaml, embedded) ← a --config file ← environment
// variables FILELOCK_SECTION_KEY ← flags --section.key. Every value is
// validated; a bad one is an error naming its key.
package configs

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

//go:embed filelock.yaml
var defaultYAML []byte

// ErrHelp is returned by Load when the arguments ask for help (-h, --help);
// Usage has the text to show.
var ErrHelp = pflag.ErrHelp

// Config is the server's configuration; see filelock.yaml for each key.
type Config struct {
	HTTP     HTTP
	Store    Store
	Redis    Redis
	Lock     Lock
	Events   Events
	SSE      SSE
	Limits   Limits
	Auth     Auth
	CORS     CORS
	Log      Log
	Webhooks Webhooks

	// Adjusted lists the values Load changed to keep the lock durations
	// consistent (see reconcile); the server logs them as warnings.
	Adjusted []string
}

// HTTP is the http.* section.
type HTTP struct {
	Addr            string
	ShutdownTimeout time.Duration
	ReadTimeout     time.Duration // the whole request of a non-streaming route
	AdminAddr       string        // "" = off; serves /debug/pprof/ and /metrics
}

// Store is the store.* section.
type Store struct {
	Backend string // "memory" | "redis"
}

// Redis is the redis.* section.
type Redis struct {
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	DB         int
	KeyPrefix  string
}

// Lock is the lock.* section.
type Lock struct {
	TTL               time.Duration
	MinTTL            time.Duration
	MaxTTL            time.Duration
	HeartbeatInterval time.Duration
	DisconnectGrace   time.Duration
}

// Events is the events.* section.
type Events struct {
	History int
}

// SSE is the sse.* section.
type SSE struct {
	Keepalive time.Duration
}

// Limits is the limits.* section; 0 means no limit for the connection
// limits and off for UserRPS.
type Limits struct {
	MaxBodyBytes          int64
	SendQueue             int
	MaxConnections        int
	MaxConnectionsPerUser int
	UserRPS               float64
	MaxProjectsPerConn    int // limits.max_projects_per_connection
}

// Auth is the auth.* section.
type Auth struct {
	Mode    string // "none" | "jwt"
	JWT     JWT
	APIKeys []string // auth.api_keys: X-API-Key values that act as an admin of every project
}

// JWT is the auth.jwt.* section.
type JWT struct {
	Secret        string
	PublicKeyFile string
	Leeway        time.Duration
	Audience      string
	Issuer        string
}

// CORS is the cors.* section.
type CORS struct {
	AllowedOrigins []string
}

// Log is the log.* section.
type Log struct {
	Level  string // debug | info | warn | error
	Format string // text | json
}

// Webhooks is the webhooks.* section (SPEC §5 Webhooks).
type Webhooks struct {
	URLs       []string
	Secret     string // whsec_ + base64 of 24–64 bytes; required when URLs are set
	Events     []string
	Timeout    time.Duration
	MaxBackoff time.Duration
}

// field binds a key to where its value goes; target is a *string,
// *time.Duration, *int, *int64, *float64 or *[]string.
type field struct {
	key    string
	target any
	help   string
}

func (c *Config) fields() []field {
	return []field{
		{"http.addr", &c.HTTP.Addr, "listen address (port 0: a free port)"},
		{"http.shutdown_timeout", &c.HTTP.ShutdownTimeout, "graceful stop timeout"},
		{"http.read_timeout", &c.HTTP.ReadTimeout, "bound on reading a whole request of a non-streaming route"},
		{"http.admin_addr", &c.HTTP.AdminAddr, "admin listener for /debug/pprof/ and /metrics (empty: off)"},
		{"store.backend", &c.Store.Backend, "memory | redis"},
		{"redis.addrs", &c.Redis.Addrs, "Redis addresses, comma-separated (several: Cluster)"},
		{"redis.master_name", &c.Redis.MasterName, "Sentinel master name"},
		{"redis.username", &c.Redis.Username, "Redis username"},
		{"redis.password", &c.Redis.Password, "Redis password"},
		{"redis.db", &c.Redis.DB, "Redis database number"},
		{"redis.key_prefix", &c.Redis.KeyPrefix, "prefix of every Redis key"},
		{"lock.ttl", &c.Lock.TTL, "default lock lifetime"},
		{"lock.min_ttl", &c.Lock.MinTTL, "smallest lock lifetime a client may ask for"},
		{"lock.max_ttl", &c.Lock.MaxTTL, "largest lock lifetime a client may ask for"},
		{"lock.heartbeat_interval", &c.Lock.HeartbeatInterval, "heartbeat interval told to clients"},
		{"lock.disconnect_grace", &c.Lock.DisconnectGrace, "how long a lock outlives its user's last connection"},
		{"events.history", &c.Events.History, "events kept per project for resuming"},
		{"sse.keepalive", &c.SSE.Keepalive, "SSE keepalive comment interval"},
		{"limits.max_body_bytes", &c.Limits.MaxBodyBytes, "largest request body"},
		{"limits.send_queue", &c.Limits.SendQueue, "events queued per connection"},
		{"limits.max_connections", &c.Limits.MaxConnections, "live connections per instance (0: no limit)"},
		{"limits.max_connections_per_user", &c.Limits.MaxConnectionsPerUser, "live connections per user per instance (0: no limit)"},
		{"limits.user_rps", &c.Limits.UserRPS, "commands per second per user (0: off)"},
		{"limits.max_projects_per_connection", &c.Limits.MaxProjectsPerConn, "projects one WebSocket/Socket.IO connection may join"},
		{"auth.mode", &c.Auth.Mode, "none | jwt"},
		{"auth.jwt.secret", &c.Auth.JWT.Secret, "HS256 key"},
		{"auth.jwt.public_key_file", &c.Auth.JWT.PublicKeyFile, "PEM public key file (RS256/ES256)"},
		{"auth.jwt.leeway", &c.Auth.JWT.Leeway, "clock skew allowed on exp"},
		{"auth.jwt.audience", &c.Auth.JWT.Audience, "required aud claim (empty: not checked)"},
		{"auth.jwt.issuer", &c.Auth.JWT.Issuer, "required iss claim (empty: not checked)"},
		{"auth.api_keys", &c.Auth.APIKeys, "X-API-Key values of backends (admin of every project), comma-separated"},
		{"cors.allowed_origins", &c.CORS.AllowedOrigins, "allowed cross-origin origins, comma-separated (*: any)"},
		{"log.level", &c.Log.Level, "debug | info | warn | error"},
		{"log.format", &c.Log.Format, "text | json"},
		{"webhooks.urls", &c.Webhooks.URLs, "webhook receiver URLs, comma-separated (empty: off)"},
		{"webhooks.secret", &c.Webhooks.Secret, "signing secret: whsec_ + base64 of 24-64 bytes"},
		{"webhooks.events", &c.Webhooks.Events, "event names delivered, comma-separated"},
		{"webhooks.timeout", &c.Webhooks.Timeout, "bound on one delivery attempt"},
		{"webhooks.max_backoff", &c.Webhooks.MaxBackoff, "longest wait between retries"},
	}
}

// Keys returns every configuration key, in the order of filelock.yaml.
func Keys() []string {
	var c Config
	var keys []string
	for _, f := range c.fields() {
		keys = append(keys, f.key)
	}
	return keys
}

// EnvVar returns the environment variable of a key: lock.disconnect_grace →
// FILELOCK_LOCK_DISCONNECT_GRACE.
func EnvVar(key string) string {
	return "FILELOCK_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load builds the configuration from the command-line arguments (without
// the program name) and the environment read through getenv.
func Load(args []string, getenv func(string) string) (Config, error) {
	v, err := defaultsViper()
	if err != nil {
		return Config{}, err
	}
	if _, err := decodeConfig(v); err != nil {
		return Config{}, fmt.Errorf("embedded defaults: %w", err)
	}
	set := map[string]bool{} // the keys a file, the environment or a flag set
	fs, configFile := flagSet(v)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configFile != "" {
		keys, err := mergeFile(v, *configFile)
		if err != nil {
			return Config{}, err
		}
		for _, k := range keys {
			set[k] = true
		}
	}
	for _, key := range Keys() {
		if val := getenv(EnvVar(key)); val != "" {
			v.Set(key, val)
			set[key] = true
		}
	}
	fs.Visit(func(f *pflag.Flag) {
		if f.Name != "config" {
			v.Set(f.Name, f.Value.String())
			set[f.Name] = true
		}
	})
	c, err := decodeConfig(v)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, c.reconcile(set)
}

// defaultsViper returns a viper holding the embedded filelock.yaml.
func defaultsViper() (*viper.Viper, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultYAML)); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	return v, nil
}

// decodeConfig reads every key of v into a Config; an error names the key.
func decodeConfig(v *viper.Viper) (Config, error) {
	var c Config
	for _, f := range c.fields() {
		if err := decode(f.target, v.Get(f.key)); err != nil {
			return Config{}, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	return c, nil
}

// Usage returns the command-line help.
func Usage() string {
	v, err := defaultsViper()
	if err != nil {
		return err.Error()
	}
	fs, _ := flagSet(v)
	return "Usage: filelockd [--config FILE] [--section.key value ...]\n\n" + fs.FlagUsages() +
		"\nEvery key can also be set by the environment variable FILELOCK_SECTION_KEY.\n"
}

// flagSet has one string flag per key (its default shown from v) and --config.
func flagSet(v *viper.Viper) (*pflag.FlagSet, *string) {
	fs := pflag.NewFlagSet("filelockd", pflag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{}) // Load's caller reports errors and usage
	fs.SortFlags = false
	configFile := fs.String("config", "", "configuration file (YAML) overriding the defaults")
	var c Config
	for _, f := range c.fields() {
		fs.String(f.key, display(v.Get(f.key)), f.help)
	}
	return fs, configFile
}

func display(v any) string {
	if l, ok := v.([]any); ok {
		s := make([]string, len(l))
		for i, x := range l {
			s[i] = fmt.Sprint(x)
		}
		return strings.Join(s, ",")
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// mergeFile merges a configuration file over the defaults and returns the
// keys it sets; keys it does not know are an error (a typo would otherwise
// go unnoticed).
func mergeFile(v *viper.Viper, path string) ([]string, error) {
	fv := viper.New()
	fv.SetConfigFile(path)
	if err := fv.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	keys := Keys()
	for _, k := range fv.AllKeys() {
		if !slices.ContainsFunc(keys, func(known string) bool { return known == k || strings.HasPrefix(known, k+".") }) {
			return nil, fmt.Errorf("config file %s: unknown key %q", path, k)
		}
	}
	return fv.AllKeys(), v.MergeConfigMap(fv.AllSettings())
}
