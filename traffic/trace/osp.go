package trace

import (
	"fmt"
	"strings"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/osp"
)

// ospInfo is what the verifier keeps of an OSP message.
type ospInfo struct {
	Kind   osp.Kind
	Status int // component status code of a response (0 if none)
	HTTP   string
}

var ospKinds = map[osp.Kind]flow.Kind{
	osp.KindAuthorizationRequest:  flow.OSPAuthReq,
	osp.KindAuthorizationResponse: flow.OSPAuthResp,
	osp.KindUsageIndication:       flow.OSPUsageInd,
	osp.KindUsageConfirmation:     flow.OSPUsageConf,
}

// ospState pairs HTTP responses with their requests: HTTP/1.1 answers in
// order on a connection, and a response component may not carry the
// CallId (UsageConfirmation never does).
type ospState struct {
	pending map[connKey][]string // call ids of unanswered requests
}

func newOSPState() ospState { return ospState{pending: map[connKey][]string{}} }

func (a *analyzer) onOSP(m *Message, data []byte) error {
	t, err := parseText(data)
	if err != nil {
		return fmt.Errorf("osp: http: %w", err)
	}
	info := &ospInfo{HTTP: t.Start}
	m.osp = info
	ck := connOf(m.Tuple)
	isResponse := strings.HasPrefix(t.Start, "HTTP/")
	var call string
	if isResponse {
		if q := a.osp.pending[ck]; len(q) > 0 {
			call, a.osp.pending[ck] = q[0], q[1:]
		}
	}
	if len(t.Body) == 0 {
		m.What = t.Start
		m.CallID = call
		if !isResponse {
			a.osp.pending[ck] = append(a.osp.pending[ck], "")
		}
		return nil
	}
	sum, err := peekOSP(t.Body)
	if err != nil {
		return err
	}
	info.Kind, info.Status = sum.Kind, sum.Status
	m.What, m.Kind = info.Kind.String(), ospKinds[info.Kind]
	if sum.CallID != "" {
		call = sum.CallID
	}
	if info.Status != 0 {
		m.What += fmt.Sprintf(" (%d)", info.Status)
	}
	if !isResponse {
		a.osp.pending[ck] = append(a.osp.pending[ck], call)
	}
	m.CallID = call
	return nil
}
