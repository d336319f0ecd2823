package clearinghouse

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/osp"
)

// service answers OSP requests: authorisation by policy with a signed
// token, online token validation, usage recording. It implements
// osp.Responder; the HTTP side is osp.Handler.
type service struct {
	cfg      config
	signer   *osp.Signer
	verifier *osp.Verifier
	store    *usage.Store
	log      *slog.Logger
	nameOf   func(netip.Addr) string
	now      func() time.Time
}

var _ osp.Responder = (*service)(nil)

// peerName maps "addr:port" to the lab node name (or the address).
func (s *service) peerName(peer string) string {
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		return peer
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if n := s.nameOf(a.Unmap()); n != "" {
		return n
	}
	return host
}

func (s *service) logMsg(dir string, req osp.Kind, role, callID, peer string) {
	what := req
	if dir == nodes.Sent {
		what = answerKind(req)
	}
	step, _ := stepOf(dir, req, role)
	nodes.LogMessage(s.log, nodes.Message{
		Dir: dir, Proto: "osp", What: what.String(), CallID: callID,
		Flow: string(step.Phase), Step: step.N, Peer: peer,
	})
}

// Authorize implements osp.Responder (docs/FLOW.md setup 3/4 and 8/9).
func (s *service) Authorize(_ context.Context, peer string, req *osp.AuthorizationRequest) *osp.AuthorizationResponse {
	side, callID, who := req.Side(), string(req.CallID), s.peerName(peer)
	s.logMsg(nodes.Received, osp.KindAuthorizationRequest, side, callID, who)
	resp := s.authorize(req)
	s.logMsg(nodes.Sent, osp.KindAuthorizationRequest, side, callID, who)
	s.log.Info("authorisation", "call", callID, "side", side, "source", req.SourceInfo.Value,
		"destination", req.DestinationInfo.Value, "status", resp.Status.String(), "transaction", resp.TransactionID)
	return resp
}

func (s *service) authorize(req *osp.AuthorizationRequest) *osp.AuthorizationResponse {
	now := s.now()
	resp := &osp.AuthorizationResponse{ComponentID: req.ComponentID, Timestamp: osp.At(now)}
	refuse := func(code osp.StatusCode, why string) *osp.AuthorizationResponse {
		resp.Status = osp.Status{Code: code, Description: why}
		return resp
	}
	if len(req.CallID) == 0 {
		return refuse(osp.StatusBadRequest, "CallId missing")
	}
	if req.SourceInfo.Value == "" || req.DestinationInfo.Value == "" {
		return refuse(osp.StatusBadRequest, "SourceInfo and DestinationInfo are required")
	}
	switch req.Role {
	case "", osp.RoleSource, osp.RoleDestination:
	default:
		return refuse(osp.StatusBadRequest, fmt.Sprintf("Role %q, want source or destination", req.Role))
	}
	txID := ""
	if len(req.Token) > 0 {
		// The terminating side presents the token the originating side
		// was issued: it must be ours, for this call and these parties,
		// and unused.
		ti, err := s.verifier.Verify(req.Token, osp.Expect{
			CallID: string(req.CallID), Source: req.SourceInfo.Value, Destination: req.DestinationInfo.Value,
		})
		if err != nil {
			resp.Status = osp.TokenStatus(err)
			return resp
		}
		txID = ti.TransactionID // both sides' usage refers to one transaction
	}
	d := s.cfg.policy.Decide(req.SourceInfo.Value, req.DestinationInfo.Value)
	if !d.Allow {
		return refuse(osp.StatusCode(d.Code), d.Reason)
	}
	if txID == "" {
		txID = osp.NewTransactionID()
	}
	dst := osp.Destination{
		DestinationInfo:          req.DestinationInfo,
		DestinationSignalAddress: destinationAddress(req),
		ValidAfter:               osp.At(now.Add(-time.Second).Truncate(time.Second)),
		ValidUntil:               osp.At(now.Add(s.cfg.tokenTTL).Truncate(time.Second)),
		UsageDetail:              &osp.UsageDetail{Amount: s.cfg.maxDuration, Increment: 1, Unit: "s"},
		CallID:                   req.CallID,
		ServiceClass:             d.Class,
		Bandwidth:                d.Bandwidth,
	}
	tok, err := s.signer.Sign(&osp.TokenInfo{
		SourceInfo: req.SourceInfo, DestinationInfo: req.DestinationInfo, CallID: req.CallID,
		ValidAfter: dst.ValidAfter, ValidUntil: dst.ValidUntil, TransactionID: txID,
		UsageDetail: dst.UsageDetail, ServiceClass: d.Class, Bandwidth: d.Bandwidth,
	})
	if err != nil {
		return refuse(osp.StatusServerError, "token signing failed: "+err.Error())
	}
	dst.Token = tok
	resp.Status = osp.Status{Code: osp.StatusOK, Description: fmt.Sprintf("authorised %s %d bit/s", d.Class, d.Bandwidth)}
	resp.TransactionID = txID
	resp.Destinations = []osp.Destination{dst}
	return resp
}

// destinationAddress: the lab routes by SIP, not by OSP, so the signalling
// address is the requester's own alternate when given, else the called
// party.
func destinationAddress(req *osp.AuthorizationRequest) osp.Party {
	if req.DestinationAlternate != nil && req.DestinationAlternate.Value != "" {
		return *req.DestinationAlternate
	}
	return req.DestinationInfo
}

// ValidateToken implements osp.Responder (online token validation; not a
// docs/FLOW.md step). A token validated here is consumed.
func (s *service) ValidateToken(_ context.Context, peer string, ind *osp.AuthorizationIndication) *osp.AuthorizationConfirmation {
	callID, who := string(ind.CallID), s.peerName(peer)
	s.logMsg(nodes.Received, osp.KindAuthorizationIndication, ind.Role, callID, who)
	cnf := &osp.AuthorizationConfirmation{ComponentID: ind.ComponentID, Timestamp: osp.At(s.now())}
	ti, err := s.verifier.Verify(ind.Token, osp.Expect{CallID: callID, Source: ind.SourceInfo.Value, Destination: ind.DestinationInfo.Value})
	if err != nil {
		cnf.Status = osp.TokenStatus(err)
	} else {
		cnf.Status = osp.Status{Code: osp.StatusOK, Description: "token valid"}
		cnf.ValidAfter, cnf.ValidUntil = ti.ValidAfter, ti.ValidUntil
	}
	s.logMsg(nodes.Sent, osp.KindAuthorizationIndication, ind.Role, callID, who)
	return cnf
}

// ReportUsage implements osp.Responder (docs/FLOW.md teardown 8/9 and 17/18).
// The confirmation is sent only once the record is durable; a repeated
// indication is confirmed again but stored once.
func (s *service) ReportUsage(ctx context.Context, peer string, ind *osp.UsageIndication) *osp.UsageConfirmation {
	callID, who := string(ind.CallID), s.peerName(peer)
	s.logMsg(nodes.Received, osp.KindUsageIndication, ind.Role, callID, who)
	cnf := &osp.UsageConfirmation{ComponentID: ind.ComponentID, Timestamp: osp.At(s.now())}
	cnf.Status = s.record(ctx, who, ind)
	s.logMsg(nodes.Sent, osp.KindUsageIndication, ind.Role, callID, who)
	s.log.Info("usage", "call", callID, "role", ind.Role, "transaction", ind.TransactionID, "status", cnf.Status.String())
	return cnf
}

func (s *service) record(ctx context.Context, reporter string, ind *osp.UsageIndication) osp.Status {
	if ind.TransactionID == "" {
		return osp.Status{Code: osp.StatusBadRequest, Description: "TransactionId missing"}
	}
	if ind.Role != osp.RoleSource && ind.Role != osp.RoleDestination {
		return osp.Status{Code: osp.StatusBadRequest, Description: fmt.Sprintf("Role %q, want source or destination", ind.Role)}
	}
	added, err := s.store.Insert(ctx, recordOf(reporter, ind, s.now()))
	if err != nil {
		return osp.Status{Code: osp.StatusServerError, Description: "usage store: " + err.Error()}
	}
	if !added {
		return osp.Status{Code: osp.StatusOK, Description: "already recorded"}
	}
	return osp.Status{Code: osp.StatusOK, Description: "recorded"}
}

// recordOf turns a usage indication into a store record.
func recordOf(reporter string, ind *osp.UsageIndication, now time.Time) usage.Record {
	u := ind.UsageDetail
	r := usage.Record{
		TransactionID: ind.TransactionID, Role: ind.Role, CallID: string(ind.CallID),
		Source: ind.SourceInfo.Value, Destination: ind.DestinationInfo.Value, Reporter: reporter,
		ServiceClass: ind.ServiceClass, Bandwidth: ind.Bandwidth,
		Duration: u.Amount, Unit: u.Unit,
		StartTime: u.StartTime.Time, AlertTime: u.AlertTime.Time, ConnectTime: u.ConnectTime.Time, EndTime: u.EndTime.Time,
		PostDialDelay: u.PostDialDelay, ReleaseSource: u.ReleaseSource, ReceivedAt: now,
	}
	if tc := u.TerminationCause; tc != nil {
		r.TerminationCause, r.TerminationText = tc.TCCode, tc.Description
	}
	if m := ind.Marked; m != nil {
		r.CountersKnown, r.CountersLost = true, m.CountersLost
		r.Packets, r.Octets = clampInt64(m.Packets), clampInt64(m.Octets)
	}
	return r
}

// clampInt64 converts a counter to the store's integer type; SQLite has no
// unsigned 64-bit integers.
func clampInt64(v uint64) int64 { return int64(min(v, math.MaxInt64)) }

// refused logs a body the handler refused before it reached the service.
// Its side is unknown, so it carries no docs/FLOW.md step.
func (s *service) refused(peer string, kind osp.Kind, st osp.Status) {
	who := s.peerName(peer)
	if kind != osp.KindUnknown {
		for _, m := range []nodes.Message{
			{Dir: nodes.Received, Proto: "osp", What: kind.String(), Peer: who},
			{Dir: nodes.Sent, Proto: "osp", What: answerKind(kind).String(), Peer: who},
		} {
			nodes.LogMessage(s.log, m)
		}
	}
	s.log.Warn("osp request refused", "peer", who, "kind", kind.String(), "status", st.String())
}
