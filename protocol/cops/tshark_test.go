package cops

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestTsharkCrossCheck writes every sample message into a pcap (TCP 3288
// for the session client type, 3918 for PCMM), has Wireshark's COPS
// dissector decode it, and checks that every field we put in comes out with
// the same value and that nothing is reported malformed. Wireshark does not
// know client-type 0x5153's session data, so on that leg only the COPS
// framing and objects are checked.
func TestTsharkCrossCheck(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark); CI runs this cross-check")
	}
	msgs := sampleMessages()
	var names []string
	for n := range msgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, leg := range []struct {
		port uint16
		pcmm bool
	}{{3288, false}, {3918, true}} {
		var payloads [][]byte
		var up []bool
		var sent []*Message
		for _, n := range names {
			m := msgs[n]
			if (m.ClientType == ClientTypePCMM) != leg.pcmm {
				continue
			}
			b, err := m.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, b)
			up = append(up, true)
			sent = append(sent, m)
		}
		path := filepath.Join(t.TempDir(), fmt.Sprintf("cops-%d.pcap", leg.port))
		writePcap(t, path, leg.port, payloads, up)
		out, err := exec.Command(tshark, "-r", path, "-T", "json", "--no-duplicate-keys").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		var frames []struct {
			Source struct {
				Layers map[string]any `json:"layers"`
			} `json:"_source"`
		}
		if err := json.Unmarshal(out, &frames); err != nil {
			t.Fatalf("tshark JSON: %v", err)
		}
		if len(frames) != len(sent) {
			t.Fatalf("tshark saw %d frames, wrote %d", len(frames), len(sent))
		}
		for i, fr := range frames {
			m := sent[i]
			all := flatten(fr.Source.Layers, "")
			for _, f := range all {
				if strings.HasPrefix(f.k, "_ws.malformed") {
					t.Errorf("%s: Wireshark reports a malformed packet: %v", m.Op, f)
				}
			}
			cops, ok := fr.Source.Layers["cops"]
			if !ok {
				t.Errorf("frame %d (%s): no COPS layer", i+1, m.String())
				continue
			}
			got := flatten(cops, "")
			for _, f := range got {
				if strings.HasPrefix(f.k, "_ws.expert") || f.k == "cops.trailing_garbage" || f.k == "cops.bad_cops_object_length" || f.k == "cops.unknown_c_num" {
					t.Errorf("frame %d (%s): Wireshark complains: %s=%s", i+1, m.Op, f.k, f.v)
				}
			}
			for _, w := range expectFields(m, len(payloads[i])) {
				if !hasField(got, w) {
					t.Errorf("frame %d %s: want %s=%s; Wireshark has %v", i+1, m.String(), w.k, w.v, values(got, w.k))
				}
			}
		}
	}
}

type kv struct{ k, v string }

// flatten collects the leaf fields of tshark's JSON tree.
func flatten(o any, key string) []kv {
	switch o := o.(type) {
	case map[string]any:
		var out []kv
		for k, v := range o {
			if strings.HasPrefix(k, "_ws.") && !isLeaf(v) {
				out = append(out, kv{k, "<tree>"})
			}
			out = append(out, flatten(v, k)...)
		}
		return out
	case []any:
		var out []kv
		for _, v := range o {
			out = append(out, flatten(v, key)...)
		}
		return out
	case string:
		return []kv{{key, o}}
	}
	return nil
}

func isLeaf(v any) bool { _, ok := v.(string); return ok }

func values(fs []kv, k string) []string {
	var out []string
	for _, f := range fs {
		if f.k == k {
			out = append(out, f.v)
		}
	}
	return out
}

// hasField compares numerically when both sides are numbers (tshark
// prints hex for some fields), textually otherwise.
func hasField(fs []kv, w kv) bool {
	for _, f := range fs {
		if f.k != w.k {
			continue
		}
		if f.v == w.v {
			return true
		}
		a, e1 := strconv.ParseUint(f.v, 0, 64)
		b, e2 := strconv.ParseUint(w.v, 0, 64)
		if e1 == nil && e2 == nil && a == b {
			return true
		}
	}
	return false
}

func u(v any) string { return fmt.Sprint(v) }

// expectFields lists the Wireshark fields and values m must decode to.
func expectFields(m *Message, n int) []kv {
	f := []kv{{"cops.version", "1"}, {"cops.op_code", u(uint8(m.Op))}, {"cops.flags", u(uint8(m.Flags))},
		{"cops.client_type", u(uint16(m.ClientType))}, {"cops.msg_len", u(n)}}
	add := func(k string, v any) { f = append(f, kv{k, u(v)}) }
	switch m.Op {
	case OpREQ, OpDEC, OpRPT, OpDRQ:
		add("cops.handle", uint32(m.Handle))
	case OpSSQ, OpSSC:
		if m.HasHandle {
			add("cops.handle", uint32(m.Handle))
		}
	}
	ctx := func(c Context) {
		add("cops.context.r_type", uint16(c.RType))
		add("cops.context.m_type", c.MType)
	}
	if m.Op == OpREQ {
		ctx(m.Context)
	}
	for _, itf := range []struct {
		name string
		i    Interface
	}{{"in", m.InInterface}, {"out", m.OutInterface}} {
		if itf.i.Addr.IsValid() {
			fam := "ipv4"
			if itf.i.Addr.Is6() {
				fam = "ipv6"
			}
			add("cops."+itf.name+"-int."+fam, itf.i.Addr)
			add("cops.in-out-int.ifindex", itf.i.IfIndex)
		}
	}
	for _, d := range append(append([]Decision(nil), m.Decisions...), m.LPDPDecisions...) {
		if d.Context.RType != 0 {
			ctx(d.Context)
		}
		add("cops.decision.cmd", uint16(d.Command))
		add("cops.decision.flags", uint16(d.Flags))
	}
	if m.Error.Code != 0 {
		add("cops.error", uint16(m.Error.Code))
		add("cops.error_sub", m.Error.Subcode)
	}
	switch m.Op {
	case OpDRQ:
		add("cops.reason", uint16(m.Reason.Code))
		add("cops.reason_sub", m.Reason.Subcode)
	case OpRPT:
		add("cops.report_type", uint16(m.ReportType))
	case OpOPN:
		add("cops.pepid.id", m.PEPID)
		if m.LastPDP.IsValid() {
			add("cops.lastpdpaddr."+fam(m.LastPDP.Addr()), m.LastPDP.Addr())
			add("cops.pdp.tcp_port", m.LastPDP.Port())
		}
	case OpCAT:
		add("cops.katimer.value", m.KATimer)
		if m.AcctTimer != 0 {
			add("cops.accttimer.value", m.AcctTimer)
		}
	case OpCC:
		if m.Redirect.IsValid() {
			add("cops.pdprediraddr."+fam(m.Redirect.Addr()), m.Redirect.Addr())
			add("cops.pdp.tcp_port", m.Redirect.Port())
		}
	}
	if m.HasIntegrity {
		add("cops.integrity.key_id", m.Integrity.KeyID)
		add("cops.integrity.seq_num", m.Integrity.Seq)
	}
	if m.ClientType == ClientTypePCMM {
		var data [][]byte
		for _, si := range m.ClientSI {
			data = append(data, si.Data)
		}
		for _, d := range m.Decisions {
			if d.ClientData != nil {
				data = append(data, d.ClientData)
			}
		}
		for _, b := range data {
			var p PCMM
			if err := p.Decode(b); err != nil {
				panic(err)
			}
			f = append(f, pcmmFields(&p)...)
		}
	}
	return f
}

// hexColons renders bytes as Wireshark prints FT_BYTES: "00:01:e2:40".
func hexColons(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

func fam(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// pcmmFields lists the Wireshark fields of the PCMM objects.
func pcmmFields(p *PCMM) []kv {
	var f []kv
	add := func(k string, v any) { f = append(f, kv{"cops." + k, u(v)}) }
	if p.Command != 0 {
		add("pc_transaction_id", p.TransactionID)
		add("pc_gate_command_type", uint16(p.Command))
	}
	if p.HasAMID {
		add("pc_mm_amid_application_type", p.AMID.AppType)
		add("pc_mm_amid_am_tag", p.AMID.Tag)
	}
	if a := p.SubscriberID; a.IsValid() {
		if a.Is4() {
			add("pc_subscriber_id4", a)
		} else {
			add("pc_subscriber_id6", a)
		}
	}
	if p.HasGateID {
		add("pc_gate_id", p.GateID)
	}
	if p.HasGateSpec {
		g := p.GateSpec
		add("pc_mm_gs_flags", uint8(g.Flags))
		add("pc_mm_gs_dscp", g.TOSOverwrite)
		add("pc_mm_gs_dscp_mask", g.TOSMask)
		add("pc_mm_gs_scid", g.SessionClass)
		add("pc_mm_gs_timer_t1", g.T1)
		add("pc_mm_gs_timer_t2", g.T2)
		add("pc_mm_gs_timer_t3", g.T3)
		add("pc_mm_gs_timer_t4", g.T4)
	}
	for _, c := range p.Classifiers {
		add("pc_mm_classifier_proto_id", c.Proto)
		add("pc_mm_classifier_dscp", c.TOS)
		add("pc_mm_classifier_dscp_mask", c.TOSMask)
		add("pc_mm_classifier_src_addr", c.Src)
		add("pc_mm_classifier_dst_addr", c.Dst)
		add("pc_mm_classifier_src_port", c.SrcPort)
		add("pc_mm_classifier_dst_port", c.DstPort)
		add("pc_mm_classifier_priority", c.Priority)
		if c.Extended {
			add("pc_mm_classifier_src_mask", c.SrcMask)
			add("pc_mm_classifier_dst_mask", c.DstMask)
			add("pc_mm_classifier_src_port_end", c.SrcPortEnd)
			add("pc_mm_classifier_dst_port_end", c.DstPortEnd)
			add("pc_mm_classifier_id", c.ID)
			add("pc_mm_classifier_activation_state", c.Activation)
			add("pc_mm_classifier_action", c.Action)
		}
	}
	switch tp := p.TrafficProfile; tp.Kind {
	case ProfileServiceClassName:
		add("pc_mm_envelope", tp.Envelope)
		add("pc_mm_docsis_scn", tp.ServiceClassName)
	case ProfileFlowSpec:
		add("pc_mm_fs_envelope", tp.Envelope)
		add("pc_mm_fs_svc_num", tp.ServiceNumber)
		for _, e := range tp.FlowSpec[:envelopes(tp.Envelope)] {
			add("pc_token_bucket_rate", e.TokenRate)
			add("pc_token_bucket_size", e.BucketSize)
			add("pc_peak_data_rate", e.PeakRate)
			add("pc_min_policed_unit", e.MinPoliced)
			add("pc_max_packet_size", e.MaxPacket)
			add("pc_spec_rate", e.Rate)
			add("pc_slack_term", e.Slack)
		}
	}
	if p.HasEventGenInfo {
		e := p.EventGenInfo
		add("pc_prks_ip", e.PrimaryRKS.Addr())
		add("pc_prks_ip_port", e.PrimaryRKS.Port())
		add("pc_srks_ip", e.SecondaryRKS.Addr())
		add("pc_srks_ip_port", e.SecondaryRKS.Port())
		bcid := e.BillingCorrelationID[:]
		add("pc_bcid_ts", binary.BigEndian.Uint32(bcid))
		add("pc_bcid.id", strings.TrimRight(string(bcid[4:12]), "\x00"))
		add("pc_bcid.tz", strings.TrimRight(string(bcid[12:20]), "\x00"))
		add("pc_bcid_ev", binary.BigEndian.Uint32(bcid[20:]))
	}
	if p.HasUsagePackets {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], p.UsagePackets)
		add("opaque_data", hexColons(b[:]))
	}
	if p.HasVolumeLimit {
		add("pc_mm_vbul_ul", p.VolumeLimit)
	}
	if p.HasTimeLimit {
		add("pc_mm_tbul_ul", p.TimeLimit)
	}
	if p.HasGateTimeInfo {
		add("pc_mm_gti", p.GateTimeInfo)
	}
	if p.HasGateUsageInfo {
		add("pc_mm_gui", p.GateUsageInfo)
	}
	if p.Error.Code != 0 {
		// Wireshark 4.0 fills pc_mm_error_esc with the error code again
		// and shows the sub-code only as text, so only the code is checked.
		add("pc_mm_error_ec", uint16(p.Error.Code))
	}
	if p.HasGateState {
		add("pc_mm_gs_state", p.GateState.State)
		add("pc_mm_gs_reason", p.GateState.Reason)
	}
	if p.HasVersion {
		add("pc_mm_vi_major", p.Version.Major)
		add("pc_mm_vi_minor", p.Version.Minor)
	}
	return f
}
