package clearinghouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/osp"
)

// service answers OSP requests: authorisation by policy with a signed
// token, online token validation, reauthorisation, capabilities, usage
// recording. It implements osp.Responder; the HTTP side is osp.Handler.
// Every request must come from a policy server (peers.authenticate).
type service struct {
	cfg      config
	signer   *osp.Signer
	verifier *osp.Verifier
	store    *usage.Store
	ledger   *ledger
	peers    peers
	routes   routes
	log      *slog.Logger
	now      func() time.Time
}

var _ osp.Responder = (*service)(nil)

func (s *service) logMsg(dir string, req osp.Kind, role, callID, peer string) {
	what := req
	if dir == nodes.Sent {
		what = req.Answer()
	}
	step, _ := stepOf(dir, req, role)
	nodes.LogMessage(s.log, nodes.Message{
		Dir: dir, Proto: "osp", What: what.String(), CallID: callID,
		Flow: string(step.Phase), Step: step.N, Peer: peer,
	})
}

// exchange is one request: it authenticates the sender, logs the request
// and its answer, and runs work for a policy server; anyone else gets the
// refusal. A message is logged under its requester's role, which gives it
// its docs/FLOW.md step, unless the sender may not use the clearinghouse
// at all: a stranger's request is no step of any call's flow, whatever
// call id it names (it is logged without one, like a body refused before
// decoding).
func (s *service) exchange(peer osp.Peer, kind osp.Kind, role, callID string, work func(node string) osp.Status) osp.Status {
	who := s.peers.name(peer)
	node, denied := s.peers.authenticate(peer)
	if denied != nil {
		role = ""
	}
	s.logMsg(nodes.Received, kind, role, callID, who)
	var st osp.Status
	if denied != nil {
		st = s.refusal(kind, who, callID, *denied)
	} else {
		st = work(node)
	}
	s.logMsg(nodes.Sent, kind, role, callID, who)
	return st
}

// refusal logs why a request was refused and returns its status.
func (s *service) refusal(kind osp.Kind, who, callID string, st osp.Status) osp.Status {
	s.log.Warn("osp request refused", "kind", kind.String(), "peer", who, "call", callID, "status", st.String())
	return st
}

// Authorize implements osp.Responder (docs/FLOW.md setup 3/4 and 8/9).
func (s *service) Authorize(ctx context.Context, peer osp.Peer, req *osp.AuthorizationRequest) *osp.AuthorizationResponse {
	resp := &osp.AuthorizationResponse{ComponentID: req.ComponentID, Timestamp: osp.At(s.now())}
	resp.Status = s.exchange(peer, osp.KindAuthorizationRequest, req.Side(), string(req.CallID), func(node string) osp.Status {
		s.authorize(ctx, node, req, resp)
		return resp.Status
	})
	s.log.Info("authorisation", "call", string(req.CallID), "side", req.Side(), "source", req.SourceInfo.Value,
		"destination", req.DestinationInfo.Value, "status", resp.Status.String(), "transaction", resp.TransactionID,
		"destinations", len(resp.Destinations))
	return resp
}

func (s *service) authorize(ctx context.Context, node string, req *osp.AuthorizationRequest, resp *osp.AuthorizationResponse) {
	now := s.now()
	refuse := func(code osp.StatusCode, why string) {
		resp.Status = s.refusal(osp.KindAuthorizationRequest, node, string(req.CallID), osp.Status{Code: code, Description: why})
	}
	if len(req.CallID) == 0 {
		refuse(osp.StatusBadRequest, "CallId missing")
		return
	}
	if req.SourceInfo.Value == "" || req.DestinationInfo.Value == "" {
		refuse(osp.StatusBadRequest, "SourceInfo and DestinationInfo are required")
		return
	}
	switch req.Role {
	case "", osp.RoleSource, osp.RoleDestination:
	default:
		refuse(osp.StatusBadRequest, fmt.Sprintf("Role %q, want source or destination", req.Role))
		return
	}
	if req.MaximumDestinations < 0 {
		refuse(osp.StatusBadRequest, fmt.Sprintf("MaximumDestinations %d is negative", req.MaximumDestinations))
		return
	}
	txID := ""
	if len(req.Token) > 0 {
		// The terminating side presents the token the originating side
		// was issued: it must be ours, for this call and these parties,
		// and unused; the transaction is then this policy server's to
		// report on the destination side.
		ti, err := s.verifier.Verify(req.Token, osp.Expect{
			CallID: string(req.CallID), Source: req.SourceInfo.Value, Destination: req.DestinationInfo.Value,
		})
		if err != nil {
			resp.Status = s.tokenRefusal(osp.KindAuthorizationRequest, node, string(req.CallID), err)
			return
		}
		if st := s.claimDestination(ctx, ti.TransactionID, node); st != nil {
			resp.Status = s.refusal(osp.KindAuthorizationRequest, node, string(req.CallID), *st)
			return
		}
		txID = ti.TransactionID // both sides' usage refers to one transaction
	}
	d := s.cfg.policy.Decide(req.SourceInfo.Value, req.DestinationInfo.Value)
	if !d.Allow {
		refuse(osp.StatusCode(d.Code), d.Reason)
		return
	}
	// ETSI TS 101 321 MaximumDestinations: at most that many routes;
	// absent (or 0) means the one best route.
	dsts := s.routes.destinations(req.DestinationInfo.Value)
	if len(dsts) == 0 {
		refuse(osp.StatusNoRoute, fmt.Sprintf("no route to %s: it names no node of this lab", req.DestinationInfo.Value))
		return
	}
	dsts = dsts[:min(len(dsts), max(req.MaximumDestinations, 1))]
	validAfter := osp.At(now.Add(-time.Second).Truncate(time.Second))
	validUntil := osp.At(now.Add(s.cfg.tokenTTL).Truncate(time.Second))
	if txID == "" {
		txID = osp.NewTransactionID()
		if err := s.ledger.issue(ctx, transaction{ID: txID, CallID: string(req.CallID),
			Source: req.SourceInfo.Value, Destination: req.DestinationInfo.Value,
			SourceNode: node, IssuedAt: now, ValidUntil: validUntil.Time}); err != nil {
			refuse(osp.StatusServerError, err.Error())
			return
		}
	}
	for _, sig := range dsts {
		dst, err := s.destination(req.SourceInfo, req.DestinationInfo, sig, req.CallID, txID, validAfter, validUntil, d.Class, d.Bandwidth)
		if err != nil {
			refuse(osp.StatusServerError, err.Error())
			resp.Destinations = nil
			return
		}
		resp.Destinations = append(resp.Destinations, dst)
	}
	resp.Status = osp.Status{Code: osp.StatusOK, Description: fmt.Sprintf("authorised %s %d bit/s", d.Class, d.Bandwidth)}
	resp.TransactionID = txID
}

// destination builds one authorised route with its signed token.
func (s *service) destination(src, dst, sig osp.Party, callID osp.Base64, txID string, after, until osp.Time,
	class string, bandwidth int64) (osp.Destination, error) {
	d := osp.Destination{
		DestinationInfo:          dst,
		DestinationSignalAddress: sig,
		ValidAfter:               after,
		ValidUntil:               until,
		UsageDetail:              &osp.UsageDetail{Amount: osp.Seconds(time.Duration(s.cfg.maxDuration) * time.Second), Increment: 1, Unit: "s"},
		CallID:                   callID,
		ServiceClass:             class,
		Bandwidth:                bandwidth,
	}
	tok, err := s.signer.Sign(&osp.TokenInfo{
		SourceInfo: src, DestinationInfo: dst, CallID: callID,
		ValidAfter: after, ValidUntil: until, TransactionID: txID,
		UsageDetail: d.UsageDetail, ServiceClass: class, Bandwidth: bandwidth,
	})
	if err != nil {
		return osp.Destination{}, fmt.Errorf("token signing failed: %w", err)
	}
	d.Token = tok
	return d, nil
}

// tokenRefusal turns a token verification error into the answer's status:
// 401 with the reason, or 500 when the ledger failed.
func (s *service) tokenRefusal(kind osp.Kind, node, callID string, err error) osp.Status {
	if errors.Is(err, osp.ErrReplayStore) {
		return s.refusal(kind, node, callID, osp.Status{Code: osp.StatusServerError, Description: err.Error()})
	}
	return s.refusal(kind, node, callID, osp.TokenStatus(err))
}

// claimDestination makes node the terminating party of the transaction a
// token it presented belongs to; nil when it is (or now is).
func (s *service) claimDestination(ctx context.Context, txID, node string) *osp.Status {
	if _, ok, err := s.ledger.get(ctx, txID); err != nil {
		return &osp.Status{Code: osp.StatusServerError, Description: err.Error()}
	} else if !ok {
		return &osp.Status{Code: osp.StatusUnauthorized, Description: fmt.Sprintf("transaction %s was not issued by this clearinghouse", txID)}
	}
	owner, err := s.ledger.claimDestination(ctx, txID, node)
	if err != nil {
		return &osp.Status{Code: osp.StatusServerError, Description: err.Error()}
	}
	if owner != node {
		return &osp.Status{Code: osp.StatusForbidden, Description: fmt.Sprintf("the destination side of transaction %s belongs to %s", txID, owner)}
	}
	return nil
}

// ValidateToken implements osp.Responder (online token validation, as a
// terminating device that does not validate locally asks for it; not a
// docs/FLOW.md step). A token validated here is consumed.
func (s *service) ValidateToken(ctx context.Context, peer osp.Peer, ind *osp.AuthorizationIndication) *osp.AuthorizationConfirmation {
	callID := string(ind.CallID)
	cnf := &osp.AuthorizationConfirmation{ComponentID: ind.ComponentID, Timestamp: osp.At(s.now())}
	cnf.Status = s.exchange(peer, osp.KindAuthorizationIndication, ind.Role, callID, func(node string) osp.Status {
		ti, err := s.verifier.Verify(ind.Token, osp.Expect{CallID: callID, Source: ind.SourceInfo.Value, Destination: ind.DestinationInfo.Value})
		if err != nil {
			return s.tokenRefusal(osp.KindAuthorizationIndication, node, callID, err)
		}
		if st := s.claimDestination(ctx, ti.TransactionID, node); st != nil {
			return s.refusal(osp.KindAuthorizationIndication, node, callID, *st)
		}
		cnf.ValidAfter, cnf.ValidUntil = ti.ValidAfter, ti.ValidUntil
		return osp.Status{Code: osp.StatusOK, Description: "token valid"}
	})
	return cnf
}

// Reauthorize implements osp.Responder: a party of a transaction in
// progress gets a fresh token for it (same transaction, new validity).
func (s *service) Reauthorize(ctx context.Context, peer osp.Peer, req *osp.ReauthorizationRequest) *osp.ReauthorizationResponse {
	resp := &osp.ReauthorizationResponse{ComponentID: req.ComponentID, Timestamp: osp.At(s.now())}
	resp.Status = s.exchange(peer, osp.KindReauthorizationRequest, req.Role, string(req.CallID), func(node string) osp.Status {
		return s.reauthorize(ctx, node, req, resp)
	})
	s.log.Info("reauthorisation", "call", string(req.CallID), "transaction", req.TransactionID, "status", resp.Status.String())
	return resp
}

func (s *service) reauthorize(ctx context.Context, node string, req *osp.ReauthorizationRequest, resp *osp.ReauthorizationResponse) osp.Status {
	refuse := func(code osp.StatusCode, why string) osp.Status {
		return s.refusal(osp.KindReauthorizationRequest, node, string(req.CallID), osp.Status{Code: code, Description: why})
	}
	if req.TransactionID == "" {
		return refuse(osp.StatusBadRequest, "TransactionId missing")
	}
	if req.UsageDetail != nil && req.UsageDetail.Amount < 0 {
		return refuse(osp.StatusBadRequest, fmt.Sprintf("Amount %s is negative", req.UsageDetail.Amount))
	}
	tx, st := s.transactionOf(ctx, req.TransactionID, string(req.CallID), req.SourceInfo.Value, req.DestinationInfo.Value)
	if st != nil {
		return refuse(st.Code, st.Description)
	}
	if node != tx.SourceNode && node != tx.DestinationNode {
		return refuse(osp.StatusForbidden, fmt.Sprintf("%s is not a party of transaction %s", node, tx.ID))
	}
	d := s.cfg.policy.Decide(tx.Source, tx.Destination)
	if !d.Allow {
		return refuse(osp.StatusCode(d.Code), d.Reason)
	}
	dsts := s.routes.destinations(tx.Destination)
	if len(dsts) == 0 {
		return refuse(osp.StatusNoRoute, fmt.Sprintf("no route to %s any more", tx.Destination))
	}
	now := s.now()
	dst, err := s.destination(req.SourceInfo, req.DestinationInfo, dsts[0], req.CallID, tx.ID,
		osp.At(now.Add(-time.Second).Truncate(time.Second)), osp.At(now.Add(s.cfg.tokenTTL).Truncate(time.Second)), d.Class, d.Bandwidth)
	if err != nil {
		return refuse(osp.StatusServerError, err.Error())
	}
	resp.TransactionID, resp.Destination = tx.ID, &dst
	return osp.Status{Code: osp.StatusOK, Description: "reauthorised"}
}

// IndicateCapabilities implements osp.Responder: the device's state is
// logged and acknowledged.
func (s *service) IndicateCapabilities(_ context.Context, peer osp.Peer, ind *osp.CapabilitiesIndication) *osp.CapabilitiesConfirmation {
	cnf := &osp.CapabilitiesConfirmation{ComponentID: ind.ComponentID, Timestamp: osp.At(s.now())}
	cnf.Status = s.exchange(peer, osp.KindCapabilitiesIndication, "", "", func(node string) osp.Status {
		s.log.Info("capabilities", "peer", node, "almost_out_of_resources", ind.AlmostOut())
		return osp.Status{Code: osp.StatusOK, Description: "capabilities noted"}
	})
	return cnf
}

// ReportUsage implements osp.Responder (docs/FLOW.md teardown 8/9 and 17/18).
// The confirmation is sent only once the record is durable; an identical
// indication again (the policy servers' spool retries) is confirmed again
// but stored once.
func (s *service) ReportUsage(ctx context.Context, peer osp.Peer, ind *osp.UsageIndication) *osp.UsageConfirmation {
	cnf := &osp.UsageConfirmation{ComponentID: ind.ComponentID, Timestamp: osp.At(s.now())}
	cnf.Status = s.exchange(peer, osp.KindUsageIndication, ind.Role, string(ind.CallID), func(node string) osp.Status {
		return s.record(ctx, node, ind)
	})
	s.log.Info("usage", "call", string(ind.CallID), "role", ind.Role, "transaction", ind.TransactionID, "status", cnf.Status.String())
	return cnf
}

// record stores a usage indication if it may be: for a transaction this
// clearinghouse issued, about that transaction's call and parties, from
// the policy server that is that side's party, with non-negative amounts,
// once.
func (s *service) record(ctx context.Context, node string, ind *osp.UsageIndication) osp.Status {
	refuse := func(code osp.StatusCode, why string) osp.Status {
		return s.refusal(osp.KindUsageIndication, node, string(ind.CallID), osp.Status{Code: code, Description: why})
	}
	if ind.TransactionID == "" {
		return refuse(osp.StatusBadRequest, "TransactionId missing")
	}
	if ind.Role != osp.RoleSource && ind.Role != osp.RoleDestination {
		return refuse(osp.StatusBadRequest, fmt.Sprintf("Role %q, want source or destination", ind.Role))
	}
	if u := ind.UsageDetail; u.Amount < 0 || u.PostDialDelay < 0 {
		return refuse(osp.StatusBadRequest, fmt.Sprintf("negative amounts: Amount %s, PostDialDelay %s", u.Amount, u.PostDialDelay))
	}
	tx, st := s.transactionOf(ctx, ind.TransactionID, string(ind.CallID), ind.SourceInfo.Value, ind.DestinationInfo.Value)
	if st != nil {
		return refuse(st.Code, st.Description)
	}
	switch ind.Role {
	case osp.RoleSource:
		if node != tx.SourceNode {
			return refuse(osp.StatusForbidden, fmt.Sprintf("the source side of transaction %s belongs to %s, not %s", tx.ID, tx.SourceNode, node))
		}
	case osp.RoleDestination:
		if st := s.claimDestination(ctx, tx.ID, node); st != nil {
			return refuse(st.Code, st.Description)
		}
	}
	rec := recordOf(node, ind, s.now())
	added, err := s.store.Insert(ctx, rec)
	if err != nil {
		return refuse(osp.StatusServerError, "usage store: "+err.Error())
	}
	if added {
		return osp.Status{Code: osp.StatusOK, Description: "recorded"}
	}
	old, ok, err := s.store.Find(ctx, rec.TransactionID, rec.Role)
	if err != nil || !ok {
		return refuse(osp.StatusServerError, fmt.Sprintf("usage store: record %s/%s vanished: %v", rec.TransactionID, rec.Role, err))
	}
	if !sameUsage(old, rec) {
		s.log.Warn("conflicting usage refused", "transaction", rec.TransactionID, "role", rec.Role, "peer", node,
			"recorded", fmt.Sprintf("%+v", old), "refused", fmt.Sprintf("%+v", rec))
		return refuse(osp.StatusBadRequest, fmt.Sprintf("usage for transaction %s (%s) was already recorded with other figures", rec.TransactionID, rec.Role))
	}
	return osp.Status{Code: osp.StatusOK, Description: "already recorded"}
}

// transactionOf returns the issued transaction id if the call and parties
// a request names are that transaction's; otherwise the refusal.
func (s *service) transactionOf(ctx context.Context, id, callID, source, destination string) (transaction, *osp.Status) {
	tx, ok, err := s.ledger.get(ctx, id)
	if err != nil {
		return tx, &osp.Status{Code: osp.StatusServerError, Description: err.Error()}
	}
	if !ok {
		return tx, &osp.Status{Code: osp.StatusNoRoute, Description: fmt.Sprintf("transaction %s was not issued by this clearinghouse", id)}
	}
	if callID != tx.CallID || source != tx.Source || destination != tx.Destination {
		return tx, &osp.Status{Code: osp.StatusBadRequest, Description: fmt.Sprintf(
			"call %q from %q to %q is not transaction %s's (call %q from %q to %q)",
			callID, source, destination, id, tx.CallID, tx.Source, tx.Destination)}
	}
	return tx, nil
}

// sameUsage tells a retry of a usage indication from a conflicting one:
// everything the record says about the call must be equal (when it was
// received is not).
func sameUsage(a, b usage.Record) bool {
	for _, t := range [][2]time.Time{{a.StartTime, b.StartTime}, {a.AlertTime, b.AlertTime},
		{a.ConnectTime, b.ConnectTime}, {a.EndTime, b.EndTime}} {
		if !t[0].Equal(t[1]) {
			return false
		}
	}
	a.StartTime, a.AlertTime, a.ConnectTime, a.EndTime, a.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	b.StartTime, b.AlertTime, b.ConnectTime, b.EndTime, b.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

// recordOf turns a usage indication into a store record.
func recordOf(reporter string, ind *osp.UsageIndication, now time.Time) usage.Record {
	u := ind.UsageDetail
	r := usage.Record{
		TransactionID: ind.TransactionID, Role: ind.Role, CallID: string(ind.CallID),
		Source: ind.SourceInfo.Value, Destination: ind.DestinationInfo.Value, Reporter: reporter,
		ServiceClass: ind.ServiceClass, Bandwidth: ind.Bandwidth,
		DurationMs: u.Amount.Milliseconds(), Unit: u.Unit,
		StartTime: u.StartTime.Time, AlertTime: u.AlertTime.Time, ConnectTime: u.ConnectTime.Time, EndTime: u.EndTime.Time,
		PostDialDelay: u.PostDialDelay.Milliseconds(), ReleaseSource: int(u.ReleaseSource), ReceivedAt: now,
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
func (s *service) refused(peer osp.Peer, kind osp.Kind, st osp.Status) {
	who := s.peers.name(peer)
	if kind != osp.KindUnknown {
		for _, m := range []nodes.Message{
			{Dir: nodes.Received, Proto: "osp", What: kind.String(), Peer: who},
			{Dir: nodes.Sent, Proto: "osp", What: kind.Answer().String(), Peer: who},
		} {
			nodes.LogMessage(s.log, m)
		}
	}
	s.log.Warn("osp request refused", "peer", who, "kind", kind.String(), "status", st.String())
}
