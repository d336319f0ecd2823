package proxy

import (
	"fmt"

	"github.com/qoslab/qoslab/protocol/cops"
)

// This file is the proxy's hold-until-policy logic for one call on one side
// (SIP1 or SIP2), written like etcd/raft's RawNode: the driver feeds events
// in with Step and carries out the actions that come back. There are no
// goroutines, clocks or randomness here, so every order of arrival can be
// tested without sockets. Timers live in the driver: it arms the policy
// timeout when it carries out a SendREQ and feeds PolicyTimeout back.

// Phase is where a call stands.
type Phase int

// Phases of a call on one proxy.
const (
	Idle       Phase = iota // no INVITE yet
	AwaitAAA                // INVITE held, REQ AAA sent
	Proceeding              // INVITE forwarded, no SDP answer yet
	AwaitLDP                // REQ LDP sent, responses held
	Early                   // LDP installed, no 2xx yet
	Confirmed               // 2xx forwarded
	Releasing               // BYE or failure after LDP: REQ noLDP sent
	Done                    // state gone; nothing more to do
)

var phaseNames = [...]string{"Idle", "AwaitAAA", "Proceeding", "AwaitLDP", "Early", "Confirmed", "Releasing", "Done"}

// String names the phase.
func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// EventKind says what happened.
type EventKind int

// Events the driver feeds into a call.
const (
	EvInvite        EventKind = iota + 1 // INVITE received from upstream (Token: token it carried, if any)
	EvDecInstall                         // DEC Install answering Req (Token: OSP token for AAA)
	EvDecRemove                          // DEC Remove answering Req, or unsolicited (Req 0) (Reason)
	EvPolicyTimeout                      // no DEC for Req within the policy timeout
	EvPDPLost                            // the COPS connection to the PDP is gone or cannot be made (Reason)
	EvResponse                           // response to the forwarded INVITE (Resp, Status, SDP)
	EvCancel                             // CANCEL received from upstream
	EvBye                                // BYE received (FromCaller says which side)
	EvByeFinal                           // final response to the forwarded BYE received
	EvTxGone                             // the INVITE transaction or the dialog ended without a final response (Status, Reason: what to tell the caller; default 408)
)

var eventNames = map[EventKind]string{
	EvInvite: "INVITE", EvDecInstall: "DEC Install", EvDecRemove: "DEC Remove",
	EvPolicyTimeout: "policy timeout", EvPDPLost: "PDP lost", EvResponse: "response",
	EvCancel: "CANCEL", EvBye: "BYE", EvByeFinal: "BYE final", EvTxGone: "transaction gone",
}

// String names the event.
func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one input to Call.Step. Only the fields that matter for its
// Kind are read.
type Event struct {
	Kind       EventKind
	Req        cops.Kind // which REQ a decision or timeout answers
	Token      string    // OSP token (EvInvite: received; EvDecInstall for AAA: granted)
	Reason     string    // EvDecRemove: why the PDP refused
	Resp       int       // EvResponse: driver's id for the response, used in ForwardResponse actions
	Status     int       // EvResponse / EvByeFinal / EvTxGone: SIP status code; EvDecRemove: the PDP's result code (503: it could not decide)
	SDP        bool      // EvResponse: carries an SDP answer
	FromCaller bool      // EvBye: sent by the caller's side
}

// ActionKind says what the driver must do.
type ActionKind int

// Actions a call asks its driver to carry out, in the order returned.
const (
	ActSendREQ         ActionKind = iota + 1 // send COPS REQ Req (Token: token to pass to the PDP)
	ActForwardInvite                         // forward the held INVITE with Token in P-OSP-Auth-Token
	ActHoldResponse                          // keep response Resp until the LDP decision
	ActForwardResponse                       // forward response Resp upstream
	ActRespond                               // answer the INVITE upstream with Status (Reason, RetryAfter)
	ActForwardCancel                         // send CANCEL for the forwarded INVITE downstream
	ActAbortDownstream                       // end the downstream leg: CANCEL, or ACK+BYE when Resp (a held 2xx) is set
	ActForwardBye                            // forward the BYE that was received
	ActTearDown                              // end an established call: BYE to both sides (Reason)
	ActSendDRQ                               // delete the COPS handle
)

var actionNames = map[ActionKind]string{
	ActSendREQ: "send REQ", ActForwardInvite: "forward INVITE", ActHoldResponse: "hold",
	ActForwardResponse: "forward", ActRespond: "respond", ActForwardCancel: "forward CANCEL",
	ActAbortDownstream: "abort downstream", ActForwardBye: "forward BYE",
	ActTearDown: "tear down", ActSendDRQ: "send DRQ",
}

// String names the action.
func (k ActionKind) String() string {
	if s, ok := actionNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is one output of Call.Step.
type Action struct {
	Kind       ActionKind
	Req        cops.Kind
	Token      string
	Resp       int
	Status     int
	Reason     string
	RetryAfter int // seconds, for 503
}

// String renders an action the way the unit tests' scripts spell it.
func (a Action) String() string {
	switch a.Kind {
	case ActSendREQ:
		if a.Token != "" {
			return fmt.Sprintf("send REQ %s token=%s", a.Req, a.Token)
		}
		return "send REQ " + a.Req.String()
	case ActForwardInvite:
		return "forward INVITE token=" + a.Token
	case ActHoldResponse:
		return fmt.Sprintf("hold %d", a.Resp)
	case ActForwardResponse:
		return fmt.Sprintf("forward %d", a.Resp)
	case ActRespond:
		s := fmt.Sprintf("respond %d", a.Status)
		if a.Reason != "" {
			s += " reason=" + a.Reason
		}
		if a.RetryAfter > 0 {
			s += fmt.Sprintf(" retry-after=%d", a.RetryAfter)
		}
		return s
	case ActAbortDownstream:
		if a.Resp != 0 {
			return fmt.Sprintf("abort downstream ack+bye %d", a.Resp)
		}
		return "abort downstream cancel"
	case ActTearDown:
		return "tear down reason=" + a.Reason
	}
	return a.Kind.String()
}

// RetryAfterSeconds is what a 503 tells the caller when the PDP cannot be
// reached: long enough for a PEP to reconnect (RFC 2748 keepalive scale).
const RetryAfterSeconds = 5

// Reasons the proxy gives when it ends a call itself.
const (
	ReasonPDPUnreachable = "policy server unreachable"
	ReasonPDPTimeout     = "policy server timeout"
	ReasonPDPLost        = "policy server connection lost"
	ReasonCancelled      = "cancelled"
	ReasonNoAnswer       = "no final response"
)

// Call is the hold-until-policy state of one call on one proxy. The zero
// value is a call that has not seen its INVITE.
type Call struct {
	phase      Phase
	held       []heldResp
	finalSent  bool // upstream has a final response to the INVITE
	ldpAsked   bool // a REQ LDP went out, so resources may be installed
	cancelled  bool // CANCEL received from upstream
	byeDone    bool // Releasing: the BYE leg finished (or there is none)
	decDone    bool // Releasing: the noLDP decision (or its failure) arrived
	drqPending bool // Releasing: a DRQ goes out once byeDone && decDone
	noLDPWaits bool // Releasing: REQ noLDP waits for the outstanding LDP decision
}

type heldResp struct {
	id     int
	status int
}

// Phase reports where the call stands.
func (c *Call) Phase() Phase { return c.phase }

// Done says the call has no state left: the driver can forget it.
func (c *Call) Done() bool { return c.phase == Done }

// Step takes one event and returns the actions to carry out, in order.
func (c *Call) Step(ev Event) []Action {
	switch ev.Kind {
	case EvInvite:
		return c.onInvite(ev)
	case EvDecInstall:
		return c.onInstall(ev)
	case EvDecRemove:
		return c.onRemove(ev)
	case EvPolicyTimeout:
		return c.onPolicyFailure(ev.Req, ReasonPDPTimeout)
	case EvPDPLost:
		reason := ev.Reason
		if reason == "" {
			reason = ReasonPDPLost
		}
		return c.onPDPLost(reason)
	case EvResponse:
		return c.onResponse(ev)
	case EvCancel:
		return c.onCancel()
	case EvBye:
		return c.onBye()
	case EvByeFinal:
		return c.onByeFinal()
	case EvTxGone:
		return c.onTxGone(ev)
	}
	return nil
}

func (c *Call) onInvite(ev Event) []Action {
	if c.phase != Idle {
		return nil // a retransmission: the transaction layer absorbs it
	}
	c.phase = AwaitAAA
	return []Action{{Kind: ActSendREQ, Req: cops.KindAAA, Token: ev.Token}}
}

func (c *Call) onInstall(ev Event) []Action {
	switch {
	case c.phase == AwaitAAA && ev.Req == cops.KindAAA:
		c.phase = Proceeding
		return []Action{{Kind: ActForwardInvite, Token: ev.Token}}
	case c.phase == AwaitLDP && ev.Req == cops.KindLDP:
		return c.releaseHeld()
	case c.phase == Releasing && ev.Req == cops.KindLDP && c.noLDPWaits:
		c.noLDPWaits = false
		return []Action{{Kind: ActSendREQ, Req: cops.KindNoLDP}}
	case c.phase == Releasing && ev.Req == cops.KindNoLDP:
		c.decDone = true
		return c.maybeFinishRelease()
	}
	return nil // a stale decision for a request the call no longer waits for
}

// refusalStatus is what the caller hears for a DEC Remove: 403, unless
// the PDP said it could not decide (its clearinghouse or router was
// unreachable: it failed closed), which is 503 with Retry-After.
func refusalStatus(ev Event) int {
	if ev.Status == 503 {
		return 503
	}
	return 403
}

func (c *Call) onRemove(ev Event) []Action {
	switch {
	case c.phase == AwaitAAA && ev.Req == cops.KindAAA:
		return c.refuse(refusalStatus(ev), ev.Reason)
	case c.phase == AwaitLDP && ev.Req == cops.KindLDP:
		return c.refuse(refusalStatus(ev), ev.Reason)
	case c.phase == Releasing && ev.Req == cops.KindNoLDP,
		c.phase == Releasing && ev.Req == cops.KindLDP && c.noLDPWaits:
		// FIG. 6 step 7: the PDP answers the release with DEC Remove (or
		// refused the LDP the release waited for: nothing to release).
		c.noLDPWaits = false
		c.decDone = true
		return c.maybeFinishRelease()
	case ev.Req == 0 && (c.phase == Proceeding || c.phase == Early):
		// The PDP withdrew an admitted call before it was answered.
		return c.refuse(403, ev.Reason)
	case ev.Req == 0 && c.phase == Confirmed:
		c.phase = Done
		return []Action{{Kind: ActTearDown, Reason: ev.Reason}, {Kind: ActSendDRQ}}
	}
	return nil
}

// onPolicyFailure handles a REQ that got no decision in time.
func (c *Call) onPolicyFailure(req cops.Kind, reason string) []Action {
	switch {
	case c.phase == AwaitAAA && req == cops.KindAAA, c.phase == AwaitLDP && req == cops.KindLDP:
		return c.refuse(503, reason)
	case c.phase == Releasing && req == cops.KindNoLDP,
		c.phase == Releasing && req == cops.KindLDP && c.noLDPWaits:
		c.noLDPWaits = false
		c.decDone = true
		return c.maybeFinishRelease()
	}
	return nil
}

func (c *Call) onPDPLost(reason string) []Action {
	switch c.phase {
	case AwaitAAA, AwaitLDP, Proceeding, Early:
		// The DRQ still goes out: it clears the PEP's copy of the handle,
		// which a reconnecting PEP would otherwise re-send.
		return c.refuse(503, reason)
	case Confirmed:
		// Never a call that proceeds without policy: the PDP that holds
		// its gates is gone, so the call ends.
		c.phase = Done
		return []Action{{Kind: ActTearDown, Reason: reason}, {Kind: ActSendDRQ}}
	case Releasing:
		c.decDone = true
		return c.maybeFinishRelease()
	}
	return nil
}

func (c *Call) onResponse(ev Event) []Action {
	final := ev.Status >= 200
	twoxx := ev.Status >= 200 && ev.Status < 300
	switch c.phase {
	case Proceeding:
		if (ev.SDP && ev.Status >= 180) || twoxx {
			// FIG. 5 steps 13/18: the first answer triggers REQ LDP, and
			// everything of this transaction waits for its decision.
			c.phase = AwaitLDP
			c.ldpAsked = true
			c.held = append(c.held, heldResp{ev.Resp, ev.Status})
			return []Action{{Kind: ActSendREQ, Req: cops.KindLDP}, {Kind: ActHoldResponse, Resp: ev.Resp}}
		}
		acts := []Action{{Kind: ActForwardResponse, Resp: ev.Resp}}
		if final {
			// Refused downstream (486, 487, ...): no resources were asked.
			c.finalSent = true
			c.phase = Done
			acts = append(acts, Action{Kind: ActSendDRQ})
		}
		return acts
	case AwaitLDP:
		c.held = append(c.held, heldResp{ev.Resp, ev.Status})
		return []Action{{Kind: ActHoldResponse, Resp: ev.Resp}}
	case Early:
		acts := []Action{{Kind: ActForwardResponse, Resp: ev.Resp}}
		return append(acts, c.afterForwarded(ev.Status)...)
	case Confirmed:
		if twoxx {
			return []Action{{Kind: ActForwardResponse, Resp: ev.Resp}} // 2xx retransmission
		}
	}
	return nil
}

// releaseHeld forwards every held response in arrival order once the LDP
// decision is in (FIG. 5: 16 < 17, 16 < 24).
func (c *Call) releaseHeld() []Action {
	c.phase = Early
	var acts []Action
	held := c.held
	c.held = nil
	for _, h := range held {
		acts = append(acts, Action{Kind: ActForwardResponse, Resp: h.id})
		acts = append(acts, c.afterForwarded(h.status)...)
	}
	return acts
}

// afterForwarded moves the phase on after a response went upstream while
// resources may be installed.
func (c *Call) afterForwarded(status int) []Action {
	switch {
	case status >= 200 && status < 300:
		c.finalSent = true
		if c.phase == Early {
			c.phase = Confirmed
		}
	case status >= 300:
		c.finalSent = true
		if c.phase == Early {
			// The call failed after its gates went in: release them.
			return c.startRelease(true)
		}
	}
	return nil
}

// refuse ends a call that has not been answered: the caller gets status
// (403 refusal, 503 PDP trouble) and the downstream leg, if any, is ended.
func (c *Call) refuse(status int, reason string) []Action {
	var acts []Action
	if c.phase != AwaitAAA {
		var answered int
		for _, h := range c.held {
			if h.status >= 200 && h.status < 300 {
				answered = h.id
			}
		}
		acts = append(acts, Action{Kind: ActAbortDownstream, Resp: answered})
	}
	c.held = nil
	if !c.finalSent {
		a := Action{Kind: ActRespond, Status: status, Reason: reason}
		if status == 503 {
			a.RetryAfter = RetryAfterSeconds
		}
		acts = append(acts, a)
		c.finalSent = true
	}
	c.phase = Done
	return append(acts, Action{Kind: ActSendDRQ})
}

func (c *Call) onCancel() []Action {
	if c.cancelled {
		return nil
	}
	switch c.phase {
	case AwaitAAA:
		// The INVITE never left: answer it here.
		c.cancelled = true
		c.phase = Done
		c.finalSent = true
		return []Action{{Kind: ActRespond, Status: 487, Reason: ReasonCancelled}, {Kind: ActSendDRQ}}
	case Proceeding, AwaitLDP, Early:
		// Downstream answers 487; it comes back as a response like any other.
		c.cancelled = true
		return []Action{{Kind: ActForwardCancel}}
	}
	return nil
}

func (c *Call) onBye() []Action {
	switch c.phase {
	case Confirmed:
		// FIG. 6: forward the BYE at once, then release (1 < 2, 1 < 4).
		return append([]Action{{Kind: ActForwardBye}}, c.startRelease(false)...)
	case AwaitLDP, Early, Proceeding:
		// A BYE before the caller saw a 2xx (the callee hung up on a held
		// 200): the call ends; the caller's INVITE gets a final answer.
		acts := []Action{{Kind: ActForwardBye}}
		if !c.finalSent {
			acts = append(acts, Action{Kind: ActRespond, Status: 487, Reason: "callee hung up"})
			c.finalSent = true
		}
		c.held = nil
		if c.ldpAsked {
			return append(acts, c.startRelease(false)...)
		}
		c.phase = Done
		return append(acts, Action{Kind: ActSendDRQ})
	case Releasing, Done:
		// BYE from the other side while releasing, or after: pass it on.
		return []Action{{Kind: ActForwardBye}}
	}
	return nil
}

// startRelease sends REQ noLDP; the DRQ follows once the decision and (when
// a BYE is under way) its final response are in.
func (c *Call) startRelease(byeDone bool) []Action {
	ldpOutstanding := c.phase == AwaitLDP
	c.phase = Releasing
	c.byeDone = byeDone
	c.decDone = false
	c.drqPending = true
	if ldpOutstanding {
		// One request per handle at a time (RFC 2748): the release waits
		// for the LDP decision, and is needed only if that installed.
		c.noLDPWaits = true
		return nil
	}
	return []Action{{Kind: ActSendREQ, Req: cops.KindNoLDP}}
}

func (c *Call) onByeFinal() []Action {
	if c.phase != Releasing {
		return nil
	}
	c.byeDone = true
	return c.maybeFinishRelease()
}

func (c *Call) maybeFinishRelease() []Action {
	if !c.byeDone || !c.decDone {
		return nil
	}
	c.phase = Done
	if c.drqPending {
		c.drqPending = false
		return []Action{{Kind: ActSendDRQ}}
	}
	return nil
}

func (c *Call) onTxGone(ev Event) []Action {
	status, reason := ev.Status, ev.Reason
	if status == 0 {
		status, reason = 408, ReasonNoAnswer
	}
	switch c.phase {
	case Idle, Done:
		return nil
	case AwaitAAA, Proceeding, AwaitLDP:
		// Downstream never answered (timer B), could not be reached, or
		// the upstream leg vanished.
		var acts []Action
		if !c.finalSent {
			acts = append(acts, Action{Kind: ActRespond, Status: status, Reason: reason})
			c.finalSent = true
		}
		c.held = nil
		if c.ldpAsked {
			return append(acts, c.startRelease(true)...)
		}
		c.phase = Done
		return append(acts, Action{Kind: ActSendDRQ})
	case Early, Confirmed:
		var acts []Action
		if !c.finalSent {
			acts = append(acts, Action{Kind: ActRespond, Status: status, Reason: reason})
			c.finalSent = true
		}
		return append(acts, c.startRelease(true)...)
	case Releasing:
		c.byeDone = true
		return c.maybeFinishRelease()
	}
	return nil
}
