package main

import (
	"fmt"
	"path/filepath"

	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/capture"
	"github.com/spf13/cobra"
)

func newCaptureCmd() *cobra.Command {
	var lab, dir string
	cmd := &cobra.Command{
		Use:    "capture --lab <lab> --dir <run dir>",
		Short:  "Capture every link of a lab to pcapng (started by qoslab up)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := topology.ReadState(dir)
			if err != nil {
				return err
			}
			if st.Lab != lab {
				return fmt.Errorf("capture: %s holds lab %q, not %q", dir, st.Lab, lab)
			}
			return capture.Run(cmd.Context(), captureLinks(st.Plan), filepath.Join(dir, "capture"), readySignal(nil))
		},
	}
	cmd.Flags().StringVar(&lab, "lab", "", "lab name")
	cmd.Flags().StringVar(&dir, "dir", "", "lab run directory")
	_ = cmd.MarkFlagRequired("lab")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// captureLinks captures each link on its first endpoint's interface.
func captureLinks(p *topology.Plan) []capture.Link {
	out := make([]capture.Link, 0, len(p.Links))
	for _, l := range p.Links {
		out = append(out, capture.Link{Name: l.Name, Namespace: topology.NamespaceName(p.Lab, l.A.Node), Iface: l.A.Iface})
	}
	return out
}
