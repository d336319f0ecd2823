package cops

import (
	"reflect"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/flow"
)

func TestSessionRoundTrip(t *testing.T) {
	s := sampleSession()
	s.Result, s.Reason = 403, "OSP: no route"
	b, err := s.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Session
	if err := got.Decode(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, got) {
		t.Fatalf("\nwant %+v\ngot  %+v", s, got)
	}
	want := `session{call=a84b4c76e66710@198.18.1.2 side=orig from=sip:alice@198.18.1.2 to=sip:bob@198.18.4.2 class=EF bw=87200 media=[fwd udp 198.18.1.2:20000->198.18.4.2:30000, bwd udp 198.18.4.2:30000->198.18.1.2:20000] token=34B result=403 "OSP: no route"}`
	if got.String() != want {
		t.Errorf("String:\n got %s\nwant %s", got.String(), want)
	}
}

func TestSessionAlerting(t *testing.T) {
	s := sampleSession()
	s.Alerting = true
	b, err := s.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), string([]byte{10, 0, 1, 1})) {
		t.Errorf("alerting TLV missing at the end: % x", b)
	}
	var got Session
	if err := got.Decode(b); err != nil || !got.Alerting {
		t.Fatalf("%+v %v", got, err)
	}
	if !strings.Contains(got.String(), " alerting") {
		t.Errorf("String %s does not say alerting", got.String())
	}
	// Without the flag nothing is written: older decoders see the same bytes.
	s.Alerting = false
	plain, _ := s.AppendTo(nil)
	if len(plain) != len(b)-4 {
		t.Errorf("the flag cost %d octets, want 4", len(b)-len(plain))
	}
}

// TestSessionReleasedBy: tag 11 says whose BYE released the call (the
// caller's: 1, the callee's: 2), only when set.
func TestSessionReleasedBy(t *testing.T) {
	for _, side := range []flow.Side{flow.Originating, flow.Terminating} {
		s := sampleSession()
		s.ReleasedBy = side
		b, err := s.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(b), string([]byte{11, 0, 1, byte(side)})) {
			t.Errorf("released TLV missing at the end: % x", b)
		}
		var got Session
		if err := got.Decode(b); err != nil || got.ReleasedBy != side {
			t.Fatalf("%+v %v", got, err)
		}
		if !strings.Contains(got.String(), " released-by="+side.String()) {
			t.Errorf("String %s does not say who released", got.String())
		}
	}
	s := sampleSession()
	s.ReleasedBy = 3
	if _, err := s.AppendTo(nil); err == nil {
		t.Error("released by side 3 encoded")
	}
}

func TestSessionSkipsUnknownTags(t *testing.T) {
	b := []byte{1, 0, 0, 0, 200, 0, 2, 'z', 'z', 1, 0, 1, 'c'}
	var s Session
	if err := s.Decode(b); err != nil || s.CallID != "c" {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestSessionDecodeRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":          {},
		"version 2":      {2, 0, 0, 0},
		"truncated tlv":  {1, 0, 0, 0, 1, 0},
		"tlv overruns":   {1, 0, 0, 0, 1, 0, 9, 'a'},
		"bad side":       {1, 0, 0, 0, 2, 0, 1, 3},
		"bad media len":  {1, 0, 0, 0, 5, 0, 2, 1, 17},
		"bad media dir":  append([]byte{1, 0, 0, 0, 5, 0, 14, 9, 17}, make([]byte, 12)...),
		"bad bandwidth":  {1, 0, 0, 0, 7, 0, 1, 1},
		"short result":   {1, 0, 0, 0, 9, 0, 1, 1},
		"call id binary": {1, 0, 0, 0, 1, 0, 2, 0xff, 0xfe},
		"alerting 2":     {1, 0, 0, 0, 10, 0, 1, 2},
		"alerting long":  {1, 0, 0, 0, 10, 0, 2, 1, 1},
		"released 0":     {1, 0, 0, 0, 11, 0, 1, 0},
		"released 3":     {1, 0, 0, 0, 11, 0, 1, 3},
		"released long":  {1, 0, 0, 0, 11, 0, 2, 1, 1},
	}
	for name, b := range cases {
		var s Session
		err := s.Decode(b)
		if err == nil {
			t.Errorf("%s: decoded %+v", name, s)
		} else if !strings.HasPrefix(err.Error(), "cops: ") {
			t.Errorf("%s: %v lacks the prefix", name, err)
		}
	}
}

func TestKinds(t *testing.T) {
	for _, k := range []Kind{KindAAA, KindLDP, KindNoLDP} {
		if KindOf(k.Context()) != k {
			t.Errorf("%s does not survive its Context", k)
		}
	}
	if c := KindAAA.Context(); c.RType != 0x01 || c.MType != 1 {
		t.Errorf("AAA %+v", c)
	}
	if c := KindLDP.Context(); c.RType != 0x02 || c.MType != 2 {
		t.Errorf("LDP %+v", c)
	}
	if c := KindNoLDP.Context(); c.RType != 0x02 || c.MType != 3 {
		t.Errorf("noLDP %+v", c)
	}
	if KindOf(Context{RType: RTypeConfigure}) != KindUnknown {
		t.Error("config context has a kind")
	}
}
