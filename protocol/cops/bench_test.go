package cops

import "testing"

// typicalREQ is "REQ AAA" as a SIP proxy sends it: handle, context, and
// the session data with two media flows and an OSP token.
func typicalREQ(buf []byte) (*Message, []byte) {
	s := sampleSession()
	data, _ := s.AppendTo(buf[:0])
	return &Message{Header: Header{Op: OpREQ, ClientType: ClientTypeSession}, Handle: 7,
		Context: KindAAA.Context(), ClientSI: []ClientSI{{Data: data}}}, data
}

func gateSetDEC(p *PCMM, buf []byte) *Message {
	data, _ := p.AppendTo(buf[:0])
	return &Message{Header: Header{Op: OpDEC, ClientType: ClientTypePCMM}, Handle: 1,
		Decisions: []Decision{{Context: Context{RType: RTypeConfigure}, Command: CommandInstall, ClientData: data}}}
}

func TestEncodeDoesNotAllocate(t *testing.T) {
	s := sampleSession()
	p := sampleGateSet()
	sbuf, pbuf, out := make([]byte, 0, 512), make([]byte, 0, 512), make([]byte, 0, 1024)
	m, _ := typicalREQ(sbuf)
	d := gateSetDEC(&p, pbuf)
	for name, f := range map[string]func(){
		"REQ":          func() { out, _ = m.AppendTo(out[:0]) },
		"session":      func() { sbuf, _ = s.AppendTo(sbuf[:0]) },
		"Gate-Set":     func() { pbuf, _ = p.AppendTo(pbuf[:0]) },
		"DEC Gate-Set": func() { out, _ = d.AppendTo(out[:0]) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("encoding %s allocates %.1f times", name, n)
		}
	}
}

func TestDecodeGateSetAllocations(t *testing.T) {
	p := sampleGateSet()
	b, _ := gateSetDEC(&p, nil).AppendTo(nil)
	var m Message
	var got PCMM
	if n := testing.AllocsPerRun(100, func() {
		if m.Decode(b) != nil {
			t.Fatal("decode failed")
		}
	}); n != 0 {
		t.Errorf("decoding a DEC into a reused Message allocates %.1f times", n)
	}
	// The service class name becomes a string: that is the one allocation.
	if n := testing.AllocsPerRun(100, func() {
		if got.Decode(m.Decisions[0].ClientData) != nil {
			t.Fatal("decode failed")
		}
	}); n > 1 {
		t.Errorf("decoding Gate-Set objects into a reused PCMM allocates %.1f times", n)
	}
}

func BenchmarkEncodeREQ(b *testing.B) {
	s := sampleSession()
	sbuf, out := make([]byte, 0, 512), make([]byte, 0, 1024)
	m, _ := typicalREQ(sbuf)
	b.ReportAllocs()
	for b.Loop() {
		sbuf, _ = s.AppendTo(sbuf[:0])
		m.ClientSI[0].Data = sbuf
		out, _ = m.AppendTo(out[:0])
	}
	b.SetBytes(int64(len(out)))
}

func BenchmarkDecodeREQ(b *testing.B) {
	m, _ := typicalREQ(nil)
	raw, _ := m.AppendTo(nil)
	var got Message
	var s Session
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if got.Decode(raw) != nil || s.Decode(got.ClientSI[0].Data) != nil {
			b.Fatal("decode failed")
		}
	}
}

func BenchmarkEncodeGateSet(b *testing.B) {
	p := sampleGateSet()
	pbuf, out := make([]byte, 0, 512), make([]byte, 0, 1024)
	d := gateSetDEC(&p, pbuf)
	b.ReportAllocs()
	for b.Loop() {
		pbuf, _ = p.AppendTo(pbuf[:0])
		d.Decisions[0].ClientData = pbuf
		out, _ = d.AppendTo(out[:0])
	}
	b.SetBytes(int64(len(out)))
}

func BenchmarkDecodeGateSet(b *testing.B) {
	p := sampleGateSet()
	raw, _ := gateSetDEC(&p, nil).AppendTo(nil)
	var m Message
	var got PCMM
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if m.Decode(raw) != nil || got.Decode(m.Decisions[0].ClientData) != nil {
			b.Fatal("decode failed")
		}
	}
}
