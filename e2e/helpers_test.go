package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/topology"
)

// allRoles are the roles the CLI registers; the suites validate topologies
// against them like `qoslab up` does.
var allRoles = []string{"clearinghouse", "host", "pdp", "proxy", "router", "uac", "uas"}

// labRun is a lab brought up by `qoslab up`, as a user would.
type labRun struct {
	Name string
	Dir  string
	Plan *topology.Plan
}

// upLab runs `qoslab up` for the built-in topology (extra args are passed
// on) and registers `qoslab down` as cleanup, so that a failing spec
// leaves nothing behind.
func upLab(ctx context.Context, lab string, args ...string) *labRun {
	DeferCleanup(func(ctx context.Context) {
		out, err := exec.CommandContext(ctx, qoslabBin, "down", "--name", lab).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "qoslab down: %s", out)
	})
	out, err := exec.CommandContext(ctx, qoslabBin, append([]string{"up", "--name", lab}, args...)...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "qoslab up: %s", out)
	dir := topology.RunDir(lab)
	st, err := topology.ReadState(dir)
	Expect(err).NotTo(HaveOccurred())
	return &labRun{Name: lab, Dir: dir, Plan: st.Plan}
}

// probePort is where reachability probes are sent.
const probePort = 9

// probeAll sends one UDP datagram from every node to every other node's
// primary address and returns the payloads that arrived. Sockets are
// opened inside the namespaces; nothing in the lab needs to cooperate.
func probeAll(lab string, p *topology.Plan) (sent, got []string) {
	conns := map[string]*net.UDPConn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, n := range p.Nodes {
		err := topology.RunIn(lab, n.Name, func() error {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: n.Addr().AsSlice(), Port: probePort})
			conns[n.Name] = c
			return err
		})
		Expect(err).NotTo(HaveOccurred(), "listen in %s", n.Name)
	}
	for _, src := range p.Nodes {
		for _, dst := range p.Nodes {
			if src.Name == dst.Name {
				continue
			}
			msg := probePayload(src.Name, dst.Name)
			_, err := conns[src.Name].WriteToUDP([]byte(msg), &net.UDPAddr{IP: dst.Addr().AsSlice(), Port: probePort})
			Expect(err).NotTo(HaveOccurred(), msg)
			sent = append(sent, msg)
		}
	}
	buf := make([]byte, 1500)
	for _, n := range p.Nodes {
		c := conns[n.Name]
		for {
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			k, _, err := c.ReadFromUDP(buf)
			if err != nil {
				break
			}
			got = append(got, string(buf[:k]))
			if len(got) == len(sent) {
				return sent, got
			}
		}
	}
	return sent, got
}

func probePayload(src, dst string) string { return "qoslab-probe " + src + "->" + dst }

// pathLinks follows the planned routes hop by hop and returns the links a
// packet from src to dst crosses.
func pathLinks(p *topology.Plan, src, dst string) []string {
	d, _ := p.Node(dst)
	target := d.Addr()
	cur, _ := p.Node(src)
	var links []string
	for hops := 0; hops < 8; hops++ {
		var via netip.Addr
		for _, ifc := range cur.Ifaces {
			if ifc.Prefix.Contains(target) {
				via = target
			}
		}
		if !via.IsValid() {
			for _, r := range cur.Routes {
				if r.Dst.Contains(target) {
					via = r.Via
				}
			}
		}
		Expect(via.IsValid()).To(BeTrue(), "%s has no route to %s", cur.Name, target)
		for _, l := range p.Links {
			if (l.A.Node == cur.Name && l.B.Prefix.Addr() == via) || (l.B.Node == cur.Name && l.A.Prefix.Addr() == via) {
				links = append(links, l.Name)
				next := l.A.Node
				if next == cur.Name {
					next = l.B.Node
				}
				cur, _ = p.Node(next)
			}
		}
		if cur.Name == dst {
			return links
		}
	}
	Fail(fmt.Sprintf("no path %s -> %s", src, dst))
	return nil
}

// eachPacket decodes every packet of a pcapng file. A file still being
// written may end mid-block: what was complete is read.
func eachPacket(path string, fn func(gopacket.Packet)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fn(gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy))
	}
}

// udpPayloads returns every UDP payload in a pcapng file that starts with
// prefix.
func udpPayloads(path, prefix string) ([]string, error) {
	var out []string
	err := eachPacket(path, func(pkt gopacket.Packet) {
		if udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && strings.HasPrefix(string(udp.Payload), prefix) {
			out = append(out, string(udp.Payload))
		}
	})
	return out, err
}

func captureFile(l *labRun, link string) string {
	return filepath.Join(l.Dir, "capture", link+".pcapng")
}
