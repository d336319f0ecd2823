package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/ladder"
	"github.com/qoslab/qoslab/traffic/trace"
)

// newLadderCmd is `qoslab ladder`: draw the calls of a capture as ladder
// diagrams like the patent's FIG. 5 and FIG. 6.
func newLadderCmd() *cobra.Command {
	var (
		callID, out, format, topoFile, dot, lab string
	)
	cmd := &cobra.Command{
		Use:   "ladder [<pcapng or lab dir> | --name lab] [--call id] -o file.svg|file.html|file.mmd [--format svg|html|mermaid]",
		Short: "Draw a capture's calls as ladder diagrams (SVG, HTML or Mermaid)",
		Long: `ladder rebuilds the calls of a capture as qoslab verify does and draws one as
a ladder: nine lanes (UAC SIP1 POL1 R1 CH R2 POL2 SIP2 UAS), one arrow per
message labelled with its docs/FLOW.md step, failed steps in red. Without --call
it draws the first call (HTML: every call). The format follows the -o
extension (.svg, .html, .mmd/.md) unless --format says otherwise.
--topology-dot writes a Graphviz picture of the topology as well.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return &exitError{2, fmt.Errorf("ladder: -o file is required")}
			}
			if format == "" {
				f, err := formatOf(out)
				if err != nil {
					return &exitError{2, err}
				}
				format = f
			}
			in, err := inputDir(cmd, args, lab)
			if err != nil {
				return &exitError{2, fmt.Errorf("ladder: %w", err)}
			}
			args = []string{in}
			topo, err := verifyTopology(args[0], topoFile)
			if err != nil {
				return &exitError{2, err}
			}
			rep, err := trace.Verify(cmd.Context(), args[0], topo, trace.Options{})
			if err != nil {
				return &exitError{2, err}
			}
			ids := ladder.CallIDs(rep)
			if len(ids) == 0 {
				return &exitError{2, fmt.Errorf("ladder: no call in %s", args[0])}
			}
			if callID != "" {
				ids = []string{callID}
			} else if format != "html" {
				ids = ids[:1]
			}
			var ds []ladder.Diagram
			for _, id := range ids {
				d, err := ladder.FromCall(rep, id, topo)
				if err != nil {
					return &exitError{2, err}
				}
				ds = append(ds, d)
			}
			var b []byte
			switch format {
			case "svg":
				b = ds[0].SVG()
			case "html":
				b = ladder.HTML("qoslab ladder: "+filepath.Base(args[0]), ds)
			case "mermaid":
				b = []byte(ds[0].Mermaid())
			default:
				return &exitError{2, fmt.Errorf("ladder: --format %q: want svg, html or mermaid", format)}
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return &exitError{2, fmt.Errorf("ladder: %w", err)}
			}
			if dot != "" {
				if err := os.WriteFile(dot, []byte(ladder.TopologyDOT(topo)), 0o644); err != nil {
					return &exitError{2, fmt.Errorf("ladder: %w", err)}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %d %s)\n", out, format, len(ds), plural(len(ds), "call", "calls"))
			return nil
		},
	}
	cmd.Flags().StringVar(&callID, "call", "", "SIP Call-ID of the call to draw (default: the first)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write")
	cmd.Flags().StringVar(&format, "format", "", "svg, html or mermaid (default: from the -o extension)")
	cmd.Flags().StringVar(&topoFile, "topology", "", "topology file the capture was made with")
	cmd.Flags().StringVar(&dot, "topology-dot", "", "also write the topology as a Graphviz DOT file")
	addNameFlag(cmd, &lab, topology.DefaultLab, "draw from this lab's run directory (instead of a path)")
	completeWords(cmd, "format", "svg", "html", "mermaid")
	return cmd
}

// formatOf picks the format from the -o extension. An extension ladder
// does not write is refused rather than filled with SVG.
func formatOf(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		return "svg", nil
	case ".html", ".htm":
		return "html", nil
	case ".mmd", ".md", ".mermaid":
		return "mermaid", nil
	case ".png", ".pdf", ".jpg", ".jpeg":
		return "", fmt.Errorf("ladder: -o %s: ladder writes SVG, HTML or Mermaid, not %s; write %s and convert it, e.g. rsvg-convert -o %s %s",
			path, ext[1:], strings.TrimSuffix(path, ext)+".svg", path, strings.TrimSuffix(path, ext)+".svg")
	default:
		return "", fmt.Errorf("ladder: -o %s: unknown extension %q: name the file .svg, .html or .mmd, or give --format", path, ext)
	}
}
