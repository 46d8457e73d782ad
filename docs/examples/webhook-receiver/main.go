// Command webhook-receiver is a webhook endpoint to try keyward's webhooks
// on one machine: it verifies each delivery's Standard Webhooks signature
// with the endpoint's signing secret and prints one line per delivery,
// "<type> <webhook-id> verified", or "… refused: <why>" with a 401.
//
//	webhook-receiver -addr 127.0.0.1:8090 -secret whsec_… [-n 1] [-timeout 1m]
//
// With -n it stops after that many verified deliveries; it stops with an
// error when -timeout passes first.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	secret := flag.String("secret", os.Getenv("KEYWARD_WEBHOOK_SECRET"), "the endpoint's signing secret, whsec_…")
	n := flag.Int("n", 0, "stop after this many verified deliveries (0: never)")
	timeout := flag.Duration("timeout", time.Minute, "give up after this long (0: never)")
	flag.Parse()
	log.SetFlags(0)
	wh, err := standardwebhooks.NewWebhook(*secret)
	if err != nil {
		log.Fatalf("webhook-receiver: -secret: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("webhook-receiver: %v", err)
	}
	verified := make(chan struct{}, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		var event struct {
			Type string `json:"type"`
		}
		json.Unmarshal(body, &event)
		id := r.Header.Get("webhook-id")
		if err := wh.Verify(body, r.Header); err != nil {
			fmt.Printf("%s %s refused: %v\n", event.Type, id, err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Printf("%s %s verified\n", event.Type, id)
		verified <- struct{}{}
	})}
	go srv.Serve(ln)
	var deadline <-chan time.Time
	if *timeout > 0 {
		deadline = time.After(*timeout)
	}
	for got := 0; *n == 0 || got < *n; got++ {
		select {
		case <-verified:
		case <-deadline:
			log.Fatalf("webhook-receiver: %d of %d deliveries within %s", got, *n, *timeout)
		}
	}
	// Let the last answer reach keyward, so that it counts the delivery done.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
