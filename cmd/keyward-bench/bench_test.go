package main

import (
	"bufio"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h hist
	// 1 µs … 100 ms, uniformly: the q-quantile is about q·100 ms.
	for i := 1; i <= 100_000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := q * 100 * float64(time.Millisecond)
		got := float64(h.Quantile(q))
		if math.Abs(got-want)/want > 1.0/subBuckets {
			t.Errorf("q%.2f = %v, want %v within %.1f %%", q, time.Duration(got), time.Duration(want), 100.0/subBuckets)
		}
	}
	if h.Quantile(1) != 100*time.Millisecond {
		t.Errorf("max %v", h.Quantile(1))
	}
	for v := uint64(0); v < 1<<40; v = v*3/2 + 1 {
		i := bucket(v)
		if i < 0 || i >= histSize {
			t.Fatalf("bucket(%d) = %d out of range", v, i)
		}
		if mid := bucketValue(i); math.Abs(float64(mid)-float64(v)) > float64(v)/subBuckets+1 {
			t.Fatalf("value %d lands in bucket %d around %d", v, i, mid)
		}
	}
	if testing.AllocsPerRun(100, func() { h.Record(time.Millisecond) }) != 0 {
		t.Error("Record allocates")
	}
}

func TestUpstreamBody(t *testing.T) {
	if len(upstreamBody) != 208 {
		t.Fatalf("upstream body is %d bytes, want 208", len(upstreamBody))
	}
}

func TestClientReadsAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.WriteHeader(http.StatusTeapot)
			for range 3 {
				io.WriteString(w, strings.Repeat("x", 5000))
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		default:
			upstream(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := &client{conn: c, r: bufio.NewReader(c)}
	for _, tc := range []struct {
		path   string
		status int
	}{{"/orders", 200}, {"/chunked", 418}, {"/orders", 200}} {
		status, err := cl.do(getRequest(addr, tc.path, "X-API-Key", "k"))
		if err != nil || status != tc.status {
			t.Fatalf("%s: status %d, err %v; want %d", tc.path, status, err, tc.status)
		}
	}
	if status, err := cl.do(getRequest(addr, "/close")); status != 200 || err == nil {
		t.Fatalf("closing answer: status %d, err %v; want 200 and an error asking to reconnect", status, err)
	}
}

func TestRunStopsByItself(t *testing.T) {
	srv, err := serve(http.HandlerFunc(upstream))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tg := target{addr: srv.addr, request: getRequest(srv.addr, "/orders"), want: 200}
	res, err := run(tg, loadOpts{connections: 4, duration: time.Minute, maxRequests: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.requests != 500 || res.hist.Count() != 500 || res.wrong != 0 || res.errors != 0 {
		t.Fatalf("%d requests, %d recorded, %d wrong, %d errors; want 500 good", res.requests, res.hist.Count(), res.wrong, res.errors)
	}
	start := time.Now()
	res, err = run(tg, loadOpts{connections: 2, duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second || res.requests == 0 {
		t.Fatalf("a 200 ms run took %v for %d requests", el, res.requests)
	}
}

func TestFloodKeysAreRefusedShapes(t *testing.T) {
	keys, wellFormed := floodKeys(1000)
	if len(keys) != 1000 || wellFormed != 500 {
		t.Fatalf("%d keys, %d well formed", len(keys), wellFormed)
	}
}

func TestPolicyInputsAreShared(t *testing.T) {
	n := policyInputs(20_000)
	if n <= 40 || n >= 20_000 {
		t.Fatalf("%d distinct policy inputs among 20,000 keys; the mix should repeat some and vary others", n)
	}
}
