package router

import (
	"errors"
	"fmt"

	"github.com/qoslab/qoslab/flow"
)

// Gate is one authorised flow and the DSCP its packets get.
// Its Flow is the classifier: the packets of one direction of a media
// stream as they enter the network at this router. A source port of 0 is
// a wildcard (any source port), as in a PacketCable classifier; every
// other field must be given.
type Gate struct {
	ID   uint32 // the PacketCable GateID, unique on this router
	Flow flow.Tuple
	DSCP uint8 // 0-63; 46 is EF
}

// Counters are the packets and bytes a gate has marked.
type Counters struct {
	Packets uint64
	Bytes   uint64
}

func (c Counters) add(o Counters) Counters {
	return Counters{Packets: c.Packets + o.Packets, Bytes: c.Bytes + o.Bytes}
}

// IP protocol numbers a classifier may name.
const (
	protoTCP = 6
	protoUDP = 17
)

// DSCP code points the lab uses by name.
const (
	DSCPDefault = 0
	DSCPCS5     = 40 // signalling (RFC 4594)
	DSCPEF      = 46 // expedited forwarding, the media class
)

// ErrUnknownGate is returned for a gate id that is not installed.
var ErrUnknownGate = errors.New("router: unknown gate")

// Validate reports why a gate cannot be installed, or nil. The data plane
// keys on IPv4 5-tuples with a transport header, so other classifiers are
// refused with a reason the PEP can send back in a Gate-Set-Err.
func (g Gate) Validate() error {
	f := g.Flow
	switch {
	case g.ID == 0:
		return errors.New("router: gate id 0 is reserved")
	case g.DSCP > 63:
		return fmt.Errorf("router: gate %d: DSCP %d out of range 0-63", g.ID, g.DSCP)
	case !f.Src.Addr().Is4() || !f.Dst.Addr().Is4():
		return fmt.Errorf("router: gate %d: classifier %s: only IPv4 source and destination addresses are supported", g.ID, f)
	case f.Src.Addr().IsUnspecified() || f.Dst.Addr().IsUnspecified():
		return fmt.Errorf("router: gate %d: classifier %s: wildcard addresses are not supported", g.ID, f)
	case f.Proto != protoUDP && f.Proto != protoTCP:
		return fmt.Errorf("router: gate %d: classifier %s: protocol must be UDP or TCP", g.ID, f)
	case f.Dst.Port() == 0:
		return fmt.Errorf("router: gate %d: classifier %s: a destination port is required", g.ID, f)
	}
	return nil
}
