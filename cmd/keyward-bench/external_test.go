package main

import (
	"os"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	const report = `Running 1s test @ http://127.0.0.1:18555/nonexist
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.31ms    3.36ms  36.80ms   92.66%
    Req/Sec     1.15k   259.12     1.45k    60.00%
  Latency Distribution
     50%  812.00us
     75%    2.48ms
     90%    4.79ms
     99%   19.27ms
  1145 requests in 1.00s, 581.45KB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 1140
Requests/sec:   1141.39
Transfer/sec:    579.61KB
`
	r, err := parseWrk(report)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{requests: 1145, elapsed: time.Second, rps: 1141.39, p50: 812 * time.Microsecond,
		p99: 19270 * time.Microsecond, non2xx: 1140, errors: 6}
	if *r != want {
		t.Errorf("parseWrk = %+v, want %+v", *r, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("a report without figures was read without error")
	}
}

func TestProcCPUCountsThisProcess(t *testing.T) {
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until getrusage has seen 100 ms more CPU; /proc/<pid>/stat,
	// counted in ticks, must have seen most of it too.
	x, ru := 0, processCPU()
	for processCPU() < ru+100*time.Millisecond {
		for i := range 100_000 {
			x += i
		}
	}
	after, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 70*time.Millisecond || d > 10*time.Second {
		t.Errorf("procCPU grew by %s while the process used 100 ms of CPU (%d)", d, x)
	}
}
