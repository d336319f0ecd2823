package ua

import (
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes/nodestest"
)

func TestReadParams(t *testing.T) {
	env := testEnv(t, "uac", "uac", &nodestest.Log{}, map[string]string{
		"proxy": "uas", "proxy_port": "5070", "callee": "uas", "ring": "1s", "hangup": "UAS", "dscp": "0x2e",
	})
	p, err := readParams(env, 20000)
	if err != nil {
		t.Fatal(err)
	}
	if p.sipPort != 5060 || p.rtpBase != 20000 || p.proxy.String() != "127.0.0.1:5070" || p.proxyName != "uas" ||
		p.ring != time.Second || p.talk != defaultTalk || !p.hangupUAS || p.dscp != 46 || p.callee != "uas" {
		t.Fatalf("params %+v", p)
	}
	if p, err := readParams(testEnv(t, "uac", "uac", &nodestest.Log{}, nil), 30000); err != nil || p.proxy.IsValid() || p.rtpBase != 30000 || p.ring != defaultRing {
		t.Fatalf("defaults: %+v %v", p, err)
	}
	for _, bad := range []map[string]string{
		{"sip_port": "0"},
		{"rtp_port": "70000"},
		{"callee_port": "x"},
		{"proxy": "nowhere"},
		{"ring": "soon"},
		{"talk": "-"},
		{"hangup": "both"},
		{"dscp": "64"},
	} {
		if _, err := readParams(testEnv(t, "uac", "uac", &nodestest.Log{}, bad), 20000); err == nil || !strings.HasPrefix(err.Error(), "ua: ") {
			t.Errorf("params %v: err %v, want a ua: error", bad, err)
		}
	}
}

func TestCallSpec(t *testing.T) {
	p := params{callee: "uas", dscp: 10}
	s, err := p.spec(CallRequest{})
	if err != nil || s.to != "uas" || s.talk != defaultTalk || s.ring != nil || s.hangup != "" || s.dscp != 10 || s.codecs[0].Name != "PCMU" {
		t.Fatalf("defaults %+v %v", s, err)
	}
	d := uint8(46)
	s, err = p.spec(CallRequest{To: "x", Talk: "1s", Ring: "0s", Hangup: "UAS", DSCP: &d, Codec: "pcma"})
	if err != nil || s.to != "x" || s.talk != time.Second || *s.ring != 0 || s.hangup != "uas" || s.dscp != 46 || s.codecs[0].Name != "PCMA" {
		t.Fatalf("spec %+v %v", s, err)
	}
	big := uint8(64)
	for _, r := range []CallRequest{{Talk: "x"}, {Ring: "-1s"}, {Hangup: "me"}, {DSCP: &big}, {Codec: "G729"}} {
		if _, err := p.spec(r); err == nil {
			t.Errorf("accepted %+v", r)
		}
	}
	if _, err := (params{}).spec(CallRequest{}); err == nil {
		t.Error("accepted a call with no callee")
	}
}
