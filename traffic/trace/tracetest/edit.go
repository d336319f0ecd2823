package tracetest

import (
	"fmt"
	"sort"
	"time"

	"github.com/qoslab/qoslab/flow"
)

// StepPackets returns the indexes of the packets that carry a step of a
// call, on every link.
func (c *Capture) StepPackets(callID string, phase flow.Phase, n int) []int {
	var out []int
	for i, p := range c.Packets {
		if p.CallID == callID && p.Phase == phase && p.Step == n {
			out = append(out, i)
		}
	}
	return out
}

// SwapSteps exchanges when two steps of a call happen: every packet of
// step a takes the time of step b's first packet plus its own offset, and
// the reverse. Packets are re-sorted by time.
func (c *Capture) SwapSteps(callID string, phase flow.Phase, a, b int) error {
	pa, pb := c.StepPackets(callID, phase, a), c.StepPackets(callID, phase, b)
	if len(pa) == 0 || len(pb) == 0 {
		return fmt.Errorf("tracetest: call %s has no %s step %d or %d", callID, phase, a, b)
	}
	ta, tb := c.Packets[pa[0]].Time, c.Packets[pb[0]].Time
	shift := func(idx []int, d time.Duration) {
		for _, i := range idx {
			c.Packets[i].Time = c.Packets[i].Time.Add(d)
		}
	}
	shift(pa, tb.Sub(ta))
	shift(pb, ta.Sub(tb))
	c.Sort()
	return nil
}

// DropStep removes every packet of a step of a call, as if the capture had
// lost them (the TCP sequence numbers keep the hole).
func (c *Capture) DropStep(callID string, phase flow.Phase, n int) error {
	drop := map[int]bool{}
	for _, i := range c.StepPackets(callID, phase, n) {
		drop[i] = true
	}
	if len(drop) == 0 {
		return fmt.Errorf("tracetest: call %s has no %s step %d", callID, phase, n)
	}
	kept := c.Packets[:0]
	for i, p := range c.Packets {
		if !drop[i] {
			kept = append(kept, p)
		}
	}
	c.Packets = kept
	return nil
}

// ClearDSCP sets the DSCP of the first packet of a call on a link whose
// What is what (e.g. "RTP UAC->UAS") and that carries want, to 0. It
// returns the packet's index.
func (c *Capture) ClearDSCP(callID, link, what string, want uint8) (int, error) {
	for i, p := range c.Packets {
		if p.CallID != callID || p.Link != link || p.What != what || len(p.Data) < 16 || p.Data[15]>>2 != want {
			continue
		}
		return i, SetDSCP(c.Packets[i].Data, 0)
	}
	return 0, fmt.Errorf("tracetest: call %s has no %s with DSCP %d on %s", callID, what, want, link)
}

// LagLinks reorders the packets as a capture written by one goroutine per
// link can be: each link's packets are written late by its lag, while
// their timestamps and their order within the link stay as they were.
func (c *Capture) LagLinks(lag map[string]time.Duration) {
	key := func(p Packet) time.Time { return p.Time.Add(lag[p.Link]) }
	sort.SliceStable(c.Packets, func(i, j int) bool { return key(c.Packets[i]).Before(key(c.Packets[j])) })
}

// MoveMedia moves the first media packet of a call on a link whose What is
// what (e.g. "RTP UAS->UAC") and that carries dscp to time t, as if it had
// been sent then, and returns its index after the packets are re-sorted.
func (c *Capture) MoveMedia(callID, link, what string, dscp uint8, t time.Time) (int, error) {
	for i, p := range c.Packets {
		if p.CallID != callID || p.Link != link || p.What != what || len(p.Data) < 16 || p.Data[15]>>2 != dscp {
			continue
		}
		c.Packets[i].Time = t
		c.Sort()
		for j, q := range c.Packets {
			if q.Time.Equal(t) && q.CallID == callID && q.What == what && q.Link == link {
				return j, nil
			}
		}
	}
	return 0, fmt.Errorf("tracetest: call %s has no %s with DSCP %d on %s", callID, what, dscp, link)
}
