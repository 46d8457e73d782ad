package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/usage"
)

// upstreamBody is the upstream's fixed answer: 208 bytes of JSON, as in
// the reference measurement.
var upstreamBody = []byte(`{"store":"main","orders":[{"id":"ord_1001","status":"paid","total":"59.90","currency":"EUR"},` +
	`{"id":"ord_1002","status":"shipped","total":"12.50","currency":"EUR"}],"page":1,"per_page":2,"total":2,"next":null}`)

var upstreamLength = strconv.Itoa(len(upstreamBody))

// upstream answers every request with upstreamBody and an explicit
// Content-Length.
func upstream(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", upstreamLength)
	w.Write(upstreamBody)
}

// tunedTransport is a clone of http.DefaultTransport keeping up to 1024
// idle connections per host, so 64 client connections never churn
// upstream connections.
func tunedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	return t
}

const copyBuf = 32 << 10

// pool lends ReverseProxy 32 KiB copy buffers from a sync.Pool. It pools
// array pointers so that Put does not allocate.
type pool struct{ p sync.Pool }

func (b *pool) Get() []byte {
	if a, ok := b.p.Get().(*[copyBuf]byte); ok {
		return a[:]
	}
	return new([copyBuf]byte)[:]
}

func (b *pool) Put(buf []byte) {
	if len(buf) == copyBuf {
		b.p.Put((*[copyBuf]byte)(buf))
	}
}

// bareProxy is the baseline B' of the reference measurement: a
// single-host httputil.ReverseProxy with a tuned Transport and pooled
// buffers, doing no authentication.
func bareProxy(up *url.URL) http.Handler {
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.Transport = tunedTransport()
	rp.BufferPool = &pool{}
	return rp
}

// server is one HTTP server on a loopback port.
type server struct {
	addr string
	srv  *http.Server
}

// serve starts h on 127.0.0.1 at a free port, with the timeouts keyward
// itself uses.
func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{addr: ln.Addr().String(), srv: &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("server stopped", "addr", s.addr, "err", err)
		}
	}()
	return s, nil
}

func (s *server) Close() { s.srv.Close() }

// env is a keyward node in this process: a SQLite database with the demo
// tenant and one key, the replica following the change log, usage
// recording, and the data-plane handlers.
type env struct {
	db      *store.DB
	svc     *service.Service
	rep     *replica.Replica
	usage   *usage.Recorder
	key     *keyward.Key
	secret  string
	stop    context.CancelFunc
	stopped sync.WaitGroup
}

// benchKey is the key the load uses: it may list orders of the store main.
var benchKey = keyward.KeyCreate{
	Name: "bench", Description: "keyward-bench load key",
	Permissions: keyward.Permissions{"orders": keyward.LevelRead},
	Stores:      keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}},
}

// newEnv opens the database in dir, seeds the demo tenant (which holds a
// licence) and the bench key, and loads the replica, wired as cmd/keyward
// wires it: a change hook syncing the replica, a follower polling the
// change log every second and usage counted on every allowed request.
func newEnv(ctx context.Context, dir string) (*env, error) {
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		return nil, err
	}
	cat := catalog.Builtin()
	e := &env{db: db}
	e.rep = replica.New(db, cat)
	e.svc = service.New(db, cat, service.WithChangeHook(func(ctx context.Context) {
		if err := e.rep.Sync(ctx); err != nil {
			slog.Warn("replica sync failed", "err", err)
		}
	}))
	if _, err := e.svc.SeedDemo(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("seed demo tenant: %w", err)
	}
	if err := e.rep.Load(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("load replica: %w", err)
	}
	ten, err := e.svc.TenantByDomain(ctx, service.DemoDomain)
	if err != nil {
		db.Close()
		return nil, err
	}
	actx := keyward.WithActor(ctx, service.SystemActor(ten, "keyward-bench"))
	e.key, err = e.svc.CreateKey(actx, benchKey)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create key: %w", err)
	}
	e.secret = e.key.Secrets[0].Secret
	e.usage = usage.New(db, keyward.SystemClock)
	e.rep.OnUse = e.usage.Record
	e.startBackground()
	return e, nil
}

// addKeys writes n more keys like the bench key straight to the store, as
// seeding does, and returns a secret of each.
func (e *env) addKeys(ctx context.Context, n int) ([]string, error) {
	plains := make([]string, 0, n)
	err := e.db.Write(ctx, func(q *store.Q) error {
		for i := range n {
			k := *e.key
			k.ID, k.Name, k.Secrets = keyward.NewID("key"), fmt.Sprintf("bench%05d", i), nil
			plain := secret.Generate(secret.KindAPIKey)
			d := secret.Digest(plain)
			k.Secrets = []keyward.KeySecret{{ID: keyward.NewID("sec"), KeyID: k.ID, Slot: 1, Hint: secret.Hint(plain), Digest: d[:], CreatedAt: k.CreatedAt}}
			if err := q.InsertKey(ctx, &k); err != nil {
				return err
			}
			plains = append(plains, plain)
		}
		return nil
	})
	return plains, err
}

// startBackground starts the change-log follower and the usage writer.
func (e *env) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	e.stopped.Add(2)
	go func() { defer e.stopped.Done(); e.rep.Follow(ctx, time.Second) }()
	go func() { defer e.stopped.Done(); e.usage.Run(ctx, 10*time.Second) }()
}

// stopBackground stops the follower and the usage writer, flushing usage.
func (e *env) stopBackground() error {
	e.stop()
	e.stopped.Wait()
	return e.usage.Flush(context.Background())
}

// Close stops the background work and closes the database.
func (e *env) Close() {
	e.stop()
	e.stopped.Wait()
	e.db.Close()
}

// proxy returns the keyward gateway in front of up, with the same tuned
// Transport as the bare proxy and no rate limiter.
func (e *env) proxy(up *url.URL) (http.Handler, error) {
	key := make([]byte, 32)
	rand.Read(key)
	return gateway.NewProxy(gateway.ProxyConfig{
		Upstream: up, Replica: e.rep, IdentityKey: key, Transport: tunedTransport(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

// verifyHandler serves POST /v1/verify as cmd/keyward does: in a mux,
// behind httpx.Common.
func (e *env) verifyHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/verify", &gateway.Verifier{Replica: e.rep})
	return httpx.Common(mux)
}

// bareJSONHandler is the baseline for /v1/verify: the same mux and
// middleware, the same strict decoding of the request and encoding of an
// answer of the same shape and bytes, but no catalog or replica work: the
// answer is the one computed for the bench key in advance.
func (e *env) bareJSONHandler(method, storeName string) (http.Handler, error) {
	m, ok := e.rep.Catalog().Method(method)
	if !ok {
		return nil, fmt.Errorf("no catalog method %s", method)
	}
	res := e.rep.Verify(e.secret, m, storeName)
	if !res.Allowed() {
		return nil, fmt.Errorf("bench key refused for %s on %s: %s", method, storeName, res.Code)
	}
	answer := gateway.Response(&res, m)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/verify", func(w http.ResponseWriter, r *http.Request) {
		var in gateway.VerifyRequest
		if err := httpx.Decode(w, r, &in); err != nil {
			httpx.Error(w, r, err)
			return
		}
		if in.Key == "" {
			httpx.Error(w, r, keyward.Invalid("key", "key is required"))
			return
		}
		httpx.JSON(w, http.StatusOK, answer)
	})
	return httpx.Common(mux), nil
}
