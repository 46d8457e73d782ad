package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/demoapi"
)

// runDemoAPI serves the built-in demo platform API until ctx ends. When
// KEYWARD_IDENTITY_KEY is set it answers only requests forwarded by the
// keyward gateway.
func runDemoAPI(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("demo-api", out)
	addr := fs.String("addr", "127.0.0.1:9090", "address to serve the demo platform API on")
	var readTimeout time.Duration
	readTimeoutFlag(fs, &readTimeout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run with -h for help", fs.Arg(0))
	}
	errs := append([]error(nil), badEnv...)
	if err := errors.Join(append(errs, checkReadTimeout(readTimeout))...); err != nil {
		return err
	}
	key, err := secretEnv("IDENTITY_KEY")
	if err != nil {
		return err
	}
	if key != "" && len(key) < identity.MinKey {
		return fmt.Errorf("KEYWARD_IDENTITY_KEY must be at least %d characters", identity.MinKey)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := newServer(demoapi.New(demoapi.Options{IdentityKey: []byte(key)}), readTimeout)
	fmt.Fprintf(out, "demo platform API listening on http://%s (stores main and online)\n", ln.Addr())
	if key != "" {
		fmt.Fprintln(out, "only requests forwarded by the keyward gateway are answered (KEYWARD_IDENTITY_KEY is set)")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
