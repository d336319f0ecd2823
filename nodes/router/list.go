package router

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"

	"github.com/qoslab/qoslab/flow"
)

// InstalledGate is a gate as the kernel holds it in a router's table: what
// `qoslab gates` shows. The gate id comes from the element's comment.
type InstalledGate struct {
	ID      uint32     `json:"gate_id"` // 0 when the element has no gate comment
	Flow    flow.Tuple `json:"-"`
	Match   string     `json:"flow"`  // Flow as text; the source port 0 is any
	DSCP    uint8      `json:"dscp"`  // the code point the gate marks with
	Class   string     `json:"class"` // its name: "ef", "cs5", "af41", ...
	Packets uint64     `json:"packets"`
	Bytes   uint64     `json:"bytes"`
}

// Gates is the state of a router's data plane as `qoslab gates` prints it.
type Gates struct {
	Gates []InstalledGate `json:"gates"`
	// Bleached counts what the boundary re-marked to DSCP 0 (theft of
	// service).
	Bleached Counters `json:"bleached"`
}

// ListGates reads the gate maps of the qoslab table in the namespace nsFd
// (0: the calling thread's), with each element's counter. It is read-only
// and works from any process, while the router runs.
func ListGates(nsFd int) (*Gates, error) {
	var opts []nftables.ConnOption
	if nsFd > 0 {
		opts = append(opts, nftables.WithNetNSFd(nsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("router: open nftables: %w", err)
	}
	table := &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}
	out := &Gates{Gates: []InstalledGate{}}
	for _, name := range []string{gatesMap, gatesAnyMap} {
		set, err := c.GetSetByName(table, name)
		if err != nil {
			return nil, fmt.Errorf("router: no gate map %s in table ip %s (is this a router, and is it running?): %w", name, tableName, err)
		}
		elems, err := c.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("router: read gate map %s: %w", name, err)
		}
		for _, e := range elems {
			f, ok := flowOfKey(e.Key)
			if !ok || len(e.Val) != 4 {
				return nil, fmt.Errorf("router: gate map %s: element with key % x, data % x is not a gate", name, e.Key, e.Val)
			}
			g := InstalledGate{Flow: f, Match: f.String(), DSCP: e.Val[3], Class: dscpName(e.Val[3])}
			if id, ok := strings.CutPrefix(e.Comment, "gate "); ok {
				n, _ := strconv.ParseUint(id, 10, 32)
				g.ID = uint32(n)
			}
			if e.Counter != nil {
				g.Packets, g.Bytes = e.Counter.Packets, e.Counter.Bytes
			}
			out.Gates = append(out.Gates, g)
		}
	}
	slices.SortFunc(out.Gates, func(a, b InstalledGate) int { return int(a.ID) - int(b.ID) })
	d := &Dataplane{conn: c, table: table}
	if out.Bleached, err = d.readCounter(bleachedObj); err != nil {
		return nil, err
	}
	return out, nil
}
