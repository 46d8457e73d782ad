package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Config is every setting of keyward. Each comes from a flag, or else from
// the environment variable KEYWARD_<NAME>; secrets may also come from a file
// named by KEYWARD_<NAME>_FILE.
type Config struct {
	Addr          string
	DataDir       string
	DatabaseURL   string
	OperatorToken string
	Demo          bool
	// MasterKeyLost starts serve without the master key its database's
	// sealed secrets need: everything sealed stays unavailable.
	MasterKeyLost bool
	// Migrate has serve apply pending migrations; without it serve
	// refuses a database that needs them.
	Migrate bool
	// ShutdownDelay is how long readiness fails before the listeners
	// close; ShutdownTimeout bounds the drain of in-flight requests.
	ShutdownDelay, ShutdownTimeout time.Duration
	// DatabaseTimeout bounds how long an admin request waits on the
	// database before it is answered 503.
	DatabaseTimeout time.Duration
	// Retention says how long the tables that grow with traffic keep
	// rows; PruneInterval how often it is applied.
	Retention     store.Retention
	PruneInterval time.Duration
	// DatabaseWait is how long serve waits for a database that does not
	// answer at start.
	DatabaseWait time.Duration
	Catalog      string
	LogLevel     string
	Upstream     string
	GatewayAddr  string
	Redis        string
	// CredentialSources lists where the gateway reads an API key from:
	// any of "header" (X-API-Key), "bearer" (Authorization) and "query" (apiKey).
	CredentialSources string
	PassUnknown       bool
	IdentityKey       string
	MaxStaleness      time.Duration
	SyncInterval      time.Duration
	UsageFlush        time.Duration
	AuditRetention    time.Duration // how long audit entries are kept; 0 for ever
	AuditCheckpoint   time.Duration // how often each audit chain is checkpointed
	LicenceContact    string
	// ReadTimeout is the longest a client may take to send a whole request,
	// headers and body, on every listener.
	ReadTimeout time.Duration
	// MaxBodyText is --max-body as given; finish reads it into MaxBody, the
	// largest request body the gateway forwards, in bytes.
	MaxBodyText string
	MaxBody     int64
	// TrustedProxiesText is --trusted-proxies as given; finish reads it
	// into TrustedProxies, the proxies whose X-Forwarded-For and Forwarded
	// entries name the client.
	TrustedProxiesText string
	TrustedProxies     []netip.Prefix
	// PublicURL is the address users type to reach keyward, such as
	// https://keys.example.com, without a trailing slash; "" when not set.
	// An https address makes cookies Secure and turns HSTS on.
	PublicURL string
	// GatewayPublicURL is the address clients send API requests to, the
	// gateway's as they reach it, shown in the merchant portal's guide;
	// "" for the gateway's own listening address.
	GatewayPublicURL string
	// TLSCert and TLSKey are PEM files to serve HTTPS with directly;
	// finish loads them into Certificate.
	TLSCert, TLSKey string
	Certificate     *tls.Certificate
	// MasterKeyFile is --master-key-file; finish reads it, or else
	// KEYWARD_MASTER_KEY or KEYWARD_MASTER_KEY_FILE, into Keyring, the
	// master keys that seal secrets at rest (nil when none is set).
	MasterKeyFile string
	Keyring       *seal.Keyring
	// ConnectorProxyAddr is where the outbound proxy to external systems
	// listens; "" keeps it off.
	ConnectorProxyAddr string
	// Outbound is what keyward may dial: webhook receivers, external
	// systems (see webhooks.go).
	Outbound OutboundConfig
	// Observe is forward-auth, metrics, traces and the access log (see
	// observe.go).
	Observe ObserveConfig
	// LifecycleInterval is how often expiry warnings, inactivity reports
	// and inactivity rules are applied (see lifecycle_job.go).
	LifecycleInterval time.Duration
}

// masterKeyFlag adds --master-key-file, which keyward serve and keyward
// secrets rotate take.
func (c *Config) masterKeyFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "file holding the master key(s) that seal secrets at rest: 32 bytes as hex or base64, or a keyring id1:key,id2:key with the primary first (env KEYWARD_MASTER_KEY or KEYWARD_MASTER_KEY_FILE)")
}

// finishMasterKey reads the master keyring, if one is given. Errors never
// contain the key text.
func (c *Config) finishMasterKey() error {
	text := ""
	if c.MasterKeyFile != "" {
		b, err := os.ReadFile(c.MasterKeyFile)
		if err != nil {
			return fmt.Errorf("--master-key-file: %w", err)
		}
		text = strings.TrimSpace(string(b))
	} else {
		t, err := secretEnv("MASTER_KEY")
		if err != nil {
			return err
		}
		text = t
	}
	if text == "" {
		return nil
	}
	kr, err := seal.ParseKeyring(text)
	if err != nil {
		return fmt.Errorf("master key (KEYWARD_MASTER_KEY, KEYWARD_MASTER_KEY_FILE or --master-key-file): %v", err)
	}
	c.Keyring = kr
	return nil
}

// defaultReadTimeout is --read-timeout's default. minReadTimeout is the
// least it may be: below it, ordinary clients on slow links are cut off.
const (
	defaultReadTimeout = 30 * time.Second
	minReadTimeout     = time.Second
)

// readTimeoutFlag adds --read-timeout, which keyward serve and keyward
// demo-api both take.
func readTimeoutFlag(fs *flag.FlagSet, d *time.Duration) {
	fs.DurationVar(d, "read-timeout", envDuration("READ_TIMEOUT", defaultReadTimeout),
		"the longest a client may take to send a whole request, headers and body, on every listener; at least 1s (env KEYWARD_READ_TIMEOUT)")
}

// checkReadTimeout reports a --read-timeout below minReadTimeout.
func checkReadTimeout(d time.Duration) error {
	if d < minReadTimeout {
		return fmt.Errorf("--read-timeout %s: must be at least %s", d, minReadTimeout)
	}
	return nil
}

// parseSize reads a size in bytes: a whole number, optionally followed by
// a unit, B, KB, MB or GB (powers of 1000) or KiB, MiB or GiB (powers of
// 1024), in any case and with or without a space: 8388608, 8MiB, 8 MB.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errors.New("not a size such as 8MiB, 8MB or 8388608")
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, errors.New("too large")
	}
	var mult int64
	switch strings.ToLower(strings.TrimSpace(s[i:])) {
	case "", "b":
		mult = 1
	case "kb":
		mult = 1000
	case "mb":
		mult = 1000 * 1000
	case "gb":
		mult = 1000 * 1000 * 1000
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("unknown unit %q; use B, KB, MB, GB, KiB, MiB or GiB", strings.TrimSpace(s[i:]))
	}
	if n > (1<<63-1)/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

// envOr returns the environment's value for name, or def.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv("KEYWARD_" + name); ok {
		return v
	}
	return def
}

// envBool reads KEYWARD_<name> as a boolean: true, 1, yes, on, or false,
// 0, no, off, in any case. Another value is reported by finish rather
// than read as false.
func envBool(name string, def bool) bool {
	v, ok := os.LookupEnv("KEYWARD_" + name)
	if !ok {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "yes", "y", "on":
		return true
	case "0", "f", "false", "no", "n", "off", "":
		return false
	}
	badEnv = append(badEnv, fmt.Errorf("KEYWARD_%s=%q is not a boolean; use true or false", name, v))
	return def
}

// envDuration reads KEYWARD_<name> as a duration; a bad value is reported
// by finish through the flag's default staying in place.
func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv("KEYWARD_" + name); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		badEnv = append(badEnv, fmt.Errorf("KEYWARD_%s=%q is not a duration such as 30s", name, v))
	}
	return def
}

// badEnv collects environment values that could not be read.
var badEnv []error

// secretEnv reads KEYWARD_<name>, or the file named by KEYWARD_<name>_FILE.
func secretEnv(name string) (string, error) {
	if v := os.Getenv("KEYWARD_" + name); v != "" {
		return v, nil
	}
	if f := os.Getenv("KEYWARD_" + name + "_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("KEYWARD_%s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

// databaseFlags adds the flags every command that opens the database takes.
func (c *Config) databaseFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", envOr("DATA", "./keyward-data"), "directory of the embedded SQLite database (env KEYWARD_DATA)")
	fs.StringVar(&c.DatabaseURL, "database", "", "PostgreSQL URL, postgres://… (env KEYWARD_DATABASE_URL); SQLite in --data when empty")
}

// serveFlags adds the flags of "keyward serve".
func (c *Config) serveFlags(fs *flag.FlagSet) {
	c.databaseFlags(fs)
	c.Outbound.flags(fs)
	fs.StringVar(&c.Addr, "addr", envOr("ADDR", "127.0.0.1:8080"), "address to serve HTTP on (env KEYWARD_ADDR)")
	fs.BoolVar(&c.Demo, "demo", envBool("DEMO", false), "seed a demo tenant on first start (env KEYWARD_DEMO=true)")
	fs.BoolVar(&c.MasterKeyLost, "master-key-lost", envBool("MASTER_KEY_LOST", false), "start although the master key that sealed this database's secrets is lost: API keys, merchant credentials and password sign-in keep working, everything sealed answers 503 until the key is back; see docs/operations.md (env KEYWARD_MASTER_KEY_LOST)")
	fs.BoolVar(&c.Migrate, "migrate", envBool("MIGRATE", true), "apply pending schema migrations on start; with --migrate=false, refuse to start on a database that needs \"keyward migrate\" (env KEYWARD_MIGRATE)")
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", envDuration("SHUTDOWN_DELAY", 0), "on SIGTERM, how long readiness fails before the listeners close, for load balancers to stop sending; 5s or more behind one (env KEYWARD_SHUTDOWN_DELAY)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", envDuration("SHUTDOWN_TIMEOUT", 30*time.Second), "how long in-flight requests and webhook deliveries may take to finish once the listeners close; those still running then are cut (env KEYWARD_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&c.DatabaseTimeout, "database-timeout", envDuration("DATABASE_TIMEOUT", 10*time.Second), "how long an admin API or back-office request may wait on the database before it is answered 503 unavailable (env KEYWARD_DATABASE_TIMEOUT)")
	fs.DurationVar(&c.Retention.Changes, "retain-changes", envDuration("RETAIN_CHANGES", 7*24*time.Hour), "how long the change log nodes follow keeps an entry; a node away longer loads its replica again; 0 keeps every entry (env KEYWARD_RETAIN_CHANGES)")
	fs.DurationVar(&c.Retention.UsageMinutes, "retain-usage-minutes", envDuration("RETAIN_USAGE_MINUTES", 48*time.Hour), "how long usage is kept per minute before it is rolled up into hours; 0 never rolls up (env KEYWARD_RETAIN_USAGE_MINUTES)")
	fs.DurationVar(&c.Retention.UsageHours, "retain-usage-hours", envDuration("RETAIN_USAGE_HOURS", 90*24*time.Hour), "how long usage is kept per hour before it is rolled up into days; 0 never rolls up (env KEYWARD_RETAIN_USAGE_HOURS)")
	fs.DurationVar(&c.Retention.UsageDays, "retain-usage-days", envDuration("RETAIN_USAGE_DAYS", 2*365*24*time.Hour), "how long daily usage is kept; 0 keeps it (env KEYWARD_RETAIN_USAGE_DAYS)")
	fs.DurationVar(&c.Retention.WebhookEvents, "retain-webhook-events", envDuration("RETAIN_WEBHOOK_EVENTS", 30*24*time.Hour), "how long a webhook event is kept, with its deliveries and their attempts, once none waits to be sent; 0 keeps them (env KEYWARD_RETAIN_WEBHOOK_EVENTS)")
	fs.DurationVar(&c.PruneInterval, "prune-interval", envDuration("PRUNE_INTERVAL", time.Hour), "how often retention is applied, in small batches (env KEYWARD_PRUNE_INTERVAL)")
	fs.DurationVar(&c.DatabaseWait, "database-wait", envDuration("DATABASE_WAIT", time.Minute), "how long to keep trying, with growing pauses, a database that does not answer at start (env KEYWARD_DATABASE_WAIT)")
	fs.StringVar(&c.Catalog, "catalog", envOr("CATALOG", ""), "YAML file describing the platform API; the built-in commerce catalog when empty (env KEYWARD_CATALOG)")
	fs.StringVar(&c.LicenceContact, "licence-contact", envOr("LICENCE_CONTACT", ""), "who tenants contact for a licence, shown in licence_required errors (env KEYWARD_LICENCE_CONTACT)")
	fs.DurationVar(&c.MaxStaleness, "max-staleness", envDuration("MAX_STALENESS", 60*time.Second), "how long the data plane answers from memory without hearing from the database (env KEYWARD_MAX_STALENESS)")
	fs.DurationVar(&c.SyncInterval, "sync-interval", envDuration("SYNC_INTERVAL", time.Second), "how often the replica polls the change log (env KEYWARD_SYNC_INTERVAL)")
	fs.StringVar(&c.Upstream, "upstream", envOr("UPSTREAM", ""), "URL of the platform's API; when set, the gateway proxies the catalog's methods to it (env KEYWARD_UPSTREAM)")
	fs.StringVar(&c.GatewayAddr, "gateway-addr", envOr("GATEWAY_ADDR", "127.0.0.1:8081"), "address the gateway serves on when --upstream is set (env KEYWARD_GATEWAY_ADDR)")
	fs.StringVar(&c.GatewayPublicURL, "gateway-public-url", envOr("GATEWAY_PUBLIC_URL", ""), "the address clients send API requests to, such as https://api.example.com, shown in the merchant portal's guide; the gateway's --gateway-addr when empty (env KEYWARD_GATEWAY_PUBLIC_URL)")
	fs.StringVar(&c.CredentialSources, "credential-sources", envOr("CREDENTIAL_SOURCES", "header,bearer,query"), "where the gateway reads API keys: header (X-API-Key), bearer (Authorization), query (apiKey) (env KEYWARD_CREDENTIAL_SOURCES)")
	fs.BoolVar(&c.PassUnknown, "pass-unknown", envBool("PASS_UNKNOWN", false), "forward requests matching no catalog method without checking a key (env KEYWARD_PASS_UNKNOWN=true)")
	fs.StringVar(&c.Redis, "redis", envOr("REDIS", ""), "Redis address (host:port or redis:// URL) to share rate limits between nodes (env KEYWARD_REDIS)")
	readTimeoutFlag(fs, &c.ReadTimeout)
	fs.StringVar(&c.MaxBodyText, "max-body", envOr("MAX_BODY", "8MiB"), "largest request body the gateway forwards, such as 8MiB, 8MB or 8388608; larger ones are answered 413 (env KEYWARD_MAX_BODY)")
	fs.StringVar(&c.TrustedProxiesText, "trusted-proxies", envOr("TRUSTED_PROXIES", ""), "CIDRs or addresses of reverse proxies whose X-Forwarded-For or Forwarded header names the client, comma-separated; none when empty (env KEYWARD_TRUSTED_PROXIES)")
	fs.StringVar(&c.PublicURL, "public-url", envOr("PUBLIC_URL", ""), "the address users type to reach keyward, such as https://keys.example.com; https makes cookies Secure and turns HSTS on behind a TLS-terminating proxy (env KEYWARD_PUBLIC_URL)")
	fs.StringVar(&c.TLSCert, "tls-cert", envOr("TLS_CERT", ""), "PEM certificate (chain) file to serve HTTPS with directly; needs --tls-key (env KEYWARD_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", envOr("TLS_KEY", ""), "PEM private key file of --tls-cert (env KEYWARD_TLS_KEY)")
	fs.DurationVar(&c.UsageFlush, "usage-flush", envDuration("USAGE_FLUSH", 10*time.Second), "how often usage counts are written to the database (env KEYWARD_USAGE_FLUSH)")
	fs.DurationVar(&c.AuditRetention, "audit-retention", envDuration("AUDIT_RETENTION", 0), "how long audit entries are kept, e.g. 8760h for a year; older ones are trimmed with a signed checkpoint recording what went, so the rest still verifies; 0 keeps every entry (env KEYWARD_AUDIT_RETENTION)")
	fs.DurationVar(&c.AuditCheckpoint, "audit-checkpoint", envDuration("AUDIT_CHECKPOINT", time.Hour), "how often each tenant's audit chain gets a checkpoint signed with the master key, and retention is applied (env KEYWARD_AUDIT_CHECKPOINT)")
	fs.DurationVar(&c.LifecycleInterval, "lifecycle-interval", envDuration("LIFECYCLE_INTERVAL", time.Hour), "how often key.expiring warnings and inactivity reports are sent and keys unused past their tenant's inactive_days disabled (env KEYWARD_LIFECYCLE_INTERVAL)")
	fs.StringVar(&c.LogLevel, "log-level", envOr("LOG_LEVEL", "info"), "debug, info, warn or error (env KEYWARD_LOG_LEVEL)")
	c.masterKeyFlag(fs)
	c.Observe.flags(fs)
	c.connectorProxyFlag(fs)
}

// finish reads the environment fallbacks that flags cannot hold and checks
// every setting, reporting all problems at once.
func (c *Config) finish() error {
	errs := append([]error(nil), badEnv...)
	if c.MaxStaleness < time.Second && c.Addr != "" {
		errs = append(errs, errors.New("--max-staleness must be at least 1s"))
	}
	if c.SyncInterval <= 0 && c.Addr != "" {
		errs = append(errs, errors.New("--sync-interval must be positive"))
	}
	if c.UsageFlush <= 0 && c.Addr != "" {
		errs = append(errs, errors.New("--usage-flush must be positive"))
	}
	if c.AuditRetention < 0 {
		errs = append(errs, errors.New("--audit-retention must not be negative (0 keeps every entry)"))
	} else if c.AuditRetention > 0 && c.AuditRetention < 24*time.Hour {
		errs = append(errs, errors.New("--audit-retention must be at least 24h, or 0 to keep every entry"))
	}
	if c.Addr != "" {
		r := c.Retention
		if r.Changes < 0 || r.UsageMinutes < 0 || r.UsageHours < 0 || r.UsageDays < 0 || r.WebhookEvents < 0 || c.PruneInterval <= 0 {
			errs = append(errs, errors.New("--retain-* must not be negative (0 keeps rows) and --prune-interval must be positive"))
		}
		if r.Changes > 0 && r.Changes < time.Hour {
			errs = append(errs, errors.New("--retain-changes must be at least 1h, or 0: nodes follow the change log"))
		}
	}
	if c.Addr != "" && c.DatabaseTimeout < 100*time.Millisecond {
		errs = append(errs, errors.New("--database-timeout must be at least 100ms"))
	}
	if c.Addr != "" && (c.ShutdownDelay < 0 || c.ShutdownTimeout <= 0) {
		errs = append(errs, errors.New("--shutdown-delay must not be negative and --shutdown-timeout must be positive"))
	}
	if c.AuditCheckpoint <= 0 && c.Addr != "" {
		errs = append(errs, errors.New("--audit-checkpoint must be positive"))
	}
	if c.LifecycleInterval <= 0 && c.Addr != "" {
		errs = append(errs, errors.New("--lifecycle-interval must be positive"))
	}
	if c.Addr != "" {
		if err := checkReadTimeout(c.ReadTimeout); err != nil {
			errs = append(errs, err)
		}
		n, err := parseSize(c.MaxBodyText)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--max-body %q: %v", c.MaxBodyText, err))
		case n < 1:
			errs = append(errs, fmt.Errorf("--max-body %q: must be at least 1 byte", c.MaxBodyText))
		}
		c.MaxBody = n
	}
	if c.Addr != "" {
		errs = append(errs, c.finishFront()...)
		errs = append(errs, c.Outbound.finish()...)
		errs = append(errs, c.Observe.finish()...)
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = os.Getenv("KEYWARD_DATABASE_URL")
	}
	if c.DatabaseURL != "" && !store.IsPostgresURL(c.DatabaseURL) {
		errs = append(errs, errors.New("--database must be a postgres:// URL"))
	}
	tok, err := secretEnv("OPERATOR_TOKEN")
	if err != nil {
		errs = append(errs, err)
	}
	c.OperatorToken = tok
	if c.IdentityKey, err = secretEnv("IDENTITY_KEY"); err != nil {
		errs = append(errs, err)
	} else if c.IdentityKey != "" && len(c.IdentityKey) < identity.MinKey {
		errs = append(errs, fmt.Errorf("KEYWARD_IDENTITY_KEY must be at least %d characters; generate one with `openssl rand -hex 32`", identity.MinKey))
	}
	if err := c.finishMasterKey(); err != nil {
		errs = append(errs, err)
	}
	if c.MasterKeyLost && c.Keyring != nil {
		errs = append(errs, errors.New("--master-key-lost starts without a master key: unset KEYWARD_MASTER_KEY, KEYWARD_MASTER_KEY_FILE and --master-key-file"))
	}
	for _, src := range splitList(c.CredentialSources) {
		if src != "header" && src != "bearer" && src != "query" {
			errs = append(errs, fmt.Errorf("--credential-sources: unknown source %q; use header, bearer or query", src))
		}
	}
	if tok != "" && len(tok) < 32 {
		errs = append(errs, errors.New("KEYWARD_OPERATOR_TOKEN must be at least 32 characters"))
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel))
	}
	if c.Catalog != "" {
		if _, err := os.Stat(c.Catalog); err != nil {
			errs = append(errs, fmt.Errorf("--catalog: %w", err))
		}
	}
	return errors.Join(errs...)
}

// finishFront reads and checks --trusted-proxies, --public-url, --tls-cert
// and --tls-key.
func (c *Config) finishFront() []error {
	var errs []error
	ps, err := httpx.ParseProxies(c.TrustedProxiesText)
	if err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %v", err))
	}
	c.TrustedProxies = ps
	if u, err := checkPublicURL("--public-url", c.PublicURL); err != nil {
		errs = append(errs, err)
	} else {
		c.PublicURL = u
	}
	if u, err := checkPublicURL("--gateway-public-url", c.GatewayPublicURL); err != nil {
		errs = append(errs, err)
	} else {
		c.GatewayPublicURL = u
	}
	switch {
	case c.TLSCert == "" && c.TLSKey == "":
	case c.TLSCert == "" || c.TLSKey == "":
		errs = append(errs, errors.New("--tls-cert and --tls-key go together: give both or neither"))
	default:
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("--tls-cert/--tls-key: %v", err))
		} else {
			c.Certificate = &cert
		}
	}
	return errs
}

// checkPublicURL checks an address people type, given as flag, and
// returns it without a trailing slash; "" stays "".
func checkPublicURL(flag, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s %q: use an http:// or https:// address such as https://keys.example.com, without a query", flag, s)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// linkBase is the address links keyward prints or builds point at:
// publicURL when set, or else the address serve listens on, an
// unspecified host (":8080", "0.0.0.0:8080") read as this machine.
func linkBase(publicURL string, https bool, addr string) string {
	if publicURL != "" {
		return publicURL
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			addr = net.JoinHostPort("localhost", port)
		}
	}
	return scheme + "://" + addr
}

// HTTPS reports whether users reach keyward over HTTPS: it serves TLS
// itself, or its public address is https.
func (c *Config) HTTPS() bool {
	return c.Certificate != nil || strings.HasPrefix(c.PublicURL, "https://")
}
