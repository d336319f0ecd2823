package ladder_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/traffic/ladder"
	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

func report(t *testing.T, spec tracetest.Spec) *trace.Report {
	t.Helper()
	c, err := tracetest.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := trace.VerifyReader(context.Background(), &buf, "synthetic", nil, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wellFormed parses an SVG or HTML document as XML to the end.
func wellFormed(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	for {
		if _, err := d.Token(); err == io.EOF {
			return
		} else if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
	}
}

func TestLadderDrawsEveryStep(t *testing.T) {
	r := report(t, tracetest.Spec{})
	id := ladder.CallIDs(r)[0]
	d, err := ladder.FromCall(r, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Lanes) != 9 {
		t.Errorf("lanes %v, want the nine docs/FLOW.md roles", d.Lanes)
	}
	// 28 setup messages, the media summary (29) and 18 teardown messages.
	if len(d.Arrows) != 28+1+18 {
		t.Fatalf("%d arrows, want 47", len(d.Arrows))
	}
	svg := d.SVG()
	wellFormed(t, svg)
	for _, want := range []string{">1 INVITE<", ">15 RPT Gate-Set-Ack<", ">29 RTP ", ">18 UsageConfirmation (200)<", "FIG. 5 setup", "FIG. 6 teardown"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	m := d.Mermaid()
	for _, want := range []string{"sequenceDiagram", "UAC->>SIP1: 1 INVITE", "R2->>POL2: 15 RPT Gate-Set-Ack", "POL1->>CH: 8 UsageIndication"} {
		if !strings.Contains(m, want) {
			t.Errorf("Mermaid lacks %q:\n%s", want, m)
		}
	}
	page := ladder.HTML("qoslab", []ladder.Diagram{d})
	wellFormed(t, page)
	if os.Getenv("QOSLAB_LADDER_OUT") != "" {
		os.WriteFile(os.Getenv("QOSLAB_LADDER_OUT"), svg, 0o644)
	}
}

func TestLadderMarksFailedSteps(t *testing.T) {
	c, err := tracetest.Generate(tracetest.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SwapSteps("call-0@qoslab.test", "setup", 19, 20); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c.WritePcapng(&buf)
	r, err := trace.VerifyReader(context.Background(), &buf, "x", nil, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ladder.FromCall(r, "call-0@qoslab.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, a := range d.Arrows {
		if a.Failed {
			failed = append(failed, a.Label)
		}
	}
	if len(failed) == 0 || !strings.Contains(strings.Join(failed, ","), "20 RPT Gate-Set-Ack") {
		t.Fatalf("failed arrows %v, want step 20", failed)
	}
	if !strings.Contains(d.Mermaid(), "(FAILED)") {
		t.Error("Mermaid does not mark the failed step")
	}
}

func TestLadderUnknownCall(t *testing.T) {
	r := report(t, tracetest.Spec{})
	if _, err := ladder.FromCall(r, "nope", nil); err == nil {
		t.Fatal("no error for an unknown call")
	}
}

func TestTopologyDOT(t *testing.T) {
	dot := ladder.TopologyDOT(trace.DefaultTopology())
	for _, want := range []string{"graph qoslab {", `"r1" -- "r2" [label="r1-r2", style=bold`, `"uac" [label="uac\nUAC"]`, `"ch" [label="ch\nCH"]`} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %q:\n%s", want, dot)
		}
	}
}
