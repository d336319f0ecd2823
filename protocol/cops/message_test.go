package cops

import (
	"bytes"
	"reflect"
	"sort"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	msgs := sampleMessages()
	names := make([]string, 0, len(msgs))
	for n := range msgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			m := msgs[name]
			b, err := m.AppendTo(nil)
			if err != nil {
				t.Fatalf("AppendTo: %v", err)
			}
			var got Message
			if err := got.Decode(b); err != nil {
				t.Fatalf("Decode: %v\n% x", err, b)
			}
			b2, err := got.AppendTo(nil)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs:\n% x\n% x", b, b2)
			}
			normalize(m)
			normalize(&got)
			if !reflect.DeepEqual(m, &got) {
				t.Errorf("decoded message differs:\nwant %+v\ngot  %+v", m, &got)
			}
			t.Log(got.String())
		})
	}
}

// normalize makes empty slices nil so DeepEqual compares content only.
func normalize(m *Message) {
	if len(m.ClientSI) == 0 {
		m.ClientSI = nil
	}
	if len(m.Decisions) == 0 {
		m.Decisions = nil
	}
	if len(m.LPDPDecisions) == 0 {
		m.LPDPDecisions = nil
	}
}

// Named ClientSI (C-Type 2) is not in the samples because Wireshark decodes
// it as COPS-PR BER; its round trip is checked here.
func TestNamedClientSIRoundTrip(t *testing.T) {
	m := &Message{Header: Header{Op: OpRPT, ClientType: ClientTypeSession}, Handle: 2, ReportType: ReportAccounting,
		ClientSI: []ClientSI{{Named: true, Data: []byte("acct")}}}
	b, err := m.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Message
	if err := got.Decode(b); err != nil {
		t.Fatal(err)
	}
	if len(got.ClientSI) != 1 || !got.ClientSI[0].Named || string(got.ClientSI[0].Data) != "acct" {
		t.Fatalf("%+v", got.ClientSI)
	}
}
