package main

import (
	"encoding/xml"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// drawPlots writes both SVGs, well-formed, with every curve named in the legend.
// BENCH_PLOT_DIR keeps them for a look.
func TestDrawPlots(t *testing.T) {
	dir := os.Getenv("BENCH_PLOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	b := &bench{cfg: config{n: 1000, rssN: 10000}}
	start := time.Now()
	for _, latency := range []time.Duration{20 * time.Millisecond, 150 * time.Millisecond} {
		var op, loop []time.Time
		for i := range 1000 {
			op = append(op, start.Add(time.Duration(i)*latency/10+time.Second))
			loop = append(loop, start.Add(time.Duration(i+1)*latency))
		}
		b.curves = append(b.curves,
			doneCurve("operator, "+latency.String(), latency, false, start, op),
			doneCurve("plain loop, "+latency.String(), latency, true, start, loop))
	}
	for i := range 120 {
		b.rssSamples = append(b.rssSamples, rssSample{at: float64(i), rss: 60 + float64(min(i, 60)), anon: 20 + float64(min(i, 60)), ready: min(10000, i*150)})
	}
	paths, err := b.drawPlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("wrote %v, want ready.svg and rss.svg", paths)
	}
	for i, want := range [][]string{
		{"operator, 20ms", "plain loop, 150ms", "webhooks done"},
		{"RSS", "anonymous", "all Ready", "MiB"},
	} {
		data, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(strings.NewReader(string(data)))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s is not well-formed XML: %v", paths[i], err)
			}
		}
		for _, w := range want {
			if !strings.Contains(string(data), w) {
				t.Errorf("%s does not say %q", paths[i], w)
			}
		}
	}
}
