package trace_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

// testdata/lab-call is a real run of the default lab (qoslab up; one call
// from the UAC's control socket with a 180, one second of RTP both ways,
// the caller hangs up): its merged capture and its node logs.
const realCall = "testdata/lab-call"

// frameRec is one frame of a pcapng file with its interface.
type frameRec struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// readFrames reads a pcapng file's frames and interfaces.
func readFrames(t *testing.T, path string) ([]frameRec, []pcapgo.NgInterface) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []frameRec
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frameRec{ci, data})
	}
	var ifs []pcapgo.NgInterface
	for i := 0; i < r.NInterfaces(); i++ {
		intf, _ := r.Interface(i)
		ifs = append(ifs, pcapgo.NgInterface{Name: intf.Name, LinkType: intf.LinkType, SnapLength: intf.SnapLength, TimestampResolution: 9})
	}
	return out, ifs
}

// verifyFrames writes frames as a pcapng and verifies it.
func verifyFrames(t *testing.T, frames []frameRec, ifs []pcapgo.NgInterface) *trace.Report {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, ifs[0], pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, intf := range ifs[1:] {
		if _, err := w.AddInterface(intf); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range frames {
		if err := w.WritePacket(f.ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := trace.VerifyReader(context.Background(), &buf, "edited", nil, trace.Options{RequireMedia: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stepPackets returns the packet numbers (from 1) of every sighting of a
// step of the only call of a report, and the time of its first sighting.
func stepPackets(t *testing.T, r *trace.Report, phase string, n int) (map[int]bool, int64) {
	t.Helper()
	for _, m := range r.Calls[0].Messages {
		if string(m.Phase) == phase && m.Step == n {
			out := map[int]bool{}
			for _, s := range m.Seen {
				out[s.No] = true
			}
			return out, m.First.Time
		}
	}
	t.Fatalf("no %s step %d", phase, n)
	return nil, 0
}

func TestRealCallPasses(t *testing.T) {
	r, err := trace.Verify(context.Background(), realCall, nil, trace.Options{RequireMedia: true, Clearinghouse: trace.CHPresent})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Calls) != 1 || r.Calls[0].SetupSteps != 28 || r.Calls[0].TeardownSteps != 18 {
		t.Fatalf("the real call does not verify with all 28 + 18 steps:\n%s", text(r))
	}
	if fs := logFailures(t, realCall); len(fs) != 0 {
		t.Errorf("node logs disagree with the capture: %v", fs)
	}
}

// The real capture, edited as the issue asks: each edit must fail naming
// the broken step.
func TestRealCallEditsFail(t *testing.T) {
	base, err := trace.Verify(context.Background(), realCall, nil, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	frames, ifs := readFrames(t, realCall+"/capture/lab.pcapng.gz")
	clone := func() []frameRec {
		out := make([]frameRec, len(frames))
		for i, f := range frames {
			out[i] = frameRec{f.ci, append([]byte(nil), f.data...)}
		}
		return out
	}

	t.Run("swap Gate-Set and Gate-Set-Ack", func(t *testing.T) {
		fs := clone()
		a, ta := stepPackets(t, base, "setup", 14)
		b, tb := stepPackets(t, base, "setup", 15)
		for i := range fs {
			switch {
			case a[i+1]:
				fs[i].ci.Timestamp = fs[i].ci.Timestamp.Add(time.Duration(tb - ta))
			case b[i+1]:
				fs[i].ci.Timestamp = fs[i].ci.Timestamp.Add(time.Duration(ta - tb))
			}
		}
		r := verifyFrames(t, fs, ifs)
		if len(failuresAt(r, trace.CheckOrder, "setup", 15)) == 0 {
			t.Fatalf("no order failure at step 15:\n%s", text(r))
		}
	})
	t.Run("drop the Gate-Set-Ack of R1", func(t *testing.T) {
		drop, _ := stepPackets(t, base, "setup", 20)
		var fs []frameRec
		for i, f := range clone() {
			if !drop[i+1] {
				fs = append(fs, f)
			}
		}
		r := verifyFrames(t, fs, ifs)
		if len(failuresAt(r, trace.CheckMissing, "setup", 20)) == 0 {
			t.Fatalf("no missing step 20:\n%s", text(r))
		}
	})
	t.Run("clear the DSCP of one RTP packet on the core", func(t *testing.T) {
		fs := clone()
		core := -1
		for i, intf := range ifs {
			if intf.Name == "r1-r2" {
				core = i
			}
		}
		cleared := false
		for i := range fs {
			p := gopacket.NewPacket(fs[i].data, layers.LayerTypeEthernet, gopacket.Default)
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if fs[i].ci.InterfaceIndex == core && ip != nil && udp != nil && udp.SrcPort == 20000 && ip.TOS>>2 == trace.DSCPEF {
				if err := tracetest.SetDSCP(fs[i].data, 0); err != nil {
					t.Fatal(err)
				}
				cleared = true
				break
			}
		}
		if !cleared {
			t.Fatal("no EF RTP packet from the UAC on the core")
		}
		r := verifyFrames(t, fs, ifs)
		if len(failuresAt(r, trace.CheckDSCP, "setup", 20)) != 1 {
			t.Fatalf("no DSCP failure after step 20:\n%s", text(r))
		}
	})
}
