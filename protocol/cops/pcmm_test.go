package cops

import (
	"reflect"
	"strings"
	"testing"
)

func TestPCMMRoundTrip(t *testing.T) {
	for name, p := range map[string]PCMM{"full": fullPCMM(), "gate-set": sampleGateSet(),
		"version-only": {HasVersion: true, Version: VersionInfo{PCMMVersionMajor, PCMMVersionMinor}}} {
		b, err := p.AppendTo(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got PCMM
		if err := got.Decode(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(p, got) {
			t.Errorf("%s:\nwant %+v\ngot  %+v", name, p, got)
		}
	}
}

func TestPCMMEncodeRefuses(t *testing.T) {
	cases := map[string]PCMM{
		"ipv6 classifier":       {Command: GateSet, Classifiers: []Classifier{{Src: fullPCMM().SubscriberID, Dst: fullPCMM().SubscriberID}}},
		"long scn":              {Command: GateSet, TrafficProfile: TrafficProfile{Kind: ProfileServiceClassName, ServiceClassName: strings.Repeat("x", 16)}},
		"flow spec no envelope": {Command: GateSet, TrafficProfile: TrafficProfile{Kind: ProfileFlowSpec}},
		"packets in Gate-Set":   {Command: GateSet, HasUsagePackets: true},
		"odd opaque":            {Command: GateSet, Opaque: []byte{1, 2, 3}},
	}
	for name, p := range cases {
		b, err := p.AppendTo([]byte{9})
		if err == nil {
			t.Errorf("%s: encoded", name)
		}
		if len(b) != 1 {
			t.Errorf("%s: left %d octets behind", name, len(b)-1)
		}
	}
}

func TestPCMMDecodeRejects(t *testing.T) {
	cases := map[string][]byte{
		"truncated header":      {0, 8, 1},
		"length below 4":        {0, 2, 1, 1},
		"length not multiple 4": {0, 6, 1, 1, 0, 0},
		"length overruns":       {0, 12, 1, 1, 0, 5, 0, 4},
		"gate command 0":        {0, 8, 1, 1, 0, 5, 0, 0},
		"repeated gate id":      {0, 8, 4, 1, 0, 0, 0, 1, 0, 8, 4, 1, 0, 0, 0, 2},
		"short gate spec":       {0, 8, 5, 1, 0, 0, 0, 0},
		"scn not terminated":    {0, 12, 7, 2, 7, 0, 0, 0, 'E', 'F', 'E', 'F'},
		"flow spec short":       {0, 8, 7, 1, 1, 0, 0, 0},
		"pc error code 0":       {0, 8, 14, 1, 0, 0, 0, 0},
	}
	for name, b := range cases {
		var p PCMM
		err := p.Decode(b)
		if err == nil {
			t.Errorf("%s: decoded %+v", name, p)
			continue
		}
		if !strings.HasPrefix(err.Error(), "cops: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestGateSpecDSCP(t *testing.T) {
	var g GateSpec
	if _, ok := g.DSCP(); ok {
		t.Fatal("zero gate spec marks")
	}
	g.SetDSCP(46)
	if g.TOSOverwrite != 0xB8 || g.TOSMask != 0xFC || g.Flags&GateDSCPOverride == 0 {
		t.Fatalf("EF gate spec %+v", g)
	}
	if d, ok := g.DSCP(); !ok || d != 46 {
		t.Fatalf("DSCP() = %d %v", d, ok)
	}
}

func TestGateCommandNames(t *testing.T) {
	for c, want := range map[GateCommand]string{GateSet: "Gate-Set", GateSet.Ack(): "Gate-Set-Ack", GateDelete.Err(): "Gate-Delete-Err",
		GateInfo.Ack(): "Gate-Info-Ack", GateReportState: "Gate-Report-State", 99: "Gate-Command(99)"} {
		if c.String() != want {
			t.Errorf("%d: %q, want %q", c, c.String(), want)
		}
	}
}
