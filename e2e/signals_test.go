package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/topology"
	"golang.org/x/sys/unix"
)

// runJSON is what qoslab run leaves in run.json.
type runJSON struct {
	Outcome string   `json:"outcome"`
	Step    string   `json:"step"`
	Error   string   `json:"error"`
	Files   []string `json:"files"`
}

// readRunJSON reads run.json and checks that every file it lists exists:
// the run directory says what it holds.
func readRunJSON(dir string) runJSON {
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	Expect(err).NotTo(HaveOccurred())
	var r runJSON
	Expect(json.Unmarshal(b, &r)).To(Succeed())
	for _, f := range r.Files {
		Expect(filepath.Join(dir, f)).To(BeAnExistingFile(), "run.json lists %s", f)
	}
	return r
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	Expect(err).NotTo(HaveOccurred())
	return 0
}

var _ = Describe("signals", Label("root"), func() {
	BeforeEach(func() { requireRoot() })

	It("qoslab run | head -1 leaves no lab, and a run directory that says it was interrupted", func(ctx context.Context) {
		const lab = "e2e-pipe"
		out := filepath.Join(GinkgoT().TempDir(), "run")
		DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, lab, topology.DownOptions{}) })
		sh := exec.CommandContext(ctx, "bash", "-c", `set -o pipefail; "$Q" run --name "$LAB" --out "$OUT" --talk 500ms | head -1`)
		sh.Env = append(os.Environ(), "Q="+qoslabBin, "LAB="+lab, "OUT="+out)
		b, err := sh.CombinedOutput()
		Expect(exitStatus(err)).To(Equal(141), "qoslab run ends as a process killed by SIGPIPE would: %s", b)
		Expect(string(b)).To(ContainSubstring("interrupted by SIGPIPE"))
		Expect(labNamespaces(lab)).To(BeEmpty())
		Expect(topology.RunDir(lab)).NotTo(BeADirectory())
		r := readRunJSON(out)
		Expect(r.Outcome).To(Equal("interrupted"))
		Expect(r.Error).To(Equal("interrupted by SIGPIPE"))
	})

	It("SIGTERM during qoslab run's call takes the lab down and keeps what was captured", func(ctx context.Context) {
		const lab = "e2e-term"
		out := filepath.Join(GinkgoT().TempDir(), "run")
		DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, lab, topology.DownOptions{}) })
		cmd := exec.CommandContext(ctx, qoslabBin, "run", "--name", lab, "--out", out, "--talk", "5s")
		stdout, err := cmd.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		cmd.Stderr = GinkgoWriter
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(func() { _ = cmd.Process.Kill() })
		// Once the lab is up and the call placed, the progress line of
		// step 1 is complete.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && !strings.HasPrefix(sc.Text(), "[1/9]") {
		}
		Expect(sc.Err()).NotTo(HaveOccurred())
		Expect(labNamespaces(lab)).To(HaveLen(9))
		Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		go func() { // drain, so that its progress lines never block it
			for sc.Scan() {
			}
		}()
		Expect(exitStatus(cmd.Wait())).To(Equal(143))
		Expect(labNamespaces(lab)).To(BeEmpty())
		Expect(topology.RunDir(lab)).NotTo(BeADirectory())
		r := readRunJSON(out)
		Expect(r.Outcome).To(Equal("interrupted"))
		Expect(r.Step).To(HavePrefix("call uac -> uas"))
		Expect(r.Files).To(ContainElements("lab.json", "capture/lab.pcapng", "nodes/uac/node.log"))
	})

	DescribeTable("a signal to qoslab up half-way rolls the lab back",
		func(ctx context.Context, sig syscall.Signal) {
			lab := "e2e-" + strings.ToLower(unix.SignalName(sig))
			DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, lab, topology.DownOptions{}) })
			up := exec.CommandContext(ctx, qoslabBin, "up", "--name", lab, "--hang-after", "capture")
			up.Stderr = GinkgoWriter
			Expect(up.Start()).To(Succeed())
			DeferCleanup(func() { _ = up.Process.Kill() })
			var st *topology.State
			Eventually(func() bool {
				st, _ = topology.ReadState(topology.RunDir(lab))
				return st != nil && pidAlive(st.CapturePID)
			}).WithTimeout(10*time.Second).Should(BeTrue(), "up reached its capture phase")
			Expect(up.Process.Signal(sig)).To(Succeed())
			Expect(exitStatus(up.Wait())).To(Equal(128 + int(sig)))
			Expect(labNamespaces(lab)).To(BeEmpty())
			Expect(pidAlive(st.CapturePID)).To(BeFalse(), "the capture of the interrupted up still runs")
			Expect(topology.RunDir(lab)).NotTo(BeADirectory())
		},
		Entry("SIGINT", syscall.SIGINT),
		Entry("SIGTERM", syscall.SIGTERM),
		Entry("SIGHUP", syscall.SIGHUP),
	)
})
