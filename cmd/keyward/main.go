// Command keyward runs the keyward API access platform: the admin REST API,
// the verify endpoint and gateway, and the CLI over the same service layer.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/auditchain"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/quota"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/usage"
	"github.com/keyward/keyward/internal/web"
	"github.com/keyward/keyward/internal/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ignoreHangUp()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "keyward:", errorText(err))
		}
		os.Exit(exitStatus(err))
	}
}

var errUsage = errors.New("usage")

// errorText is the sentence a person reads for err.
func errorText(err error) string {
	var e *keyward.Error
	if errors.As(err, &e) {
		if e.Field != "" && e.Code == keyward.EInvalid {
			return e.Message
		}
		return string(e.Code) + ": " + e.Message
	}
	return err.Error()
}

const usageText = `keyward: self-hosted API access platform

Usage:
  keyward version
  keyward serve [--addr 127.0.0.1:8080] [--data DIR | --database URL] [--demo] [--master-key-file F]
  keyward migrate [status] [--dry-run] [--data DIR | --database URL]
  keyward backup --out FILE [--data DIR]
  keyward restore --from FILE [--data DIR]
  keyward demo-api [--addr 127.0.0.1:9090] [--read-timeout 30s]
  keyward tenant create --domain D [--name N]
  keyward store create --tenant D --code C [--name N]
  keyward licence grant --tenant D [--max-keys N] [--rate-limit N] [--expires RFC3339]
  keyward licence revoke --tenant D
  keyward profile create --tenant D --name N [--features f1,f2]
  keyward profile grant --tenant D --profile P --features f1,f2
  keyward user create --tenant D --email E --profile P [--name N]
  keyward token create --tenant D --user E [--name N]
  keyward user reset-password --tenant D --email E
  keyward tenant admin --tenant D --email E [--name N] [--public-url URL | --addr HOST:PORT]
  keyward operator rotate-token
  keyward secrets rotate [--data DIR | --database URL] [--batch N]   (KEYWARD_MASTER_KEY=new:<key>,old:<key>)
  keyward identity keys [--json]   (the keys signing identity headers; --json prints their secrets)
  keyward identity rotate|activate|retire
  keyward audit verify [--tenant D] [--witness FILE]
  keyward audit export [--tenant D] [--from T] [--to T] [--out FILE]   (JSON lines)
  keyward audit checkpoint [--retention 8760h]
  keyward user reset-totp --tenant D --email E
  keyward tenant reset-admin-totp --tenant D --email E
  keyward keys create --tenant D --name N [--description T] [--permissions orders=write,payments=read]
                      [--stores all|code,…] [--methods id|Block,…] [--expires RFC3339] [--disabled]
                      [--rate-limit N] [--quota N/day|N/month|N/total] [--allowed-addresses 203.0.113.7,198.51.100.0/24]
  keyward keys update --tenant D --id K [--name N] [--description T] [--rate-limit N] [--quota N/day|N/month|N/total|none]
                      [--allowed-addresses 203.0.113.7,198.51.100.0/24|any]
  keyward keys list --tenant D [--enabled true|false] [--access all|selected] [--store C]
  keyward keys get|enable|disable|delete --tenant D --id K
  keyward keys roll --tenant D --id K [--slot 1|2] [--grace 24h]
  keyward keys policy --tenant D [--max-lifetime-days N] [--inactive-days N]
  keyward connections types
  keyward connections list --tenant D [--type T] [--state verified|unverified|failed] [--store C]
  keyward connections create --tenant D --type T --name N [--api-url URL] [--field name=value …]
                             [--secrets-file F|-] [--stores all|code,…] [--required-scopes s,…] [--save-unverified]
  keyward connections update --tenant D --id ID [--name N] [--field name=value …] [--secrets-file F|-] [--enable|--disabled]
  keyward connections verify|delete --tenant D --id ID
  keyward connections reveal --tenant D --id ID [--field access_token]   (audited)
  keyward webhooks list|event-types --tenant D
  keyward webhooks create --tenant D --url URL --events key.*,job.created [--stores all|code,…] [--description T] [--disabled]
  keyward webhooks update --tenant D --id ID [--url URL] [--events …] [--stores …] [--description T] [--disabled=false]
  keyward webhooks get|delete|test --tenant D --id ID
  keyward webhooks roll --tenant D --id ID [--overlap 24h]
  keyward webhooks log --tenant D --id ID [--status pending|succeeded|failed]
  keyward webhooks replay --tenant D --id ID (--delivery DLV | --since RFC3339)
  keyward integrator list --tenant D
  keyward integrator create --tenant D --name N --permissions orders=write,… [--callback URL]
  keyward integrator roll|delete --tenant D --id ID
  keyward key-request open --tenant D --link URL
  keyward key-request list --tenant D [--status pending|approved|declined|expired]
  keyward key-request approve --tenant D --id ID [--permissions …] [--stores …] [--methods …] [--expires RFC3339]
  keyward key-request decline --tenant D --id ID
  keyward handover create --tenant D --kind key_secret|merchant_auth_key|webhook_secret --subject ID
                          [--secret-file F|-] [--ttl 24h] [--require-code] [--note T] [--public-url URL]
  keyward handover list --tenant D [--subject ID] [--state waiting|opened|expired|burned]
  keyward leak-policy get|set --tenant D [--on-leak disable|notify]
  keyward scan [--json] [--history=false] [--staged] [PATH …]   (status 1: secrets found)
  keyward verify --key SECRET (--method ID | --request "GET /api/v5/orders/statuses") [--store C] [--url URL]

Every command takes --data DIR or --database postgres://… (env KEYWARD_DATABASE_URL).
Secrets kept at rest are sealed with the master key, KEYWARD_MASTER_KEY (or _FILE):
32 bytes as hex or base64, or a keyring id1:key,id2:key whose first key seals.
Without one, commands use the key "serve --demo" generated into --data, if there is one.
Run "keyward COMMAND -h" for a command's flags.
`

// run runs one command. Help asked for at any level (-h, --help, "help")
// is printed to stdout and is not an error; a command given wrongly is.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if ue := (*usageError)(nil); errors.As(err, &ue) {
		fmt.Fprintf(stderr, "keyward: %s\n\n%s", ue.msg, ue.usage)
		return err
	}
	if errors.Is(err, errUsage) && slices.ContainsFunc(args, isHelpFlag) {
		// The flag set has printed the command's flags on -h.
		return nil
	}
	return err
}

// isHelpFlag reports whether arg is one of the flags asking for help.
func isHelpFlag(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

func isHelp(arg string) bool { return arg == "help" || isHelpFlag(arg) }

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) > 1 && !isHelp(args[1]) {
			// "keyward help keys" is "keyward keys -h".
			return dispatch(ctx, append(slices.Clone(args[1:]), "-h"), stdout, stderr)
		}
		fmt.Fprint(stdout, usageText)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] == "version" || args[0] == "--version" || args[0] == "-version" {
		bi, _ := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, versionText(bi))
		return nil
	}
	if u := groupUsage(args[0]); u != "" && (len(args) == 1 || isHelp(args[1])) {
		// A group of commands without one of them: say which there are.
		fmt.Fprint(stdout, u)
		if len(args) == 1 {
			return errUsage
		}
		return nil
	}
	if err := checkCommand(args); err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		m := NewMain(stdout)
		if err := m.Parse(args[1:]); err != nil {
			return err
		}
		stopProfile, err := startCPUProfile()
		if err != nil {
			return err
		}
		defer stopProfile()
		if err := m.Open(ctx); err != nil {
			return err
		}
		defer m.Close()
		return m.Serve(ctx)
	case "migrate":
		return cliMigrate(ctx, args[1:], stdout)
	case "backup":
		return cliBackup(ctx, args[1:], stdout)
	case "restore":
		return cliRestore(ctx, args[1:], stdout)
	case "demo-api":
		return runDemoAPI(ctx, args[1:], stdout)
	case "scan":
		return cliScan(ctx, args[1:], stdout, stderr)
	}
	return runCLI(ctx, args, stdout, stderr)
}

// groupUsage returns the usage lines of the commands under name, such
// as "keys create" and "keys list" for "keys", or "" when name is not a
// group of commands.
func groupUsage(name string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(usageText, "\n") {
		rest, ok := strings.CutPrefix(line, "  keyward "+name+" ")
		switch {
		case ok && rest != "" && rest[0] >= 'a' && rest[0] <= 'z':
			in = true
		case in && strings.HasPrefix(line, "      "):
			// a continuation of the command above
		default:
			in = false
			continue
		}
		b.WriteString(line + "\n")
	}
	if b.Len() == 0 {
		return ""
	}
	return "Usage:\n" + b.String() + "\nRun \"keyward " + name + " COMMAND -h\" for a command's flags.\n"
}

// version and commit name a release build. They are set at link time,
// which works with -buildvcs=false too:
//
//	go build -ldflags "-X main.version=v0.9.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/keyward
var version, commit string

// buildOf reads bi for the version and commit this binary was built from:
// those set at link time, or else what the Go toolchain recorded.
func buildOf(bi *debug.BuildInfo) (v, rev, when string, modified bool) {
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	rev = commit
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = cmp.Or(rev, s.Value)
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return cmp.Or(version, bi.Main.Version, "(devel)"), rev, when, modified
}

// buildVersion returns this binary's version and commit, for metrics.
func buildVersion() (v, rev string) {
	bi, _ := debug.ReadBuildInfo()
	v, rev, _, _ = buildOf(bi)
	return v, cmp.Or(rev, "unknown")
}

// versionText names the build: its version and, when known, the commit
// and whether the checkout had uncommitted changes.
func versionText(bi *debug.BuildInfo) string {
	v, rev, when, modified := buildOf(bi)
	out := "keyward " + v
	if rev != "" {
		out += " commit " + rev
		if modified {
			out += " (modified)"
		}
		if when != "" {
			out += " of " + when
		}
	}
	if bi != nil && bi.GoVersion != "" {
		out += " " + bi.GoVersion
	}
	return out
}

// Main is a running keyward node: configuration, database, HTTP server.
// End-to-end tests use it with Addr "127.0.0.1:0".
type Main struct {
	Config  Config
	DB      *store.DB
	Service *service.Service
	Catalog *catalog.Catalog
	Replica *replica.Replica
	Usage   *usage.Recorder
	// Dispatcher sends webhook deliveries; nil when --webhook-dispatch=false.
	Dispatcher *webhook.Dispatcher
	// Limiter holds the rate limits the gateway and /v1/verify share.
	Limiter  *ratelimit.Limiter
	Listener net.Listener
	Out      io.Writer
	// Logs receives the JSON log lines; standard error when nil.
	Logs io.Writer
	// ConnectorProxyListener is the outbound proxy's, when it is on.
	ConnectorProxyListener net.Listener
	// Quota counts requests under the keys' quotas for the gateway,
	// forward-auth and /v1/verify.
	Quota *quota.Counter
	redis *redis.Client // with --redis; shared by the limiter and Quota

	server          *http.Server
	gatewayServer   *http.Server
	gatewayListener net.Listener
	demoServer      *http.Server
	obs             observe
	stop            context.CancelFunc
	// draining is set when shutdown begins: readiness fails from then on.
	draining atomic.Bool
	// stopDispatch tells the webhook dispatcher to drain; nil without one.
	stopDispatch context.CancelFunc
	// release frees the data folder's lock (SQLite) on Close.
	release    func()
	background sync.WaitGroup
}

// NewMain returns a Main printing to out.
func NewMain(out io.Writer) *Main { return &Main{Out: out} }

// Parse reads the serve flags and environment.
func (m *Main) Parse(args []string) error {
	fs := newFlagSet("serve", m.Out)
	m.Config.serveFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return m.Config.finish()
}

// demoMasterKeyFile is where a demo node keeps the master key it
// generates, inside the data folder.
const demoMasterKeyFile = "master.key"

// demoMasterKey reads the master key a demo node generated on an earlier
// start, or generates one into the data folder (mode 0600) with a warning:
// a key kept beside the data protects nothing if both are copied.
func (m *Main) demoMasterKey() (*seal.Keyring, error) {
	path := filepath.Join(m.Config.DataDir, demoMasterKeyFile)
	kr, err := readDemoKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("demo master key: %w", err)
		}
		key := seal.GenerateKey()
		if _, err := f.Write([]byte(key + "\n")); err != nil {
			f.Close()
			return nil, fmt.Errorf("demo master key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("demo master key: %w", err)
		}
		fmt.Fprintf(m.Out, "WARNING: no master key set; generated one into %s for this demo. "+
			"Outside a demo, set KEYWARD_MASTER_KEY or KEYWARD_MASTER_KEY_FILE and keep the key away from the data; "+
			"losing it loses every sealed secret.\n", path)
		return seal.ParseKeyring(key)
	}
	return kr, err
}

// readDemoKey reads the master key a demo node generated into path; the
// error wraps fs.ErrNotExist when there is none.
func readDemoKey(path string) (*seal.Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo master key: %w", err)
	}
	kr, err := seal.ParseKeyring(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("demo master key in %s: %v", path, err)
	}
	return kr, nil
}

// Open sets up logging, the database, the catalog and the service, the
// operator token and the demo tenant, and starts listening.
func (m *Main) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			// A node that did not start leaves the data folder to the next.
			m.releaseDataDir()
		}
	}()
	var level slog.Level
	level.UnmarshalText([]byte(m.Config.LogLevel))
	logs := m.Logs
	if logs == nil {
		logs = os.Stderr
	}
	slog.SetDefault(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})))

	cat := catalog.Builtin()
	if m.Config.Catalog != "" {
		c, err := catalog.LoadFile(m.Config.Catalog)
		if err != nil {
			return err
		}
		cat = c
	}
	m.Catalog = cat
	db, err := m.openDatabase(ctx)
	if err != nil {
		return err
	}
	m.DB = db
	keyring := m.Config.Keyring
	if keyring == nil && m.Config.Demo {
		if keyring, err = m.demoMasterKey(); err != nil {
			return err
		}
	}
	m.Replica = replica.New(db, cat, replica.WithMaxStaleness(m.Config.MaxStaleness))
	m.Service = service.New(db, cat,
		service.WithKeyring(keyring),
		service.WithAuditWitness(&auditchain.FileWitness{Path: filepath.Join(m.Config.DataDir, auditWitnessFile)}),
		service.WithOutbound(m.Config.Outbound.Config()),
		service.WithDispatchWake(func() {
			if m.Dispatcher != nil {
				m.Dispatcher.Wake()
			}
		}),
		service.WithDispatchStop(func(ctx context.Context, endpointID string) {
			if m.Dispatcher != nil {
				m.Dispatcher.Stop(ctx, endpointID)
			}
		}),
		service.WithLicenceContact(m.Config.LicenceContact),
		service.WithPublicURL(m.Config.PublicURL),
		service.WithChangeHook(func(ctx context.Context) {
			if err := m.Replica.Sync(ctx); err != nil {
				slog.Warn("replica sync after a change failed; the follower will retry", "err", err)
			}
		}))
	// A wrong master key fails here, before anything is served.
	err = m.Service.CheckSealing(ctx)
	if errors.Is(err, service.ErrNoMasterKey) && m.Config.MasterKeyLost {
		slog.Error("started without the master key (--master-key-lost): webhook signing, connector secrets, " +
			"second-factor sign-in, audit checkpoints and other sealed secrets are unavailable until it is set again")
		err = nil
	}
	if err != nil {
		demoKey := filepath.Join(m.Config.DataDir, demoMasterKeyFile)
		if _, statErr := os.Stat(demoKey); errors.Is(err, service.ErrNoMasterKey) && statErr == nil {
			return fmt.Errorf("%w (a demo start generated one into %s)", err, demoKey)
		}
		return err
	}
	if keyring == nil {
		slog.Warn("no master key set (KEYWARD_MASTER_KEY or KEYWARD_MASTER_KEY_FILE); webhook endpoints cannot be created until one is")
	}
	generated, err := m.Service.EnsureOperatorToken(ctx, m.Config.OperatorToken)
	if err != nil {
		return err
	}
	if generated != "" {
		fmt.Fprintf(m.Out, "Operator token (shown once; keep it safe): %s\n", generated)
	} else if m.Config.OperatorToken == "" {
		fmt.Fprintln(m.Out, "Operator token: set on an earlier start and not shown again; if it is lost, run \"keyward operator rotate-token\" with the same --data or --database.")
	}
	if m.Config.Demo {
		demo, err := m.Service.SeedDemo(ctx)
		if err != nil {
			return fmt.Errorf("seed demo tenant: %w", err)
		}
		if demo != nil {
			show, err := m.Service.SeedDemoShowcase(ctx)
			if err != nil {
				return fmt.Errorf("seed demo tenant: %w", err)
			}
			fmt.Fprintf(m.Out, "Demo tenant %q created. Shown once, keep them safe:\n  sign-in:  %s / %s\n  token:    %s\n"+
				"  merchant: %s / %s  (a Merchant Level 2 user of %s: sign in on the same page for the merchant portal and its API Settings)\n",
				demo.Domain, demo.Email, demo.Password, demo.Token, show.MerchantEmail, show.MerchantPassword, show.MerchantName)
		}
	}
	start := time.Now()
	if err := m.Replica.Load(ctx); err != nil {
		return fmt.Errorf("load replica: %w", err)
	}
	slog.Info("replica loaded", "secrets", m.Replica.Len(), "ms", time.Since(start).Milliseconds())
	// After the load, so that a rotation meanwhile is in the change log
	// the replica follows from here on.
	if err := m.openIdentity(ctx); err != nil {
		return err
	}
	m.Usage = usage.New(db, keyward.SystemClock)
	m.Replica.OnUse = m.Usage.Record
	m.Usage.OnFlush = m.usageFlushed
	fctx, stop := context.WithCancel(context.Background())
	m.stop = stop
	m.background.Add(2)
	go func() { defer m.background.Done(); m.Replica.Follow(fctx, m.Config.SyncInterval) }()
	go func() { defer m.background.Done(); m.Usage.Run(fctx, m.Config.UsageFlush) }()
	if err := m.startDispatcher(fctx); err != nil {
		return err
	}
	m.startAuditMaintenance(fctx)
	m.startLifecycle(fctx)
	m.startPruning(fctx)
	if m.Limiter, err = m.newLimiter(); err != nil {
		return err
	}
	m.startQuota(fctx)
	if err := m.openObserve(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if cert := m.Config.Certificate; cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	m.Listener = ln
	fmt.Fprintf(m.Out, "keyward listening on %s://%s (database: %s); back office at %s/signin\n", scheme, ln.Addr(), db.Engine(), m.PublicURL())
	if err := m.openConnectorProxy(fctx); err != nil {
		return err
	}
	if err := m.openGateway(); err != nil {
		return err
	}
	// After the gateway, whose address the back office shows.
	m.server = newServer(m.Handler(), m.Config.ReadTimeout)
	return nil
}

// newServer returns the HTTP server of one listener. A client has
// readTimeout to send each whole request, headers and body, and at most
// 10 s of it for the headers; once it passes, the request's reads fail and
// the connection is closed, so a body trickled a byte at a time holds
// neither a handler nor, on the gateway, an upstream connection for longer.
// The deadline covers reading the request only: net/http lifts it when the
// body has been read, and conn.hijackLocked clears a connection's deadlines
// when it is hijacked, so a connection the gateway upgrades for a catalog
// method marked upgradable is not cut by it.
//
// Idle keep-alive connections are closed after 2 minutes: longer than
// http.DefaultTransport, which the gateway's transport is cloned from,
// keeps them idle (90 s), so the gateway, not the demo upstream, closes an
// idle connection between the two.
func newServer(h http.Handler, readTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadTimeout:       readTimeout,
		ReadHeaderTimeout: min(10*time.Second, readTimeout),
		IdleTimeout:       2 * time.Minute,
	}
}

// Handler is the node's whole HTTP surface.
func (m *Main) Handler() http.Handler {
	mux := http.NewServeMux()
	admin := api.New(m.Service, m.ready)
	admin.Register(mux)
	mux.Handle("/v1/verify", httpx.Methods{"POST": &gateway.Verifier{Replica: m.Replica, Limiter: m.Limiter, Observer: m.obs.observer, Quota: m.Quota}})
	mux.Handle("/v1/events", httpx.Methods{"POST": m.eventsHandler()})
	mux.Handle("/v1/leaks", httpx.Methods{"POST": m.leakHandler()})
	web.New(m.Service, web.WithGatewayURL(m.GatewayURL())).Register(mux)
	mux.Handle("/", admin.Fallback())
	front := httpx.Front{TrustedProxies: m.Config.TrustedProxies, HTTPS: m.Config.HTTPS(), PublicURL: m.Config.PublicURL}
	var observe func(string, int, time.Duration)
	if reg := m.obs.metrics.Load(); reg != nil {
		observe = reg.Admin.Observe
	}
	return m.adminTracing(httpx.CommonObserved(httpx.WithDeadline(front.Wrap(mux), m.Config.DatabaseTimeout), observe))
}

// PublicURL is the address users reach keyward at, for links keyward
// prints or builds: --public-url, or else the listener's own address.
func (m *Main) PublicURL() string {
	addr := m.Config.Addr
	if m.Listener != nil {
		addr = m.Listener.Addr().String()
	}
	return linkBase(m.Config.PublicURL, m.Config.Certificate != nil, addr)
}

// GatewayURL is the address clients send API requests to:
// --gateway-public-url, or else the gateway's listener; "" when this node
// runs no gateway and none is set.
func (m *Main) GatewayURL() string {
	if m.Config.GatewayPublicURL != "" || m.gatewayListener == nil {
		return m.Config.GatewayPublicURL
	}
	return linkBase("", false, m.gatewayListener.Addr().String())
}

// Serve serves until ctx ends, then shuts down as shutdown describes.
func (m *Main) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- m.server.Serve(m.Listener) }()
	if m.gatewayServer != nil {
		go func() { errc <- m.gatewayServer.Serve(m.gatewayListener) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return m.shutdown()
}

// Close stops following the change log and releases the database.
func (m *Main) Close() error {
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	m.closeObserve(cctx)
	cancel()
	if m.stop != nil {
		m.stop()
		m.background.Wait()
	}
	var err error
	if m.DB != nil {
		err = m.DB.Close()
	}
	m.releaseDataDir()
	return err
}
