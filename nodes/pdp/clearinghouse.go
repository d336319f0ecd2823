package pdp

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes/authz"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/osp"
)

// ospClearinghouse is the clearinghouse over OSP (docs/FLOW.md setup 3-4 / 8-9,
// teardown 8-9 / 17-18).
type ospClearinghouse struct {
	c *osp.Client
}

// NewOSPClearinghouse returns a Clearinghouse that talks OSP to the
// clearinghouse at url ("http://198.18.8.2:1080/osp").
func NewOSPClearinghouse(c *osp.Client) Clearinghouse { return ospClearinghouse{c: c} }

// OnWire implements Clearinghouse.
func (o ospClearinghouse) OnWire() bool { return true }

// Authorize implements Clearinghouse.
func (o ospClearinghouse) Authorize(ctx context.Context, s cops.Session) (AuthAnswered, error) {
	req := &osp.AuthorizationRequest{
		CallID:              osp.Base64(s.CallID),
		SourceInfo:          osp.Party{Type: osp.PartySIP, Value: s.Caller},
		DestinationInfo:     osp.Party{Type: osp.PartySIP, Value: s.Callee},
		MaximumDestinations: 1,
		Role:                ospRole(s.Side),
		Token:               osp.Base64(s.Token),
	}
	resp, err := o.c.Authorize(ctx, req)
	if err != nil {
		return AuthAnswered{}, fmt.Errorf("pdp: authorise %s: %w", s.CallID, err)
	}
	ans := AuthAnswered{Status: int(resp.Status.Code), Reason: resp.Status.Description, TransactionID: resp.TransactionID}
	if resp.Status.OK() {
		if len(resp.Destinations) == 0 {
			return AuthAnswered{}, fmt.Errorf("pdp: authorise %s: clearinghouse authorised without a destination", s.CallID)
		}
		d := resp.Destinations[0]
		ans.Token = []byte(d.Token)
		ans.Class = d.ServiceClass
		if d.Bandwidth > 0 {
			ans.Bandwidth = uint64(d.Bandwidth)
		}
	}
	return ans, nil
}

// ReportUsage implements Clearinghouse.
func (o ospClearinghouse) ReportUsage(ctx context.Context, r UsageRecord) error {
	ind := &osp.UsageIndication{
		Role:            ospRole(r.Side),
		TransactionID:   r.TransactionID,
		CallID:          osp.Base64(r.CallID),
		SourceInfo:      osp.Party{Type: osp.PartySIP, Value: r.Caller},
		DestinationInfo: osp.Party{Type: osp.PartySIP, Value: r.Callee},
		UsageDetail: osp.UsageDetail{
			Amount:        osp.SecondsOf(r.Duration),
			Increment:     1,
			Unit:          "s",
			StartTime:     osp.At(r.Start),
			AlertTime:     osp.At(r.Alert),
			PostDialDelay: osp.SecondsOf(r.PostDialDelay()),
			ConnectTime:   osp.At(r.Connect),
			EndTime:       osp.At(r.End),
			TerminationCause: &osp.TermCause{Type: "q850", TCCode: 16, // normal call clearing
				Description: r.Reason},
			ReleaseSource: releaseSource(r.ReleasedBy),
		},
		ServiceClass: r.Class,
		Bandwidth:    int64(min(r.Bandwidth, math.MaxInt64)),
		// What the router marked for the gate: zero is a figure too (the
		// gate was never installed, or nothing was sent).
		Marked: &osp.MarkedTraffic{Packets: r.Packets, Octets: r.Bytes, CountersLost: r.CountersLost},
	}
	conf, err := o.c.ReportUsage(ctx, ind)
	if err != nil {
		return fmt.Errorf("pdp: report usage %s: %w", r.ID, err)
	}
	if !conf.Status.OK() {
		return fmt.Errorf("pdp: report usage %s: clearinghouse answered %s", r.ID, conf.Status)
	}
	return nil
}

// releaseSource is OSP's ReleaseSource of a release: the caller's side is
// the source, the callee's the destination; ReleaseNone when unknown.
func releaseSource(by flow.Side) osp.ReleaseSource {
	switch by {
	case flow.Originating:
		return osp.ReleaseSourceParty
	case flow.Terminating:
		return osp.ReleaseDestination
	}
	return osp.ReleaseNone
}

func ospRole(s flow.Side) string {
	if s == flow.Terminating {
		return osp.RoleDestination
	}
	return osp.RoleSource
}

// localClearinghouse does the clearinghouse's work inside the policy server
// (docs/FLOW.md variant "no clearinghouse"): the same policy rules as the
// clearinghouse (nodes/authz) and the same usage store (nodes/usage), with
// nothing on the wire.
type localClearinghouse struct {
	node   string
	policy *authz.Policy
	store  *usage.Store
	now    func() time.Time
}

// NewLocalClearinghouse returns a Clearinghouse that authorises with policy
// and records usage in store; node names this policy server in the records.
func NewLocalClearinghouse(node string, policy *authz.Policy, store *usage.Store) Clearinghouse {
	return localClearinghouse{node: node, policy: policy, store: store, now: time.Now}
}

// OnWire implements Clearinghouse.
func (l localClearinghouse) OnWire() bool { return false }

// Authorize implements Clearinghouse.
func (l localClearinghouse) Authorize(ctx context.Context, s cops.Session) (AuthAnswered, error) {
	d := l.policy.Decide(s.Caller, s.Callee)
	if !d.Allow {
		return AuthAnswered{Status: d.Code, Reason: d.Reason}, nil
	}
	return AuthAnswered{
		Status: 200,
		// The transaction id keys the usage record; it must be unique per
		// call and side.
		TransactionID: fmt.Sprintf("%s-%s-%d", l.node, s.CallID, l.now().UnixNano()),
		Class:         d.Class,
		Bandwidth:     uint64(max(d.Bandwidth, 0)),
	}, nil
}

// ReportUsage implements Clearinghouse.
func (l localClearinghouse) ReportUsage(ctx context.Context, r UsageRecord) error {
	_, err := l.store.Insert(ctx, usage.Record{
		TransactionID:    r.TransactionID,
		Role:             ospRole(r.Side),
		CallID:           r.CallID,
		Source:           r.Caller,
		Destination:      r.Callee,
		Reporter:         r.Node,
		ServiceClass:     r.Class,
		Bandwidth:        int64(min(r.Bandwidth, math.MaxInt64)),
		DurationMs:       r.Duration.Round(time.Millisecond).Milliseconds(),
		Unit:             "s",
		StartTime:        r.Start,
		AlertTime:        r.Alert,
		PostDialDelay:    r.PostDialDelay().Milliseconds(),
		ConnectTime:      r.Connect,
		EndTime:          r.End,
		TerminationCause: 16,
		TerminationText:  r.Reason,
		ReleaseSource:    int(releaseSource(r.ReleasedBy)),
		CountersKnown:    true,
		Packets:          int64(min(r.Packets, math.MaxInt64)),
		Octets:           int64(min(r.Bytes, math.MaxInt64)),
		CountersLost:     r.CountersLost,
	})
	if err != nil {
		return fmt.Errorf("pdp: record usage %s: %w", r.ID, err)
	}
	return nil
}
