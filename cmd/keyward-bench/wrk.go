package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run printed.
type wrkResult struct {
	requests int64
	elapsed  time.Duration
	rps      float64
	p50, p99 time.Duration
	// non2xx counts answers with a status outside 2xx and 3xx.
	non2xx int64
	// errors counts socket errors: connect, read, write and timeouts.
	errors int64
}

// wrkRun drives url with wrk, in a process of its own, for d over conns
// connections and threads threads, sending the given headers, and reads
// its report.
func wrkRun(ctx context.Context, bin, url string, threads, conns int, d time.Duration, headers []string) (*wrkResult, error) {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(secs) + "s", "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("wrk %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return nil, fmt.Errorf("wrk report: %w\n%s", err, out)
	}
	return r, nil
}

// parseWrk reads the report wrk --latency prints.
func parseWrk(s string) (*wrkResult, error) {
	r := &wrkResult{}
	var haveReq, haveRPS, haveP99 bool
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "50%":
			r.p50, _ = parseWrkDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			var err error
			if r.p99, err = parseWrkDuration(f[1]); err != nil {
				return nil, err
			}
			haveP99 = true
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("request count %q", f[0])
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return nil, err
			}
			r.requests, r.elapsed, haveReq = n, d, true
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return nil, fmt.Errorf("requests/sec %q", f[1])
			}
			r.rps, haveRPS = v, true
		case len(f) == 5 && f[0] == "Non-2xx":
			r.non2xx, _ = strconv.ParseInt(f[4], 10, 64)
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				r.errors += n
			}
		}
	}
	if !haveReq || !haveRPS || !haveP99 {
		return nil, fmt.Errorf("no request count, rate or 99th percentile in the report")
	}
	return r, nil
}

// parseWrkDuration reads wrk's durations: 812.00us, 1.23ms, 10.00s, 1.50m.
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				break
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("duration %q", s)
}
