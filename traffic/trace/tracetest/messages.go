package tracetest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/osp"
)

// sipDialog builds the SIP messages of one call with sipgo's sip package.
type sipDialog struct {
	callID         string
	uac, uas       netip.Addr
	offer, answer  netip.AddrPort
	invite, bye    *sip.Request
	byeFromCallee  bool
	fromTag, toTag string
}

func sdpBody(ap netip.AddrPort) []byte {
	a := ap.Addr().String()
	return []byte("v=0\r\no=- 1 1 IN IP4 " + a + "\r\ns=qoslab\r\nc=IN IP4 " + a +
		"\r\nt=0 0\r\nm=audio " + strconv.Itoa(int(ap.Port())) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n")
}

func sipURI(user string, a netip.Addr) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: a.String(), Port: 5060}
}

func (d *sipDialog) request(method sip.RequestMethod, cseq uint32, viaHost netip.Addr, branch string, body []byte) *sip.Request {
	target, from, to := sipURI("uas", d.uas), sipURI("uac", d.uac), sipURI("uas", d.uas)
	fromTag, toTag := d.fromTag, d.toTag
	if method == sip.BYE && d.byeFromCallee {
		target, from, to = sipURI("uac", d.uac), sipURI("uas", d.uas), sipURI("uac", d.uac)
		fromTag, toTag = d.toTag, d.fromTag
	}
	r := sip.NewRequest(method, target)
	r.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP "+viaHost.String()+":5060;branch=z9hG4bK"+branch))
	r.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	r.AppendHeader(sip.NewHeader("From", "<"+from.String()+">;tag="+fromTag))
	toVal := "<" + to.String() + ">"
	if method != sip.INVITE {
		toVal += ";tag=" + toTag
	}
	r.AppendHeader(sip.NewHeader("To", toVal))
	r.AppendHeader(sip.NewHeader("Call-ID", d.callID))
	r.AppendHeader(sip.NewHeader("CSeq", strconv.Itoa(int(cseq))+" "+string(method)))
	if body != nil {
		r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	r.SetBody(body)
	return r
}

func (d *sipDialog) response(req *sip.Request, code int, reason string, body []byte, extra ...sip.Header) []byte {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	// sipgo tags the To of a response with a random tag; a test capture
	// must be the same every run, so the dialog's own tag is used.
	if to := req.GetHeader("To"); to != nil && !strings.Contains(to.Value(), ";tag=") {
		res.RemoveHeader("To")
		res.AppendHeader(sip.NewHeader("To", to.Value()+";tag="+d.toTag))
	}
	for _, h := range extra {
		res.AppendHeader(h)
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.SetBody(body)
	return []byte(res.String())
}

// copsSession builds a COPS message of the private client-type.
func copsSession(op cops.OpCode, h cops.Handle, kind cops.Kind, s *cops.Session, cmd cops.Command) ([]byte, error) {
	data, err := s.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	m := cops.Message{Header: cops.Header{Op: op, ClientType: cops.ClientTypeSession}, Handle: h, HasHandle: true}
	switch op {
	case cops.OpREQ:
		m.Context = kind.Context()
		m.ClientSI = []cops.ClientSI{{Data: data}}
	case cops.OpDEC:
		m.Flags = cops.FlagSolicited
		m.Decisions = []cops.Decision{{Context: kind.Context(), Command: cmd, ClientData: data}}
	default:
		return nil, fmt.Errorf("tracetest: no session COPS %s", op)
	}
	return m.AppendTo(nil)
}

// copsPCMM builds a PCMM DEC (policy server to router) or RPT (back).
func copsPCMM(op cops.OpCode, h cops.Handle, p *cops.PCMM) ([]byte, error) {
	data, err := p.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	m := cops.Message{Header: cops.Header{Op: op, ClientType: cops.ClientTypePCMM}, Handle: h, HasHandle: true}
	if op == cops.OpDEC {
		m.Decisions = []cops.Decision{{Context: cops.Context{RType: cops.RTypeConfigure}, Command: cops.CommandInstall, ClientData: data}}
	} else {
		m.Flags = cops.FlagSolicited
		m.ReportType = cops.ReportSuccess
		m.ClientSI = []cops.ClientSI{{Data: data}} // signaled, as the router (a copsconn PCMM PEP) sends it
	}
	return m.AppendTo(nil)
}

func gateSet(tid uint16, src, dst netip.AddrPort) *cops.PCMM {
	p := &cops.PCMM{TransactionID: tid, Command: cops.GateSet, HasAMID: true, AMID: cops.AMID{AppType: 1, Tag: 0x5153},
		SubscriberID: src.Addr(), HasGateSpec: true}
	p.GateSpec.SetDSCP(46)
	p.Classifiers = []cops.Classifier{{Proto: 17, Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(), Priority: 64}}
	return p
}

// ospHTTP wraps an OSP message in an HTTP/1.1 request or response. A
// chunked response exercises the verifier's chunked decoding.
func ospHTTP(m *osp.Message, request, chunked bool) ([]byte, error) {
	body, err := osp.Marshal(m)
	if err != nil {
		return nil, err
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
	if request {
		head = "POST /osp HTTP/1.1\r\nHost: ch:1080\r\nContent-Type: text/plain; charset=utf-8\r\n"
	}
	if !chunked {
		return []byte(head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)), nil
	}
	half := len(body) / 2
	return []byte(head + "Transfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(half), 16) + "\r\n" + string(body[:half]) + "\r\n" +
		strconv.FormatInt(int64(len(body)-half), 16) + "\r\n" + string(body[half:]) + "\r\n0\r\n\r\n"), nil
}

func ospAuthReq(t time.Time, callID, role string) *osp.Message {
	return &osp.Message{MessageID: callID + role, Random: "1", AuthorizationRequest: &osp.AuthorizationRequest{
		Timestamp: osp.At(t), CallID: osp.Base64(callID), Role: role,
		SourceInfo:      osp.Party{Type: osp.PartySIP, Value: "sip:uac@qoslab"},
		DestinationInfo: osp.Party{Type: osp.PartySIP, Value: "sip:uas@qoslab"},
	}}
}

func ospAuthResp(t time.Time, callID string, code osp.StatusCode) *osp.Message {
	r := &osp.AuthorizationResponse{Timestamp: osp.At(t), Status: osp.Status{Code: code}, TransactionID: "7"}
	if code == osp.StatusOK {
		r.Destinations = []osp.Destination{{
			DestinationInfo: osp.Party{Type: osp.PartySIP, Value: "sip:uas@qoslab"},
			Token:           osp.Base64("token-" + callID), CallID: osp.Base64(callID),
			ValidAfter: osp.At(t), ValidUntil: osp.At(t.Add(time.Hour)),
		}}
	} else {
		r.Status.Description = "policy refuses this destination"
	}
	return &osp.Message{MessageID: callID + "r", Random: "2", AuthorizationResponse: r}
}

func ospUsage(t time.Time, callID, role string) *osp.Message {
	return &osp.Message{MessageID: callID + "u" + role, Random: "3", UsageIndication: &osp.UsageIndication{
		Timestamp: osp.At(t), Role: role, TransactionID: "7", CallID: osp.Base64(callID),
		UsageDetail: osp.UsageDetail{Amount: 1, Increment: 1, Unit: "s", StartTime: osp.At(t), EndTime: osp.At(t)},
	}}
}

func ospUsageConf(t time.Time) *osp.Message {
	return &osp.Message{MessageID: "c", Random: "4", UsageConfirmation: &osp.UsageConfirmation{Timestamp: osp.At(t), Status: osp.Status{Code: osp.StatusOK}}}
}

// rtpPacket is one G.711 20 ms packet.
func rtpPacket(ssrc uint32, seq uint16, marker bool) ([]byte, error) {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc, Marker: marker}, Payload: make([]byte, 160)}
	return p.Marshal()
}
