package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/secret"
)

// floodKeys returns n random keys, alternately well formed (a fresh,
// unknown secret with a valid checksum) and malformed in one of several
// ways. Malformed keys are those secret.Parse rejects or reads as another
// kind of secret than an API key.
func floodKeys(n int) (keys []string, wellFormed int) {
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randText := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for i := range n {
		if i%2 == 0 {
			keys = append(keys, secret.Generate(secret.KindAPIKey))
			wellFormed++
			continue
		}
		var k string
		switch i / 2 % 5 {
		case 0: // right shape, wrong checksum
			k = "kwk_" + randText(secret.Length-4)
		case 1: // a secret of another kind
			k = secret.Generate(secret.KindPersonalToken)
		case 2: // too short
			k = "kwk_" + randText(12)
		case 3: // characters outside the alphabet
			k = "kwk_" + randText(20) + "-._~" + randText(secret.Length-28)
		default: // one character changed in a real secret
			b := []byte(secret.Generate(secret.KindAPIKey))
			b[10] = alphabet[(strings.IndexByte(alphabet, b[10])+1)%len(alphabet)]
			k = string(b)
		}
		if kind, err := secret.Parse(k); err == nil && kind == secret.KindAPIKey {
			panic("flood: a malformed key parsed as an API key")
		}
		keys = append(keys, k)
	}
	return keys, wellFormed
}

// floodResult is what one flood measured.
type floodResult struct {
	requests   int
	elapsed    time.Duration
	statuses   map[int]int
	errors     int
	statements int64
	reads      int64
	lookups    int64
}

// flood sends one request per key, each built by build, over conns
// keep-alive connections, counting the SQL statements this process ran
// and the replica lookups meanwhile.
func flood(addr string, keys []string, conns int, build func(key string) []byte, lookups func() int64) (*floodResult, error) {
	reqs := make([][]byte, len(keys))
	for i, k := range keys {
		reqs[i] = build(k)
	}
	var next atomic.Int64
	var mu sync.Mutex
	res := &floodResult{requests: len(keys), statuses: map[int]int{}}
	s0, r0, l0 := statements.Load(), reads.Load(), lookups()
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr error
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses := map[int]int{}
			errs := 0
			var cl *client
			for {
				i := next.Add(1) - 1
				if i >= int64(len(reqs)) {
					break
				}
				if cl == nil {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
					cl = &client{conn: c, r: bufio.NewReaderSize(c, 16<<10)}
				}
				status, err := cl.do(reqs[i])
				if err != nil {
					errs++
					cl.conn.Close()
					cl = nil
					if status == 0 {
						continue
					}
				}
				statuses[status]++
			}
			if cl != nil {
				cl.conn.Close()
			}
			mu.Lock()
			for s, n := range statuses {
				res.statuses[s] += n
			}
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.statements, res.reads, res.lookups = statements.Load()-s0, reads.Load()-r0, lookups()-l0
	return res, firstErr
}

// verifyBody is the /v1/verify body for a key.
func verifyBody(key string) string {
	b, _ := json.Marshal(gateway.VerifyRequest{Key: key, Method: "orders.list", Store: "main"})
	return string(b)
}

func (f *floodResult) statusText() string {
	var parts []string
	for _, s := range []int{200, 400, 401, 403, 404, 429, 500, 502, 503} {
		if n := f.statuses[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d×%s", s, thousands(int64(n))))
		}
	}
	for s, n := range f.statuses {
		switch s {
		case 200, 400, 401, 403, 404, 429, 500, 502, 503:
		default:
			parts = append(parts, fmt.Sprintf("%d×%s", s, thousands(int64(n))))
		}
	}
	if f.errors > 0 {
		parts = append(parts, fmt.Sprintf("errors×%d", f.errors))
	}
	return strings.Join(parts, " ")
}
