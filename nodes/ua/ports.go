package ua

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"

	"github.com/qoslab/qoslab/traffic/rtp"
)

// maxRTPPorts bounds the search for a free RTP port above the base: 500
// concurrent calls, far beyond the e2e suite's 20.
const maxRTPPorts = 500

// portPool hands each call its own RTP port, counting up from the base
// in steps of two (RTP on even ports, RFC 3550 section 11). It goes round
// the range instead of taking the lowest free port: a port freed by a call
// that just ended is not handed out again at once, so the last packets of
// that call, still in flight or still marked by its gate, are never taken
// for the next call's (its 5-tuple would be the same).
type portPool struct {
	mu   sync.Mutex
	ip   netip.Addr
	base uint16
	used map[uint16]bool
	next int // index of the port to try first
}

func newPortPool(ip netip.Addr, base uint16) *portPool {
	return &portPool{ip: ip, base: base, used: make(map[uint16]bool)}
}

// open binds an RTP session on the next free port and returns it with a
// release function that closes it and frees the port.
func (p *portPool) open(ctx context.Context, codec rtp.Codec, dscp uint8) (*rtp.Session, func() rtp.Report, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := min(maxRTPPorts, (65535-int(p.base))/2+1)
	for tried := 0; tried < n; tried++ {
		i := (p.next + tried) % n
		port := int(p.base) + 2*i
		if p.used[uint16(port)] {
			continue
		}
		s, err := rtp.Listen(ctx, rtp.Config{Local: netip.AddrPortFrom(p.ip, uint16(port)), Codec: codec, DSCP: dscp})
		if errors.Is(err, syscall.EADDRINUSE) {
			continue // someone else's socket: try the next port
		}
		if err != nil {
			return nil, nil, err
		}
		p.used[uint16(port)] = true
		p.next = (i + 1) % n
		var once sync.Once
		var rep rtp.Report
		return s, func() rtp.Report {
			once.Do(func() {
				rep = s.Close()
				p.mu.Lock()
				delete(p.used, uint16(port))
				p.mu.Unlock()
			})
			return rep
		}, nil
	}
	return nil, nil, fmt.Errorf("ua: no free RTP port in %d-%d", p.base, int(p.base)+2*maxRTPPorts)
}
