// Command mkdoc writes docs/FLOW.md from package flow (go generate ./flow).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/qoslab/qoslab/flow"
)

func main() {
	out := flag.String("o", "", "file to write (default: stdout)")
	flag.Parse()
	if *out == "" {
		os.Stdout.Write(flow.Markdown())
		return
	}
	if err := os.WriteFile(*out, flow.Markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "mkdoc:", err)
		os.Exit(1)
	}
}
