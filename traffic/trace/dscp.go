package trace

import (
	"fmt"
	"sort"

	"github.com/qoslab/qoslab/flow"
)

// The DSCP rules on the core link: a call's media is marked EF while its
// gate is installed (after the Gate-Set-Ack, before the Gate-Delete), and
// carries DSCP 0 before the Gate-Set and after the Gate-Delete-Ack. R1's
// gate marks what the UAC sends, R2's what the UAS sends (flow.Gates:
// setup steps 19/20 and teardown 5/6, setup 14/15 and teardown 14/15).
// Packets are placed in their gate's life as they are read (media.go);
// this file turns the call's tally into failures and counts.

// Gate windows of a media packet, as MediaCount reports them.
const (
	WindowBeforeGate = "before-gate" // before the Gate-Set (or with no gate at all)
	WindowGated      = "gated"       // after the Gate-Set-Ack, before the Gate-Delete
	WindowAfterGate  = "after-gate"  // after the Gate-Delete-Ack
	WindowTransition = "transition"  // between a gate command and its Ack
)

// gateTable is flow.Gates by the direction of media each gate marks.
type gateTable [2]flow.Gate

func newGateTable() gateTable {
	var t gateTable
	for _, g := range flow.Gates() {
		if g.Side == flow.Originating {
			t[dirUACtoUAS] = g
		} else {
			t[dirUAStoUAC] = g
		}
	}
	return t
}

func dscpName(d uint8) string {
	if d == DSCPEF {
		return "EF (46)"
	}
	return fmt.Sprintf("DSCP %d", d)
}

// dscpFailures turns a call's media tally into DSCP failures: one per rule
// and direction, naming the first packet that broke it and how many did.
func (a *analyzer) dscpFailures(c *Call) []Failure {
	var out []Failure
	for _, f := range c.tally.fails {
		if f.bad == 0 {
			continue
		}
		g, steps := c.gates[f.dir], a.gateSteps[f.dir]
		var want uint8
		var why string
		var phase flow.Phase
		var step int
		switch f.bucket {
		case bucketGated:
			want, why, phase, step = DSCPEF, fmt.Sprintf("after setup step %d (gate installed)", steps.Installed), flow.Setup, steps.Installed
		case bucketBeforeSet:
			if g.set == nil && g.ack == nil {
				why, phase, step = "with no gate installed", flow.Setup, steps.Installed
			} else {
				why, phase, step = fmt.Sprintf("before setup step %d (gate not yet set)", steps.Set), flow.Setup, steps.Set
			}
		case bucketAfterGate:
			why, phase, step = fmt.Sprintf("after teardown step %d (gate removed)", steps.Removed), flow.Teardown, steps.Removed
		}
		out = append(out, Failure{
			Check: CheckDSCP, CallID: c.ID, Phase: phase, Step: step,
			Expected: fmt.Sprintf("%s on every media packet %s on %s %s", dscpName(want), dirNames[f.dir], a.topo.Core, why),
			Seen:     fmt.Sprintf("%s on %d of %d packets, the first", dscpName(f.first.DSCP), f.bad, f.of),
			Packet:   f.first.No, Link: f.first.Link,
		})
	}
	return out
}

// mediaCounts sums a call's media per link, direction and window.
func (a *analyzer) mediaCounts(c *Call) []MediaCount {
	type key struct {
		link   uint16
		dir    uint8
		bucket uint8
	}
	byKey := map[key]map[uint8]int{}
	for _, t := range c.tally.counts {
		k := key{t.link, t.dir, t.bucket}
		if byKey[k] == nil {
			byKey[k] = map[uint8]int{}
		}
		byKey[k][t.dscp] += t.n
	}
	var mc []MediaCount
	for k, d := range byKey {
		mc = append(mc, MediaCount{Link: a.links[k.link], Dir: dirNames[k.dir], Window: windowNames[k.bucket], DSCP: d})
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
	return mc
}

// theftFailures reports media packets of no call that crossed the core
// marked EF: a UA marked them itself and its edge router let the marking
// through (RFC 2475 boundary conditioning re-marks them to 0).
func (a *analyzer) theftFailures() []Failure {
	var out []Failure
	for _, th := range a.thefts {
		out = append(out, Failure{
			Check:    CheckTheft,
			Expected: fmt.Sprintf("DSCP 0 on %s for %s, which no gate admits", a.topo.Core, th.tuple),
			Seen:     fmt.Sprintf("EF (46) on %d packets, the first", th.n),
			Packet:   th.first.No, Link: th.first.Link,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Packet < out[j].Packet })
	return out
}
