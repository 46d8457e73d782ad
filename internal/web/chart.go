package web

import (
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

// usageChart is a bar chart of requests per hour over the last week, drawn
// as inline SVG by the template, with the same numbers as a table for
// screen readers and for anyone who prefers one.
type usageChart struct {
	Width, Height int
	PlotLeft      int
	PlotRight     int
	PlotTop       int
	PlotBottom    int
	Bars          []usageBar
	Grid          []gridLine
	Days          []dayTick
	Total         int64
	Peak          keyward.UsageBucket
	Rows          []keyward.UsageBucket // the hours with requests, newest first
	From, To      time.Time
}

type usageBar struct {
	X, Y, W, H int
	Start      time.Time
	Requests   int64
}

type gridLine struct {
	Y     int
	Label string
}

type dayTick struct {
	X     int
	Label string
}

const (
	barWidth = 5
	barGap   = 1
)

// newUsageChart lays out the hours of the last service.UsageDays days
// ending with the hour of now.
func newUsageChart(hourly []keyward.UsageBucket, now time.Time) usageChart {
	hours := service.UsageDays * 24
	last := now.UTC().Truncate(time.Hour)
	first := last.Add(-time.Duration(hours-1) * time.Hour)
	counts := make([]int64, hours)
	c := usageChart{PlotLeft: 48, PlotTop: 12, From: first, To: last.Add(time.Hour)}
	for _, b := range hourly {
		i := int(b.Start.UTC().Sub(first) / time.Hour)
		if i < 0 || i >= hours {
			continue
		}
		counts[i] += b.Requests
	}
	var peak int64
	for i, n := range counts {
		c.Total += n
		if n > peak {
			peak = n
			c.Peak = keyward.UsageBucket{Start: first.Add(time.Duration(i) * time.Hour), Requests: n}
		}
	}
	for i := hours - 1; i >= 0; i-- {
		if counts[i] > 0 {
			c.Rows = append(c.Rows, keyward.UsageBucket{Start: first.Add(time.Duration(i) * time.Hour), Requests: counts[i]})
		}
	}
	plotH := 160
	c.PlotRight = c.PlotLeft + hours*(barWidth+barGap)
	c.PlotBottom = c.PlotTop + plotH
	c.Width, c.Height = c.PlotRight+8, c.PlotBottom+28
	top := niceCeil(peak)
	for _, v := range []int64{0, top / 2, top} {
		c.Grid = append(c.Grid, gridLine{Y: c.PlotBottom - int(v*int64(plotH)/top), Label: number(v)})
	}
	for i, n := range counts {
		start := first.Add(time.Duration(i) * time.Hour)
		x := c.PlotLeft + i*(barWidth+barGap)
		h := int(n * int64(plotH) / top)
		if n > 0 && h < 1 {
			h = 1
		}
		c.Bars = append(c.Bars, usageBar{X: x, Y: c.PlotBottom - h, W: barWidth, H: h, Start: start, Requests: n})
		if start.Hour() == 0 {
			c.Days = append(c.Days, dayTick{X: x, Label: start.Format("Mon 2 Jan")})
		}
	}
	return c
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 4, so
// the half-way grid line is a whole number).
func niceCeil(n int64) int64 {
	if n <= 4 {
		return 4
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}
