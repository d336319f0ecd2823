package e2e

import (
	"context"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/topology"
)

var _ = Describe("qoslab run, the demo", Label("root"), func() {
	BeforeEach(func() { requireRoot() })

	It("exits 0 and leaves captures, report and ladders in its run directory, and no lab", func(ctx context.Context) {
		out := filepath.Join(GinkgoT().TempDir(), "run")
		DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, "e2e-demo", topology.DownOptions{}) })
		cmd := exec.CommandContext(ctx, qoslabBin, "run", "--name", "e2e-demo", "--talk", "500ms", "--out", out)
		b, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "qoslab run: %s", b)
		Expect(string(b)).To(ContainSubstring("PASS: every docs/FLOW.md order and DSCP rule holds"))
		for _, f := range []string{
			"capture/lab.pcapng", "capture/r1-r2.pcapng", "capture/r1-uac.pcapng", "report.txt", "report.json",
			"ladder-1.svg", "ladder-1.mmd", "ladders.html", "topology.dot", "lab.json", "nodes/pol1/node.log",
		} {
			Expect(filepath.Join(out, f)).To(BeAnExistingFile())
		}
		Expect(labNamespaces("e2e-demo")).To(BeEmpty())
		// What it wrote verifies again with the CLI a person would use.
		Expect(exec.CommandContext(ctx, qoslabBin, "verify", "--logs", out).Run()).To(Succeed())
	})

	It("exits 1 when the call it expects to be answered is refused", func(ctx context.Context) {
		out := filepath.Join(GinkgoT().TempDir(), "run")
		DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, "e2e-demo-no", topology.DownOptions{}) })
		cmd := exec.CommandContext(ctx, qoslabBin, "run", "--name", "e2e-demo-no", "--talk", "500ms", "--out", out,
			"--set", `ch.policy=deny uac -> uas code=403 reason="barred"`)
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		Expect(err).To(BeAssignableToTypeOf(ee), "qoslab run: %s", b)
		Expect(err.(*exec.ExitError).ExitCode()).To(Equal(1), "%s", b)
		Expect(labNamespaces("e2e-demo-no")).To(BeEmpty())
	})
})
