package trace

import (
	"fmt"
	"sort"

	"github.com/qoslab/qoslab/flow"
)

// gate is the life of one PCMM gate as the capture shows it: the Gate-Set,
// its Ack, the Gate-Delete and its Ack (nil when not seen). Between a
// command and its Ack the router may or may not have acted yet, so no rule
// applies there.
type gate struct {
	set, ack, del, delAck *Message
	setStep, ackStep      int // docs/FLOW.md setup steps
	delStep, delAckStep   int // docs/FLOW.md teardown steps
}

// The two gates of a call (flow.Gates): R1's marks what the UAC sends,
// R2's what the UAS sends.
func callGates(setup, teardown steps) (fromUAC, fromUAS gate) {
	of := func(g flow.Gate) gate {
		return gate{setup[g.Set], setup[g.Installed], teardown[g.Delete], teardown[g.Removed], g.Set, g.Installed, g.Delete, g.Removed}
	}
	gs := flow.Gates()
	return of(gs[0]), of(gs[1])
}

// rule says which DSCP a packet at number no must carry on the core:
// EF while the gate is installed, 0 before it is set and after its removal
// is acknowledged; ok is false inside the uncertain windows.
func (g gate) rule(p Sighting) (want uint8, why string, phase flow.Phase, step int, ok bool) {
	switch {
	case g.ack != nil && g.ack.First.Before(p) && (g.del == nil || p.Before(g.del.First)):
		return DSCPEF, fmt.Sprintf("after setup step %d (gate installed)", g.ackStep), flow.Setup, g.ackStep, true
	case g.set == nil || p.Before(g.set.First):
		if g.set == nil && g.ack == nil {
			return DSCPBestEffort, "with no gate installed", flow.Setup, g.ackStep, true
		}
		return DSCPBestEffort, fmt.Sprintf("before setup step %d (gate not yet set)", g.setStep), flow.Setup, g.setStep, true
	case g.delAck != nil && g.delAck.First.Before(p):
		return DSCPBestEffort, fmt.Sprintf("after teardown step %d (gate removed)", g.delAckStep), flow.Teardown, g.delAckStep, true
	}
	return 0, "", "", 0, false
}

// Gate windows of a media packet, as MediaCount reports them.
const (
	WindowBeforeGate = "before-gate" // before the Gate-Set (or with no gate at all)
	WindowGated      = "gated"       // after the Gate-Set-Ack, before the Gate-Delete
	WindowAfterGate  = "after-gate"  // after the Gate-Delete-Ack
	WindowTransition = "transition"  // between a gate command and its Ack
)

// window names where a packet falls in its gate's life.
func window(g gate, p Sighting, want uint8, ok bool) string {
	switch {
	case !ok:
		return WindowTransition
	case want == DSCPEF:
		return WindowGated
	case g.delAck != nil && g.delAck.First.Before(p):
		return WindowAfterGate
	}
	return WindowBeforeGate
}

func dscpName(d uint8) string {
	if d == DSCPEF {
		return "EF (46)"
	}
	return fmt.Sprintf("DSCP %d", d)
}

// dscpFailure aggregates the packets that break one rule in one direction
// of one call: the first is reported with how many there were.
type dscpFailure struct {
	f     Failure
	count int
	of    int
}

// checkDSCP checks every media packet of a call seen on the core link and
// counts the call's media per link and DSCP for the report.
func checkDSCP(c *Call, core string, setup, teardown steps) ([]Failure, []MediaCount) {
	fromUAC, fromUAS := callGates(setup, teardown)
	agg := map[string]*dscpFailure{}
	var keys []string
	counts := map[[3]string]map[uint8]int{}
	for _, p := range c.media {
		dir, g := "UAC->UAS", fromUAC
		if (c.Answer.IsValid() && p.Src == c.Answer) || (c.Offer.IsValid() && p.Dst == c.Offer) {
			dir, g = "UAS->UAC", fromUAS
		}
		want, why, phase, step, ok := g.rule(p.Sighting)
		ck := [3]string{p.Link, dir, window(g, p.Sighting, want, ok)}
		if counts[ck] == nil {
			counts[ck] = map[uint8]int{}
		}
		counts[ck][p.DSCP]++
		if p.Link != core || !ok {
			continue
		}
		key := dir + why
		a := agg[key]
		if a == nil {
			a = &dscpFailure{}
			agg[key] = a
			keys = append(keys, key)
		}
		a.of++
		if p.DSCP == want {
			continue
		}
		if a.count == 0 {
			a.f = Failure{
				Check: CheckDSCP, CallID: c.ID, Phase: phase, Step: step,
				Expected: fmt.Sprintf("%s on every media packet %s on %s %s", dscpName(want), dir, core, why),
				Seen:     dscpName(p.DSCP),
				Packet:   p.No, Link: p.Link,
			}
		}
		a.count++
	}
	var out []Failure
	for _, k := range keys {
		a := agg[k]
		if a.count == 0 {
			continue
		}
		a.f.Seen = fmt.Sprintf("%s on %d of %d packets, the first", a.f.Seen, a.count, a.of)
		out = append(out, a.f)
	}
	var mc []MediaCount
	for k, d := range counts {
		mc = append(mc, MediaCount{Link: k[0], Dir: k[1], Window: k[2], DSCP: d})
	}
	sort.Slice(mc, func(i, j int) bool {
		if mc[i].Link != mc[j].Link {
			return mc[i].Link < mc[j].Link
		}
		if mc[i].Dir != mc[j].Dir {
			return mc[i].Dir < mc[j].Dir
		}
		return mc[i].Window < mc[j].Window
	})
	return out, mc
}

// checkTheft reports media packets of no call that cross the core marked
// EF: a UA marked them itself and its edge router let the marking through
// (RFC 2475 boundary conditioning re-marks them to 0).
func checkTheft(orphans []mediaPacket, core string) []Failure {
	var out []Failure
	flows := map[Tuple]*Failure{}
	counts := map[Tuple]int{}
	for _, p := range orphans {
		if p.Link != core || p.DSCP != DSCPEF {
			continue
		}
		counts[p.Tuple]++
		if flows[p.Tuple] == nil {
			flows[p.Tuple] = &Failure{
				Check:    CheckTheft,
				Expected: fmt.Sprintf("DSCP 0 on %s for %s, which no gate admits", core, p.Tuple),
				Packet:   p.No, Link: p.Link,
			}
		}
	}
	for t, f := range flows {
		f.Seen = fmt.Sprintf("EF (46) on %d packets, the first", counts[t])
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Packet < out[j].Packet })
	return out
}
