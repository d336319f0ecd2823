package router

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/qoslab/qoslab/flow"
)

func TestGateKeyLayoutMatchesRegisters(t *testing.T) {
	f := flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.1.2"), 20000), Dst: netip.AddrPortFrom(netip.MustParseAddr("198.18.4.2"), 30000)}
	want := []byte{
		198, 18, 1, 2, // ip saddr
		198, 18, 4, 2, // ip daddr
		17, 0, 0, 0, // meta l4proto, padded to a register
		0x4e, 0x20, 0, 0, // th sport 20000, padded
		0x75, 0x30, 0, 0, // th dport 30000, padded
	}
	if got := gateKey(f); !bytes.Equal(got, want) {
		t.Fatalf("key % x\nwant % x", got, want)
	}
	if int(gateKeyType.Bytes) != len(want) {
		t.Fatalf("map key length %d, key %d bytes", gateKeyType.Bytes, len(want))
	}
	if gateMapFor(f) != gatesMap {
		t.Fatalf("exact flow in %s", gateMapFor(f))
	}

	f.Src = netip.AddrPortFrom(f.Src.Addr(), 0)
	any := gateKey(f)
	if !bytes.Equal(any, append(want[:12:12], 0x75, 0x30, 0, 0)) {
		t.Fatalf("any-source-port key % x", any)
	}
	if int(gateAnyKeyType.Bytes) != len(any) || gateMapFor(f) != gatesAnyMap {
		t.Fatalf("any-source-port flow: key %d bytes, map %s", len(any), gateMapFor(f))
	}
}

func TestFlowLookupLoadsEveryKeyRegister(t *testing.T) {
	gates := &nftables.Set{Name: gatesMap, ID: 1}
	classes := &nftables.Set{Name: classesMap, ID: 2}
	for _, withSport := range []bool{true, false} {
		e := flowLookup(gates, classes, withSport)
		gl, ok := e[len(e)-4].(*expr.Lookup)
		if !ok || gl.SetName != gatesMap || gl.SourceRegister != regKey || !gl.IsDestRegSet || gl.DestRegister != regClass {
			t.Fatalf("gate lookup %#v does not map the key registers to the class register", e[len(e)-4])
		}
		// The class goes through the mark (see flowLookup: old nft cannot
		// list a lookup keyed by another lookup's result).
		set, ok1 := e[len(e)-3].(*expr.Meta)
		load, ok2 := e[len(e)-2].(*expr.Meta)
		if !ok1 || !ok2 || set.Key != expr.MetaKeyMARK || !set.SourceRegister || set.Register != regClass ||
			load.Key != expr.MetaKeyMARK || load.SourceRegister || load.Register != regClass {
			t.Fatalf("between the lookups: %#v %#v; want meta mark set from and load into the class register", e[len(e)-3], e[len(e)-2])
		}
		cl, ok := e[len(e)-1].(*expr.Lookup)
		if !ok || cl.SetName != classesMap || cl.SourceRegister != regClass || !cl.IsDestRegSet || cl.DestRegister != 0 {
			t.Fatalf("class lookup %#v is not a verdict-map lookup of the class register", e[len(e)-1])
		}
		regs := map[uint32]bool{}
		for _, x := range e[:len(e)-4] {
			switch v := x.(type) {
			case *expr.Payload:
				regs[v.DestRegister] = true
			case *expr.Meta:
				regs[v.Register] = true
			}
		}
		n := 5
		if !withSport {
			n = 4
		}
		for r := uint32(regKey); r < uint32(regKey+n); r++ {
			if !regs[r] {
				t.Fatalf("withSport=%v: register %d not loaded", withSport, r)
			}
		}
		if regClass < regKey+5 {
			t.Fatalf("class register %d overlaps the key registers", regClass)
		}
	}
}

func TestSetDSCPRewritesOnlyTheCodePoint(t *testing.T) {
	for _, dscp := range []uint8{0, DSCPCS5, DSCPEF, 63} {
		e := setDSCP(dscp)
		bw := e[1].(*expr.Bitwise)
		// Apply the kernel's bitwise (x & mask) ^ xor to a header word with
		// version/IHL 0x45 and TOS 0xff (every bit set, ECN 11).
		word := []byte{0x45, 0xff}
		for i := range word {
			word[i] = word[i]&bw.Mask[i] ^ bw.Xor[i]
		}
		if word[0] != 0x45 || word[1] != dscp<<2|0x03 {
			t.Fatalf("dscp %d: header word % x", dscp, word)
		}
		wr := e[2].(*expr.Payload)
		if wr.OperationType != expr.PayloadWrite || wr.CsumType != expr.CsumTypeInet || wr.CsumOffset != 10 || wr.Len != 2 {
			t.Fatalf("dscp %d: write %+v does not fix the IPv4 checksum", dscp, wr)
		}
	}
}

func TestGateAndClassElements(t *testing.T) {
	g := Gate{ID: 42, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 1), Dst: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 2)}}
	el := gateElement(g)
	if el.VerdictData != nil || !bytes.Equal(el.Val, []byte{0, 0, 0, 46}) {
		t.Fatalf("gate element data % x verdict %+v: want class 46 as data, no verdict", el.Val, el.VerdictData)
	}
	ce := classElement(DSCPEF)
	if !bytes.Equal(ce.Key, el.Val) {
		t.Fatalf("class element key % x does not match gate data % x", ce.Key, el.Val)
	}
	if ce.VerdictData == nil || ce.VerdictData.Kind != expr.VerdictJump || ce.VerdictData.Chain != "class-ef" {
		t.Fatalf("class element verdict %+v", ce.VerdictData)
	}
}

func TestDSCPNames(t *testing.T) {
	for dscp, want := range map[uint8]string{0: "df", 46: "ef", 40: "cs5", 8: "cs1", 34: "af41", 10: "af11", 38: "af43", 44: "va", 1: "dscp1", 47: "dscp47"} {
		if got := dscpName(dscp); got != want {
			t.Errorf("dscpName(%d) = %q, want %q", dscp, got, want)
		}
	}
}

func TestGateValidate(t *testing.T) {
	ok := Gate{ID: 1, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 1), Dst: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 2)}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Gate){
		"id 0":         func(g *Gate) { g.ID = 0 },
		"dscp 64":      func(g *Gate) { g.DSCP = 64 },
		"ipv6":         func(g *Gate) { g.Flow.Src = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), g.Flow.Src.Port()) },
		"no address":   func(g *Gate) { g.Flow.Dst = netip.AddrPortFrom(netip.Addr{}, g.Flow.Dst.Port()) },
		"any address":  func(g *Gate) { g.Flow.Src = netip.AddrPortFrom(netip.IPv4Unspecified(), g.Flow.Src.Port()) },
		"icmp":         func(g *Gate) { g.Flow.Proto = 1 },
		"no dest port": func(g *Gate) { g.Flow.Dst = netip.AddrPortFrom(g.Flow.Dst.Addr(), 0) },
	}
	for name, mutate := range bad {
		g := ok
		mutate(&g)
		if err := g.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
