// Command monitoring reads the alerting rules (config/prometheus/rules.yaml, a Prometheus
// Operator PrometheusRule) and the Grafana dashboards (config/grafana/*.json) with Prometheus'
// own PromQL parser. It is a module of its own, so that the operator's go.mod does not carry
// Prometheus; its tests (`make test-monitoring`) run the rules' unit tests with promtool.
//
//	monitoring rules [FILE]     print the PrometheusRule's spec.groups as a Prometheus rules file
//	monitoring metrics [-root DIR]
//	                            parse every query of the rules and dashboards and print the
//	                            metric names they use, one per line (the e2e suite checks that
//	                            a scrape of the real manager exposes each of them)
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "monitoring:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: monitoring rules [FILE] | monitoring metrics [-root DIR]")
	}
	switch args[0] {
	case "rules":
		fs := flag.NewFlagSet("rules", flag.ContinueOnError)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		path := filepath.Join("..", "..", RulesFile)
		if fs.NArg() > 0 {
			path = fs.Arg(0)
		}
		out, err := PlainRulesFile(path)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	case "metrics":
		fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
		root := fs.String("root", filepath.Join("..", ".."), "the repository's root")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		queries, err := AllQueries(*root)
		if err != nil {
			return err
		}
		names, err := MetricNames(queries)
		if err != nil {
			return err
		}
		for _, n := range names {
			fmt.Println(n)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: want rules or metrics", args[0])
}
