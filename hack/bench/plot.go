package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/tableau-webhook-operator/tableau-webhook-operator/internal/localenv"
)

// curve is a count over time: how many webhooks were done (Ready, or created by the plain
// loop) a number of seconds after the start.
type curve struct {
	name    string
	latency time.Duration // the simulator's, which picks the colour
	dashed  bool          // the plain loop's
	points  plotter.XYs
}

// doneCurve turns the moments each item was done into a cumulative count from start.
func doneCurve(name string, latency time.Duration, dashed bool, start time.Time, done []time.Time) curve {
	slices.SortFunc(done, func(a, b time.Time) int { return a.Compare(b) })
	c := curve{name: name, latency: latency, dashed: dashed, points: make(plotter.XYs, 0, len(done)+1)}
	c.points = append(c.points, plotter.XY{X: 0, Y: 0})
	for i, t := range done {
		c.points = append(c.points, plotter.XY{X: t.Sub(start).Seconds(), Y: float64(i + 1)})
	}
	return c
}

// readyCurve is the Ready-over-time curve of the tracked webhooks.
func readyCurve(name string, latency time.Duration, start time.Time, tracker *localenv.WebhookTracker) curve {
	var done []time.Time
	for _, s := range tracker.Snapshot() {
		if s.Ready && !s.ReadyAt.IsZero() {
			done = append(done, s.ReadyAt)
		}
	}
	return doneCurve(name, latency, false, start, done)
}

// rssSample is the manager's memory at a moment of the large run.
type rssSample struct {
	at        float64 // seconds since the manager started
	rss, anon float64 // MiB
	ready     int
}

// Line colours, one per latency: the operator solid, the plain loop dashed.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// drawPlots writes ready.svg (Ready over time of the operator and the plain loop at each
// latency) and, after a large run, rss.svg (the manager's memory over that run) into dir.
func (b *bench) drawPlots(dir string) ([]string, error) {
	var written []string
	if len(b.curves) > 0 {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%d webhooks: Ready (operator), created (plain loop)", b.cfg.n)
		p.X.Label.Text = "seconds after the first create"
		p.Y.Label.Text = "webhooks done"
		p.Y.Min = 0
		// Bottom right: every curve starts at the origin and rises at least as steeply as
		// the slowest loop, which ends in the top right corner. The offset leaves room for a
		// viewer's font wider than the one the legend was measured with.
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.XOffs, p.Legend.YOffs = -vg.Points(48), vg.Points(6)
		p.Add(plotter.NewGrid())
		var latencies []time.Duration
		for _, c := range b.curves {
			if !slices.Contains(latencies, c.latency) {
				latencies = append(latencies, c.latency)
			}
		}
		for _, c := range b.curves {
			if err := addLine(p, c, palette[slices.Index(latencies, c.latency)%len(palette)]); err != nil {
				return written, err
			}
		}
		path := filepath.Join(dir, "ready.svg")
		if err := p.Save(9*vg.Inch, 5*vg.Inch, path); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	if len(b.rssSamples) > 1 {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Manager memory: %d webhooks from empty, then idle", b.cfg.rssN)
		p.X.Label.Text = "seconds after the manager started"
		p.Y.Label.Text = "MiB"
		p.Y.Min = 0
		// Bottom right, under the anonymous memory, which is most of the way up.
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.XOffs, p.Legend.YOffs = -vg.Points(48), vg.Points(6)
		p.Add(plotter.NewGrid())
		rss := make(plotter.XYs, len(b.rssSamples))
		anon := make(plotter.XYs, len(b.rssSamples))
		readyAt := make(plotter.XYs, 0, 2)
		for i, s := range b.rssSamples {
			rss[i] = plotter.XY{X: s.at, Y: s.rss}
			anon[i] = plotter.XY{X: s.at, Y: s.anon}
			if s.ready == b.cfg.rssN && len(readyAt) == 0 {
				// A vertical mark where the last one became Ready.
				readyAt = append(readyAt, plotter.XY{X: s.at, Y: 0}, plotter.XY{X: s.at, Y: s.rss})
			}
		}
		lines := []curve{{name: "RSS", points: rss}, {name: "anonymous (heap, stacks, runtime)", points: anon}}
		if len(readyAt) > 0 {
			lines = append(lines, curve{name: "all Ready", dashed: true, points: readyAt})
		}
		for i, c := range lines {
			if err := addLine(p, c, palette[i%len(palette)]); err != nil {
				return written, err
			}
		}
		path := filepath.Join(dir, "rss.svg")
		if err := p.Save(9*vg.Inch, 5*vg.Inch, path); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// addLine draws c on p in colour col, dashed if c says so, and names it in the legend.
func addLine(p *plot.Plot, c curve, col color.Color) error {
	l, err := plotter.NewLine(c.points)
	if err != nil {
		return err
	}
	l.Color = col
	l.Width = vg.Points(1.5)
	if c.dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(c.name, l)
	return nil
}
