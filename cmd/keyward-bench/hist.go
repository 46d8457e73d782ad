package main

import (
	"math/bits"
	"time"
)

// The histogram is log-linear: values below 2·subBuckets nanoseconds have a
// bucket each, and every power-of-two range above is split into subBuckets
// equal buckets, so a recorded value is off by at most 1/subBuckets (1.6 %).
const (
	subBits    = 6
	subBuckets = 1 << subBits
	maxShift   = 64 - subBits - 1
	histSize   = 2*subBuckets + maxShift*subBuckets
)

// hist counts latencies in fixed buckets. Record does not allocate; a
// hist belongs to one goroutine, and hists are merged after a run.
type hist struct {
	counts [histSize]uint64
	n      uint64
	max    time.Duration
}

// bucket returns the index of the bucket holding v nanoseconds.
func bucket(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // v>>shift is in [subBuckets, 2·subBuckets)
	return 2*subBuckets + (shift-1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketValue returns the middle of bucket i, in nanoseconds.
func bucketValue(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	i -= 2 * subBuckets
	shift := i/subBuckets + 1
	low := uint64(i%subBuckets+subBuckets) << shift
	return low + (uint64(1)<<shift)/2
}

// Record adds one latency.
func (h *hist) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// Merge adds the counts of o.
func (h *hist) Merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Reset empties the histogram.
func (h *hist) Reset() { *h = hist{} }

// Count returns the number of values recorded.
func (h *hist) Count() uint64 { return h.n }

// Quantile returns the latency below which a fraction q of the values lie.
func (h *hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketValue(i)), h.max)
		}
	}
	return h.max
}
