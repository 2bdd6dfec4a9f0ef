package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ProgressBar draws progress on a terminal, one line per phase, redrawn in
// place ("\r" and erase-to-end-of-line). Give it a terminal only: on a file
// or pipe the redraws pile up. A phase's last state stays on screen when
// the next phase starts. Safe for concurrent use.
type ProgressBar struct {
	w io.Writer

	mu     sync.Mutex
	phase  string    // guarded by mu
	start  time.Time // when phase started
	base   int64     // done when phase started: the rate counts from here
	drawn  bool      // a line of the current phase is on screen
	finish bool
}

// NewProgressBar returns a bar that draws on w.
func NewProgressBar(w io.Writer) *ProgressBar { return &ProgressBar{w: w} }

// Update draws done of total units of phase.
func (p *ProgressBar) Update(phase string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finish {
		return
	}
	if phase != p.phase {
		if p.drawn {
			fmt.Fprint(p.w, "\n")
		}
		p.phase, p.start, p.base, p.drawn = phase, time.Now(), done, false
	}
	fmt.Fprint(p.w, "\r"+progressLine(phase, done, total, done-p.base, time.Since(p.start))+"\x1b[K")
	p.drawn = true
}

// Finish ends the last line; later updates are ignored.
func (p *ProgressBar) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\n")
	}
	p.finish, p.drawn = true, false
}

// progressLine renders one line: phase, bar, percentage, counts, the rate
// (of the units done in this phase, recent of them in elapsed) and the time
// left at that rate.
//
//	putting            [===========>                  ]  38%  3800/10000  1520/s  ETA 4s
func progressLine(phase string, done, total, recent int64, elapsed time.Duration) string {
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(recent) / s
	}
	eta := "-"
	switch {
	case done >= total:
		eta = elapsed.Round(100 * time.Millisecond).String()
		return fmt.Sprintf("%-18s [%s] %3.0f%%  %d/%d  %.0f/s  in %s", phase, bar, frac*100, done, total, rate, eta)
	case rate > 0:
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%-18s [%s] %3.0f%%  %d/%d  %.0f/s  ETA %s", phase, bar, frac*100, done, total, rate, eta)
}
