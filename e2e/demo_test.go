package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/trace"
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
			"nodes/ch/usage.db", "run.json",
		} {
			Expect(filepath.Join(out, f)).To(BeAnExistingFile())
		}
		Expect(labNamespaces("e2e-demo")).To(BeEmpty())
		// What it wrote verifies again with the CLI a person would use.
		Expect(exec.CommandContext(ctx, qoslabBin, "verify", "--logs", out).Run()).To(Succeed())
		// The run keeps the call's usage records: qoslab cdr reads them
		// from the run directory after the lab is gone.
		cdr, err := exec.CommandContext(ctx, qoslabBin, "cdr", out, "--json").Output()
		Expect(err).NotTo(HaveOccurred())
		var recs []map[string]any
		Expect(json.Unmarshal(cdr, &recs)).To(Succeed(), "%s", cdr)
		Expect(recs).To(HaveLen(1), "%s", cdr)
		Expect(recs[0]["source_side"]).NotTo(BeNil())
		Expect(recs[0]["destination_side"]).NotTo(BeNil())
		Expect(readRunJSON(out).Outcome).To(Equal("pass"))
	})

	It("runs OSP over TLS: exits 0 with every OSP step read from inside TLS, and leaves the key log Wireshark needs", func(ctx context.Context) {
		out := filepath.Join(GinkgoT().TempDir(), "run")
		DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, "e2e-demo-tls", topology.DownOptions{}) })
		cmd := exec.CommandContext(ctx, qoslabBin, "run", "--name", "e2e-demo-tls", "--talk", "500ms", "--out", out, "--set", "ch.tls=on")
		b, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "qoslab run: %s", b)
		Expect(string(b)).To(MatchRegexp(`OSP over TLS: (\d+) sessions, (\d+) decrypted`))
		keys := filepath.Join(out, trace.KeyLogName)
		Expect(keys).To(BeAnExistingFile())
		var rep trace.Report
		js, err := os.ReadFile(filepath.Join(out, "report.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(js, &rep)).To(Succeed())
		Expect(rep.TLSDecrypted).To(Equal(rep.TLSSessions))
		Expect(rep.Calls).To(HaveLen(1))
		var osp []string
		for _, m := range rep.Calls[0].Messages {
			if m.Proto == "osp" {
				Expect(m.TLS).To(BeTrue(), "%s read from TLS", m.Label())
				osp = append(osp, m.Label())
			}
		}
		Expect(osp).To(HaveLen(8), "every OSP step: %v", osp)
		// Wireshark reads the same sessions with the same key log.
		tshark := requirePeer("tshark")
		posts, err := exec.CommandContext(ctx, tshark, "-n", "-X", "lua_script:../scripts/wireshark/qoslab_cops.lua",
			"-o", "tls.keylog_file:"+keys, "-r", filepath.Join(out, "capture", "lab.pcapng"),
			"-Y", `tls && http.request.method == "POST"`).Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(posts), "POST /osp")).To(Equal(4), "two authorisations, two usage indications:\n%s", posts)
		Expect(exec.CommandContext(ctx, qoslabBin, "verify", out).Run()).To(Succeed())
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
