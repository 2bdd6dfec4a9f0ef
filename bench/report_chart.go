package bench

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Chart layout, in SVG user units.
const (
	chartWidth  = 900
	panelHeight = 240
	panelGap    = 56
	headerH     = 64
	marginL     = 70
	marginR     = 20
)

// WriteSVG writes a self-contained SVG image of r: latency over time (p50,
// p99 and max per timeline window, log scale), throughput over time and
// the latency histogram. No external assets, scripts or fonts.
func WriteSVG(w io.Writer, r *Result) error {
	_, err := w.Write(chartSVG(r))
	return err
}

// WriteHTML writes a self-contained HTML page: the SVG chart inline and the
// text report.
func WriteHTML(w io.Writer, r *Result) error {
	var text bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kelson bench %s</title>
<style>body{font-family:sans-serif;margin:24px;color:#222}pre{background:#f6f6f6;padding:12px;overflow-x:auto}</style>
</head><body>
<h1>kelson bench %s</h1>
`, esc(r.Workload), esc(r.Workload))
	b.Write(chartSVG(r))
	fmt.Fprintf(&b, "\n<pre>%s</pre>\n</body></html>\n", esc(text.String()))
	_, err := w.Write(b.Bytes())
	return err
}

func esc(s string) string { return html.EscapeString(s) }

// chartSVG renders the three panels.
func chartSVG(r *Result) []byte {
	var b bytes.Buffer
	height := headerH + 3*(panelHeight+panelGap)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartWidth, height)
	title := fmt.Sprintf("kelson bench %s — %d %s in %.2fs, %.1f %s/s", r.Workload, r.Ops, r.Unit, r.Duration.Seconds(), r.Throughput, r.Unit)
	if r.Interrupted {
		title += " (interrupted)"
	}
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", marginL, esc(title))
	l := r.Latency
	eps := strings.Join(r.Endpoints, ",")
	if len(r.Endpoints) > 1 {
		eps = fmt.Sprintf("%s and %d more", r.Endpoints[0], len(r.Endpoints)-1)
	}
	fmt.Fprintf(&b, `<text x="%d" y="44">%s</text>`+"\n", marginL, esc(fmt.Sprintf(
		"latency p50 %s  p90 %s  p99 %s  p99.9 %s  max %s;  %d errors;  endpoints %s",
		fmtLatency(l.P50), fmtLatency(l.P90), fmtLatency(l.P99), fmtLatency(l.P999), fmtLatency(l.Max),
		r.Errors, eps)))
	y := headerH + panelGap - 20
	latencyPanel(&b, r, y)
	y += panelHeight + panelGap
	throughputPanel(&b, r, y)
	y += panelHeight + panelGap
	histogramPanel(&b, r, y)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// panel draws the frame and title of a panel at top y and returns its
// plotting area.
func panel(b *bytes.Buffer, y int, title string) (x0, y0, w, h float64) {
	x0, y0 = marginL, float64(y)
	w, h = chartWidth-marginL-marginR, panelHeight
	fmt.Fprintf(b, `<text x="%g" y="%g" font-weight="bold">%s</text>`+"\n", x0, y0-8, esc(title))
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`+"\n", x0, y0, w, h)
	return
}

// niceStep returns a step of 1, 2 or 5 times a power of ten that cuts span
// into about n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	s := fmt.Sprintf("%.6g", v)
	if strings.Contains(s, "e") {
		s = fmt.Sprintf("%.0f", v)
	}
	return s
}

// xTimeAxis draws time ticks along the bottom of a panel spanning span.
func xTimeAxis(b *bytes.Buffer, x0, y0, w, h float64, span time.Duration) {
	s := span.Seconds()
	step := niceStep(s, 8)
	for t := 0.0; t <= s+1e-9; t += step {
		x := x0 + w*t/s
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#ccc"/>`, x, y0, x, y0+h)
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%ss</text>`+"\n", x, y0+h+16, fmtTick(t))
	}
}

func latencyPanel(b *bytes.Buffer, r *Result, y int) {
	x0, y0, w, h := panel(b, y, "Latency over time (ms, log scale): p50, p99, max per window")
	if len(r.Timeline) == 0 || r.Duration <= 0 {
		noData(b, x0, y0, w, h)
		return
	}
	lo, hi := math.Inf(1), 0.0
	for _, win := range r.Timeline {
		if win.Ops > 0 {
			lo = min(lo, ms(win.P50))
			hi = max(hi, ms(win.Max))
		}
	}
	if hi <= 0 {
		noData(b, x0, y0, w, h)
		return
	}
	lo = max(lo, 1e-3)
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	yOf := func(v float64) float64 {
		v = max(v, math.Pow(10, dlo))
		return y0 + h - h*(math.Log10(v)-dlo)/(dhi-dlo)
	}
	for d := dlo; d <= dhi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > dhi+1e-9 {
				break
			}
			yy := yOf(v)
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
			}
			fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="%s"/>`, x0, yy, x0+w, yy, stroke)
			fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, yy+4, fmtTick(v))
		}
	}
	xTimeAxis(b, x0, y0, w, h, r.Duration)
	span := r.Duration.Seconds()
	xOf := func(win Window) float64 {
		t := (win.Start + win.Width/2).Seconds()
		return x0 + w*min(t, span)/span
	}
	series := []struct {
		name, color string
		width       float64
		get         func(Window) time.Duration
	}{
		{"max", "#d62728", 1, func(w Window) time.Duration { return w.Max }},
		{"p99", "#ff7f0e", 2, func(w Window) time.Duration { return w.P99 }},
		{"p50", "#1f77b4", 2, func(w Window) time.Duration { return w.P50 }},
	}
	for i, s := range series {
		var path strings.Builder
		pen := "M"
		for _, win := range r.Timeline {
			if win.Ops == 0 {
				pen = "M" // a gap: lift the pen
				continue
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", pen, xOf(win), yOf(ms(s.get(win))))
			pen = "L"
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="%g"/>`+"\n", strings.TrimSpace(path.String()), s.color, s.width)
		lx := x0 + w - 150 + float64(i)*50
		fmt.Fprintf(b, `<rect x="%g" y="%g" width="10" height="10" fill="%s"/><text x="%g" y="%g">%s</text>`+"\n",
			lx, y0+8, s.color, lx+14, y0+17, s.name)
	}
}

func throughputPanel(b *bytes.Buffer, r *Result, y int) {
	x0, y0, w, h := panel(b, y, fmt.Sprintf("Throughput over time (%s/s per window)", r.Unit))
	if len(r.Timeline) == 0 || r.Duration <= 0 {
		noData(b, x0, y0, w, h)
		return
	}
	top := 0.0
	for _, win := range r.Timeline {
		top = max(top, float64(win.Ops)/win.Width.Seconds())
	}
	if top <= 0 {
		noData(b, x0, y0, w, h)
		return
	}
	step := niceStep(top, 5)
	top = math.Ceil(top/step) * step
	for v := 0.0; v <= top+1e-9; v += step {
		yy := y0 + h - h*v/top
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#eee"/>`, x0, yy, x0+w, yy)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, yy+4, fmtTick(v))
	}
	xTimeAxis(b, x0, y0, w, h, r.Duration)
	span := r.Duration.Seconds()
	for _, win := range r.Timeline {
		rate := float64(win.Ops) / win.Width.Seconds()
		xa := x0 + w*min(win.Start.Seconds(), span)/span
		xb := x0 + w*min((win.Start+win.Width).Seconds(), span)/span
		bh := h * rate / top
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4c78a8"/>`, xa, y0+h-bh, max(xb-xa-0.5, 0.5), bh)
		if win.Errors > 0 {
			eh := h * float64(win.Errors) / win.Width.Seconds() / top
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d62728"/>`, xa, y0+h-bh-eh, max(xb-xa-0.5, 0.5), eh)
		}
	}
	b.WriteString("\n")
}

func histogramPanel(b *bytes.Buffer, r *Result, y int) {
	x0, y0, w, h := panel(b, y, "Latency histogram (count per bin, log-spaced bins, ms)")
	if r.Histogram == nil || r.Histogram.Count() == 0 {
		noData(b, x0, y0, w, h)
		return
	}
	bins := displayBins(r.Histogram, 40)
	var most int64
	for _, bin := range bins {
		most = max(most, bin.Count)
	}
	step := niceStep(float64(most), 5)
	top := math.Ceil(float64(most)/step) * step
	for v := 0.0; v <= top+1e-9; v += step {
		yy := y0 + h - h*v/top
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#eee"/>`, x0, yy, x0+w, yy)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, yy+4, fmtTick(v))
	}
	bw := w / float64(len(bins))
	for i, bin := range bins {
		bh := h * float64(bin.Count) / top
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4c78a8"><title>%s - %s: %d</title></rect>`,
			x0+float64(i)*bw, y0+h-bh, max(bw-1, 0.5), bh, fmtLatency(bin.Lo), fmtLatency(bin.Hi), bin.Count)
		if i%5 == 0 || i == len(bins)-1 {
			edge := bin.Lo
			x := x0 + float64(i)*bw
			if i == len(bins)-1 {
				edge, x = bin.Hi, x0+w
			}
			fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`, x, y0+h+16, fmtLatency(edge))
		}
	}
	// Percentile markers at their position on the bins' log scale.
	lo, hi := r.Histogram.Min(), r.Histogram.Max() // the origin and end of displayBins' scale
	if lo < time.Microsecond {
		lo = min(time.Microsecond, hi)
	}
	for i, m := range []struct {
		name string
		v    time.Duration
	}{{"p50", r.Latency.P50}, {"p99", r.Latency.P99}} {
		if hi <= lo || m.v <= 0 {
			continue
		}
		x := x0 + w*math.Log(float64(max(m.v, lo))/float64(lo))/math.Log(float64(hi)/float64(lo))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#d62728" stroke-dasharray="4 3"/>`, x, y0, x, y0+h)
		tx, anchor := x+4, "start"
		if x > x0+w-110 { // near the right edge: label on the left
			tx, anchor = x-4, "end"
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%g" fill="#d62728" text-anchor="%s">%s %s</text>`, tx, y0+14+16*float64(i), anchor, m.name, fmtLatency(m.v))
	}
	b.WriteString("\n")
}

func noData(b *bytes.Buffer, x0, y0, w, h float64) {
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" fill="#999">no data</text>`+"\n", x0+w/2, y0+h/2)
}
