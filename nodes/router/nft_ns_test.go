package router

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/qoslab/qoslab/flow"
)

// execIn runs a program inside ns and returns its combined output.
func execIn(ns netns.NsHandle, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with the goroutine, still in ns
		if err := netns.Set(ns); err != nil {
			started <- err
			return
		}
		started <- cmd.Start()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	err := cmd.Wait()
	return out.Bytes(), err
}

// People inspect routers with the distribution's nft. Debian 12 ships nft
// 1.0.6, whose delinearizer aborted on the table when one lookup was keyed
// by another's result ("netlink_delinearize.c:126: ... consumed > 0");
// the whole ruleset must list, gates with their comments and counters.
func TestDistributionNftListsTheTable(t *testing.T) {
	l := newNSLab(t, "n")
	nft, err := exec.LookPath("nft")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("nft is not installed: scripts/install-deps.sh installs Debian's nftables")
		}
		t.Skip("nft is not installed (Debian: apt-get install nftables)")
	}
	d := openTestDataplane(t, l)
	rcv := l.receiver(t, rtpDstPort)
	media := l.sender(t, sndAddr, rtpSrcPort)
	gate := Gate{ID: 7, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(sndAddr, rtpSrcPort), Dst: netip.AddrPortFrom(rcvAddr, rtpDstPort)}}
	anyPort := Gate{ID: 9, DSCP: 34, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(otherAddr, 0), Dst: netip.AddrPortFrom(rcvAddr, rtpDstPort+2)}}
	for _, g := range []Gate{gate, anyPort} {
		if err := d.SetGate(g); err != nil {
			t.Fatal(err)
		}
	}
	expectDSCP(t, media, rcv, 3, DSCPEF)

	out, err := execIn(l.rt, nft, "list", "ruleset")
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	for _, want := range []string{
		"table ip qoslab {",
		"map gates {",
		"map gates_anysport {",
		`comment "gate 7"`,
		`comment "gate 9"`,
		"counter packets 3 bytes",
		"meta mark vmap @classes",
		"chain class-ef {",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nft list ruleset lacks %q:\n%s", want, out)
		}
	}

	gs, err := ListGates(int(l.rt))
	if err != nil {
		t.Fatal(err)
	}
	if len(gs.Gates) != 2 || gs.Gates[0].ID != 7 || gs.Gates[0].Packets != 3 || gs.Gates[0].Class != "ef" ||
		gs.Gates[0].Flow != gate.Flow || gs.Gates[1].ID != 9 || gs.Gates[1].Class != "af41" || gs.Gates[1].Flow != anyPort.Flow {
		t.Fatalf("ListGates: %+v", gs.Gates)
	}
}
