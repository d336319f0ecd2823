package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/topology"
	"github.com/vishvananda/netlink"
)

// labNamespaces lists the namespaces of one lab, as `ip netns list` would.
func labNamespaces(lab string) []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "qoslab-"+lab+"-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func rootLinkNames() []string {
	links, err := netlink.LinkList()
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, l := range links {
		out = append(out, l.Attrs().Name)
	}
	return out
}

func pidAlive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

var _ = Describe("the default lab", Label("root"), Ordered, func() {
	const lab = "e2e-lab"
	var (
		l         *labRun
		linksAtUp []string
		state     *topology.State
	)

	BeforeAll(func(ctx context.Context) {
		requireRoot()
		linksAtUp = rootLinkNames()
		l = upLab(ctx, lab)
		var err error
		state, err = topology.ReadState(l.Dir)
		Expect(err).NotTo(HaveOccurred())
	})

	It("runs one ready node process per namespace", func() {
		Expect(labNamespaces(lab)).To(HaveLen(9))
		st, err := topology.LabStatus(lab, "")
		Expect(err).NotTo(HaveOccurred())
		for _, n := range st.Nodes {
			Expect(n.State).To(Equal("running"), "node %s", n.Name)
		}
		Expect(st.Health).To(Equal("up"))
	})

	It("lets every node reach every other node through the routers", func() {
		sent, got := probeAll(lab, l.Plan)
		Expect(sent).To(HaveLen(9 * 8))
		Expect(got).To(ConsistOf(sent))
	})

	It("captures each probe on exactly the links of its path", func() {
		// The probes of the previous spec; captures flush every 100 ms.
		for _, link := range l.Plan.Links {
			want := map[string]bool{}
			for _, src := range l.Plan.Nodes {
				for _, dst := range l.Plan.Nodes {
					if src.Name == dst.Name {
						continue
					}
					for _, on := range pathLinks(l.Plan, src.Name, dst.Name) {
						if on == link.Name {
							want[probePayload(src.Name, dst.Name)] = true
						}
					}
				}
			}
			var wantList []string
			for p := range want {
				wantList = append(wantList, p)
			}
			Expect(wantList).NotTo(BeEmpty(), "link %s carries no probe path", link.Name)
			Eventually(func() ([]string, error) {
				return udpPayloads(captureFile(l, link.Name), "qoslab-probe ")
			}).WithTimeout(3*time.Second).Should(ConsistOf(wantList), "link %s", link.Name)
		}
		merged, err := udpPayloads(filepath.Join(l.Dir, "capture", "lab.pcapng"), "qoslab-probe ")
		Expect(err).NotTo(HaveOccurred())
		Expect(len(merged)).To(BeNumerically(">=", 9*8*2), "the merged capture holds every link's packets")
	})

	It("completes lab and node names in the shell", func(ctx context.Context) {
		complete := func(args ...string) string {
			out, err := exec.CommandContext(ctx, qoslabBin, append([]string{"__complete"}, args...)...).Output()
			Expect(err).NotTo(HaveOccurred())
			return string(out)
		}
		Expect(strings.Fields(complete("exec", "--name", lab, ""))).To(ContainElements("uac", "sip1", "pol1", "r1", "ch", "r2", "pol2", "sip2", "uas"))
		Expect(strings.Fields(complete("gates", "--name", lab, ""))).To(ContainElements("r1", "r2"))
		Expect(complete("gates", "--name", lab, "")).NotTo(ContainSubstring("sip1"))
		Expect(strings.Fields(complete("call", "--name", lab, "--from", ""))).To(ContainElement("uac"))
		Expect(strings.Fields(complete("call", "--name", lab, "--to", ""))).To(ContainElement("uas"))
		Expect(strings.Fields(complete("down", "--name", ""))).To(ContainElement(lab))
		out, err := exec.CommandContext(ctx, qoslabBin, "completion", "bash").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("__start_qoslab"))
	})

	It("runs a command in a node, flags and all, with or without --", func(ctx context.Context) {
		for _, args := range [][]string{{"exec", "--name", lab, "uac", "ip", "-br", "addr"}, {"exec", "--name", lab, "uac", "--", "ip", "-br", "addr"}} {
			out, err := exec.CommandContext(ctx, qoslabBin, args...).CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "%v: %s", args, out)
			Expect(string(out)).To(ContainSubstring("198.18.1.2/24"), "%v", args)
		}
		out, err := exec.CommandContext(ctx, qoslabBin, "exec", "--name", "e2e-nolab", "uac", "true").CombinedOutput()
		Expect(err).To(HaveOccurred())
		Expect(string(out)).To(ContainSubstring(`no such lab "e2e-nolab"`))
		out, err = exec.CommandContext(ctx, qoslabBin, "exec", "--name", lab, "nonode", "true").CombinedOutput()
		Expect(err).To(HaveOccurred())
		Expect(string(out)).To(ContainSubstring(`lab ` + lab + ` has no node "nonode" (nodes: uac, sip1,`))
	})

	It("shows a router's gates while a call holds them, and its whole ruleset to the distribution's nft", func(ctx context.Context) {
		if _, err := exec.LookPath("nft"); err != nil {
			if os.Getenv("CI") != "" {
				Fail("nft is not installed: scripts/install-deps.sh installs Debian's nftables")
			}
			Skip("nft is not installed")
		}
		call := exec.CommandContext(ctx, qoslabBin, "call", "--name", lab, "--talk", "2s", "--ring", "0s")
		call.Stdout, call.Stderr = GinkgoWriter, GinkgoWriter
		Expect(call.Start()).To(Succeed())
		DeferCleanup(func() { _ = call.Process.Kill(); _ = call.Wait() })
		type gates struct {
			Gates []struct {
				ID      uint32 `json:"gate_id"`
				Flow    string `json:"flow"`
				Class   string `json:"class"`
				Packets uint64 `json:"packets"`
			} `json:"gates"`
		}
		read := func(router string) gates {
			out, err := exec.CommandContext(ctx, qoslabBin, "gates", "--name", lab, router, "--json").Output()
			Expect(err).NotTo(HaveOccurred())
			var g gates
			Expect(json.Unmarshal(out, &g)).To(Succeed(), "%s", out)
			return g
		}
		Eventually(func() uint64 {
			g := read("r1")
			if len(g.Gates) != 1 {
				return 0
			}
			return g.Gates[0].Packets
		}).WithTimeout(5*time.Second).Should(BeNumerically(">", 10), "r1's gate counts the call's media")
		g := read("r1")
		Expect(g.Gates[0].ID).NotTo(BeZero())
		Expect(g.Gates[0].Class).To(Equal("ef"))
		Expect(g.Gates[0].Flow).To(HavePrefix("udp 198.18.1.2:20000 -> 198.18.4.2:"))

		out, err := exec.CommandContext(ctx, qoslabBin, "exec", "--name", lab, "r1", "nft", "list", "ruleset").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "nft list ruleset in r1: %s", out)
		Expect(string(out)).To(ContainSubstring("table ip qoslab {"))
		Expect(string(out)).To(ContainSubstring(fmt.Sprintf(`comment "gate %d"`, g.Gates[0].ID)))
		Expect(string(out)).To(ContainSubstring("meta mark vmap @classes"))

		Expect(call.Wait()).To(Succeed())
		Eventually(func() []string {
			var flows []string
			for _, gt := range read("r1").Gates {
				flows = append(flows, gt.Flow)
			}
			return flows
		}).WithTimeout(5*time.Second).Should(BeEmpty(), "the gate goes with the call")
		out, err = exec.CommandContext(ctx, qoslabBin, "gates", "--name", lab, "sip1").CombinedOutput()
		Expect(err).To(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("node sip1 of lab " + lab + " is a proxy, not a router (router nodes: r1, r2)"))
	})

	It("leaves nothing behind after down", func(ctx context.Context) {
		Expect(topology.Down(ctx, lab, topology.DownOptions{})).To(Succeed())
		Expect(labNamespaces(lab)).To(BeEmpty())
		for name, pid := range state.NodePIDs {
			Expect(pidAlive(pid)).To(BeFalse(), "node %s (pid %d) still runs", name, pid)
		}
		Expect(pidAlive(state.CapturePID)).To(BeFalse(), "capture still runs")
		Expect(l.Dir).NotTo(BeADirectory())
		Expect(rootLinkNames()).To(ConsistOf(linksAtUp), "links in the root namespace changed")
		// down is idempotent.
		Expect(topology.Down(ctx, lab, topology.DownOptions{})).To(Succeed())
	})
})

var _ = Describe("a failed or killed bring-up", Label("root"), func() {
	BeforeEach(func() { requireRoot() })

	It("rolls back a bring-up whose node fails to start", func(ctx context.Context) {
		const lab = "e2e-fail"
		DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, lab, topology.DownOptions{}) })
		spec, err := topology.ParseSpec("broken.yaml", []byte(`
nodes:
  - {name: r, role: router}
  - {name: a, role: host}
  - {name: b, role: host, params: {port: "99999"}}
links:
  - endpoints: [r:a, a:eth0]
  - endpoints: [r:b, b:eth0]
`))
		Expect(err).NotTo(HaveOccurred())
		_, err = topology.Up(ctx, spec, lab, topology.Options{Binary: qoslabBin, Roles: allRoles})
		Expect(err).To(MatchError(ContainSubstring("node b exited before it was ready")))
		Expect(err).To(MatchError(ContainSubstring("99999")), "the error quotes the node's log")
		Expect(labNamespaces(lab)).To(BeEmpty())
		Expect(filepath.Join(topology.RunRoot, lab)).NotTo(BeADirectory())
	})

	It("cleans up after kill -9 of qoslab up half-way", func(ctx context.Context) {
		const lab = "e2e-crash"
		DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, lab, topology.DownOptions{}) })
		up := exec.Command(qoslabBin, "up", "--name", lab, "--hang-after", "capture")
		up.Stderr = GinkgoWriter
		Expect(up.Start()).To(Succeed())
		// If the spec fails before its kill, the hanging up must not stay.
		DeferCleanup(func() { _ = up.Process.Kill(); _ = up.Wait() })
		Eventually(func() []string { return labNamespaces(lab) }).WithTimeout(10 * time.Second).Should(HaveLen(9))
		var st *topology.State
		Eventually(func() bool {
			st, _ = topology.ReadState(filepath.Join(topology.RunRoot, lab))
			return st != nil && pidAlive(st.CapturePID)
		}).WithTimeout(10*time.Second).Should(BeTrue(), "the capture of the hanging up runs")
		Expect(up.Process.Signal(syscall.SIGKILL)).To(Succeed())

		// CI owns the whole machine: there `down --all` is what a user
		// runs after a crash. On a shared machine, name the lab so that
		// other people's labs survive this test.
		args := []string{"down", "--name", lab}
		if os.Getenv("CI") != "" {
			args = []string{"down", "--all"}
		}
		out, err := exec.CommandContext(ctx, qoslabBin, args...).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "qoslab %v: %s", args, out)
		Expect(labNamespaces(lab)).To(BeEmpty())
		Expect(pidAlive(st.CapturePID)).To(BeFalse(), "the capture of the killed up still runs")
		Expect(filepath.Join(topology.RunRoot, lab)).NotTo(BeADirectory())
	})
})

// netnsMounts lists the mount points under /run/netns of the calling
// process's mount table that belong to a lab, hidden ones included.
func netnsMounts(lab string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], "/run/netns/qoslab-"+lab+"-") {
			out = append(out, f[4])
		}
	}
	return out
}

var _ = Describe("a lab beside iproute2", Label("root"), func() {
	BeforeEach(func() {
		requireRoot()
		if _, err := exec.LookPath("ip"); err != nil {
			if os.Getenv("CI") != "" {
				Fail("ip (iproute2) is not installed: scripts/install-deps.sh installs it")
			}
			Skip("ip (iproute2) is not installed")
		}
	})

	It("comes down completely after ip netns add and del of another namespace while it is up", func(ctx context.Context) {
		const lab = "e2e-iproute"
		l := upLab(ctx, lab)
		st, err := topology.ReadState(l.Dir)
		Expect(err).NotTo(HaveOccurred())
		// /run/netns is a shared mount of its own, as iproute2 makes it.
		info, err := os.ReadFile("/proc/self/mountinfo")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(info)).To(MatchRegexp(`(?m)^\d+ \d+ \S+ \S+ /run/netns \S+ shared:`))

		other := fmt.Sprintf("e2e-iproute2-%d", os.Getpid())
		Expect(exec.CommandContext(ctx, "ip", "netns", "add", other).CombinedOutput()).Error().NotTo(HaveOccurred())
		DeferCleanup(func() { _ = exec.Command("ip", "netns", "del", other).Run() })
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", other, "ip", "link", "set", "lo", "up").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		out, err = exec.CommandContext(ctx, "ip", "netns", "list").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(string(out)).NotTo(ContainSubstring("invalid"))
		Expect(string(out)).To(ContainSubstring("qoslab-" + lab + "-uac"))
		Expect(exec.CommandContext(ctx, "ip", "netns", "del", other).CombinedOutput()).Error().NotTo(HaveOccurred())

		out, err = exec.CommandContext(ctx, qoslabBin, "down", "--name", lab).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "qoslab down: %s", out)
		Expect(labNamespaces(lab)).To(BeEmpty())
		Expect(netnsMounts(lab)).To(BeEmpty(), "namespace mounts left")
		for name, pid := range st.NodePIDs {
			Expect(pidAlive(pid)).To(BeFalse(), "node %s (pid %d) still runs", name, pid)
		}
	})

	// The reproduction, on a machine where /run/netns is no mount
	// point yet, run in a mount namespace of its own so that unmounting
	// /run/netns there cannot disturb other labs on this machine.
	It("comes down completely when /run/netns was bound on itself after up", func(ctx context.Context) {
		const lab = "e2e-stacked"
		DeferCleanup(func(ctx context.Context) { _ = topology.Down(ctx, lab, topology.DownOptions{}) })
		script := `set -u
umount -l /run/netns 2>/dev/null
"$Q" up --name "$LAB" >/dev/null || exit 3
ip netns add "$OTHER" && ip netns del "$OTHER" || exit 4
mount --bind /run/netns /run/netns || exit 5
"$Q" down --name "$LAB" || exit 6
echo "files=$(ls /run/netns | grep -c "^qoslab-$LAB-")"
echo "mounts=$(grep -c " /run/netns/qoslab-$LAB-" /proc/self/mountinfo)"
`
		cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
		cmd.Env = append(os.Environ(), "Q="+qoslabBin, "LAB="+lab, fmt.Sprintf("OTHER=e2e-stacked-%d", os.Getpid()))
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(string(out)).To(ContainSubstring("files=0\n"))
		Expect(string(out)).To(ContainSubstring("mounts=0\n"))
	})
})

var _ = Describe("a lab taken down with --keep", Label("root"), func() {
	BeforeEach(func() { requireRoot() })

	It("is shown as down, and up with its name refuses to wipe what it kept", func(ctx context.Context) {
		const lab = "e2e-keep"
		upLab(ctx, lab)
		dir := topology.RunDir(lab)
		out, err := exec.CommandContext(ctx, qoslabBin, "down", "--name", lab, "--keep").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(labNamespaces(lab)).To(BeEmpty())
		Expect(filepath.Join(dir, "capture", "lab.pcapng")).To(BeAnExistingFile())

		out, err = exec.CommandContext(ctx, qoslabBin, "status", "--name", lab, "--json").Output()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		var sts []topology.Status
		Expect(json.Unmarshal(out, &sts)).To(Succeed(), "%s", out)
		Expect(sts).To(HaveLen(1))
		Expect(sts[0].Phase).To(Equal(topology.PhaseKept))
		Expect(sts[0].Health).To(HavePrefix("down, run directory kept"))
		for _, n := range sts[0].Nodes {
			Expect(n.State).To(Equal("down"), "node %s", n.Name)
		}

		out, err = exec.CommandContext(ctx, qoslabBin, "up", "--name", lab).CombinedOutput()
		Expect(err).To(HaveOccurred(), "up over a kept run directory: %s", out)
		Expect(string(out)).To(ContainSubstring("down --keep"))
		Expect(labNamespaces(lab)).To(BeEmpty())
		Expect(filepath.Join(dir, "capture", "lab.pcapng")).To(BeAnExistingFile(), "up wiped the kept captures")
		// upLab's cleanup (down without --keep) removes it.
	})
})
