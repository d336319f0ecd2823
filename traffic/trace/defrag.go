package trace

import "sort"

// fragTimeout is how long (capture time) the fragments of a datagram wait
// for the rest (RFC 791's reassembly timer is 15 s; Linux uses 30 s).
const fragTimeout = 30e9

// maxDatagram bounds a reassembled datagram (the IPv4 maximum).
const maxDatagram = 65535

// fragKey names one datagram being reassembled on one link (RFC 791: the
// source, destination, protocol and identification).
type fragKey struct {
	link     uint16
	src, dst endpoint
	id       uint16
	proto    uint8
}

type fragPiece struct {
	off  int
	data []byte
}

type fragDatagram struct {
	pieces []fragPiece
	total  int // length of the whole payload, once the last fragment is in
	first  int64
}

// defragmenter reassembles IPv4 datagrams. Only fragmented datagrams
// (SIP INVITEs with an OSP token) pass here; it keeps copies of their
// pieces until the datagram is whole or times out.
type defragmenter struct {
	pending map[fragKey]*fragDatagram
}

func newDefragmenter() *defragmenter { return &defragmenter{pending: map[fragKey]*fragDatagram{}} }

// add takes one fragment and returns the whole payload once every byte is
// there. The completing fragment's frame stands for the datagram.
func (d *defragmenter) add(link uint16, pk *packet, id uint16, proto uint8, off int, more bool, payload []byte) ([]byte, bool) {
	k := fragKey{link: link, src: pk.src, dst: pk.dst, id: id, proto: proto}
	dg := d.pending[k]
	if dg == nil {
		dg = &fragDatagram{total: -1, first: pk.Time}
		d.pending[k] = dg
	}
	if off+len(payload) > maxDatagram {
		delete(d.pending, k)
		return nil, false
	}
	dg.pieces = append(dg.pieces, fragPiece{off, append([]byte(nil), payload...)})
	if !more {
		dg.total = off + len(payload)
	}
	if dg.total < 0 {
		return nil, false
	}
	sort.Slice(dg.pieces, func(i, j int) bool { return dg.pieces[i].off < dg.pieces[j].off })
	have := 0
	for _, p := range dg.pieces {
		if p.off > have {
			return nil, false // a hole
		}
		have = max(have, p.off+len(p.data))
	}
	if have < dg.total {
		return nil, false
	}
	whole := make([]byte, dg.total)
	for _, p := range dg.pieces {
		copy(whole[p.off:], p.data)
	}
	delete(d.pending, k)
	return whole, true
}

// expire drops datagrams whose first fragment is older than the timeout.
func (d *defragmenter) expire(now int64) {
	for k, dg := range d.pending {
		if now-dg.first > fragTimeout {
			delete(d.pending, k)
		}
	}
}
