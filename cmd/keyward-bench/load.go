package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is one thing to load: an address and the exact request bytes
// sent on every request, with the status every answer should have.
type target struct {
	addr    string
	request []byte
	want    int
}

// getRequest builds a keep-alive GET with extra headers.
func getRequest(addr, pathQuery string, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", pathQuery, addr)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// postRequest builds a keep-alive POST with a JSON body.
func postRequest(addr, path, body string) []byte {
	return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		path, addr, len(body), body)
}

// loadOpts bounds one run.
type loadOpts struct {
	connections int
	duration    time.Duration
	maxRequests int64 // 0: bounded by duration only
}

// result is what one run measured.
type result struct {
	requests int64
	elapsed  time.Duration
	hist     hist
	wrong    int64 // answers with another status than the target's
	errors   int64 // connection or protocol errors
	cpu      time.Duration
}

// RPS returns requests per second.
func (r *result) RPS() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// run drives t with o.connections keep-alive connections, each served by
// its own goroutine sending one request at a time, until the duration has
// passed or the request budget is spent. Latencies go into per-goroutine
// histograms, merged at the end.
func run(t target, o loadOpts) (*result, error) {
	type worker struct {
		h      hist
		n      int64
		wrong  int64
		errors int64
		err    error
	}
	workers := make([]*worker, o.connections)
	conns := make([]net.Conn, o.connections)
	for i := range conns {
		c, err := net.Dial("tcp", t.addr)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, err
		}
		conns[i] = c
		workers[i] = &worker{}
	}
	var budget atomic.Int64
	budget.Store(o.maxRequests)
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(o.duration)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func(w *worker, c net.Conn) {
			defer wg.Done()
			defer func() { c.Close() }()
			cl := &client{conn: c, r: bufio.NewReaderSize(c, 16<<10)}
			for {
				if o.maxRequests > 0 && budget.Add(-1) < 0 {
					return
				}
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				status, err := cl.do(t.request)
				if err != nil {
					w.errors++
					c.Close()
					nc, derr := net.Dial("tcp", t.addr)
					if derr != nil {
						w.err = derr
						return
					}
					c = nc
					cl = &client{conn: c, r: bufio.NewReaderSize(c, 16<<10)}
					continue
				}
				w.h.Record(time.Since(t0))
				w.n++
				if status != t.want {
					w.wrong++
				}
			}
		}(workers[i], c)
	}
	wg.Wait()
	res := &result{elapsed: time.Since(start), cpu: processCPU() - cpu0}
	var errs []error
	for _, w := range workers {
		res.hist.Merge(&w.h)
		res.requests += w.n
		res.wrong += w.wrong
		res.errors += w.errors
		if w.err != nil {
			errs = append(errs, w.err)
		}
	}
	return res, errors.Join(errs...)
}

// client speaks just enough HTTP/1.1 for the benchmark: it writes a
// prepared request and reads the answer's status line, headers and body
// (by Content-Length or chunked), keeping the connection open.
type client struct {
	conn net.Conn
	r    *bufio.Reader
}

var errProtocol = errors.New("malformed HTTP answer")

func (c *client) do(req []byte) (int, error) {
	if _, err := c.conn.Write(req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, errProtocol
	}
	status, ok := parseDigits(line[9:12], 10)
	if !ok {
		return 0, errProtocol
	}
	length, chunked, closing := int64(-1), false, false
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, errProtocol
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			n, ok := parseDigits(value, 10)
			if !ok {
				return 0, errProtocol
			}
			length = int64(n)
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "connection"):
			closing = asciiEqualFold(value, "close")
		}
	}
	switch {
	case chunked:
		if err := c.skipChunked(); err != nil {
			return 0, err
		}
	case length >= 0:
		if _, err := c.r.Discard(int(length)); err != nil {
			return 0, err
		}
	default:
		return 0, errProtocol // a body delimited by closing the connection
	}
	if closing {
		return status, io.ErrUnexpectedEOF // reconnect before the next request
	}
	return status, nil
}

func (c *client) skipChunked() error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, ok := parseDigits(bytes.TrimSpace(line), 16)
		if !ok {
			return errProtocol
		}
		if n == 0 {
			for { // trailers, up to the empty line
				line, err := c.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := c.r.Discard(n + 2); err != nil {
			return err
		}
	}
}

// parseDigits reads a non-negative number in base 10 or 16.
func parseDigits(b []byte, base int) (int, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		var d int
		switch {
		case '0' <= c && c <= '9':
			d = int(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = int(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = int(c-'A') + 10
		default:
			return 0, false
		}
		n = n*base + d
	}
	return n, true
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
