package trace

// The RTP path: every UDP packet that is not SIP is a media packet of some
// call, a probe, or stolen service. It costs no allocation: packets wait
// in a ring of fixed-size records for mediaDelay of capture time (so that
// the signalling with an earlier timestamp, written later in the file by a
// lagging link, is known), then are given to the call that owns both their
// endpoints at their time and counted into that call's tally.

// mediaDelay is how long (capture time) a media packet waits before it is
// judged. The merged capture's order across links lags its timestamps by
// at most its reorder window (traffic/capture, 50 ms) plus scheduling.
const mediaDelay = int64(500e6)

// mediaRec is one media packet waiting to be judged.
type mediaRec struct {
	time     int64
	no       int
	src, dst endpoint
	link     uint16
	dscp     uint8
	rtp      bool
}

func (r *mediaRec) sighting(links []string) Sighting {
	return Sighting{No: r.no, Link: links[r.link], Time: r.time, DSCP: r.dscp}
}

// ring is a FIFO queue that reuses its storage: the queues of the single
// pass hold what is recent, and cost no allocation once grown.
type ring[T any] struct {
	buf        []T
	head, size int
}

func (q *ring[T]) push(v T) {
	if q.size == len(q.buf) {
		grown := make([]T, max(1024, 2*len(q.buf)))
		for i := 0; i < q.size; i++ {
			grown[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = grown, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = v
	q.size++
}

// front returns the oldest element (nil when empty).
func (q *ring[T]) front() *T {
	if q.size == 0 {
		return nil
	}
	return &q.buf[q.head]
}

// pop drops the oldest element.
func (q *ring[T]) pop() {
	q.head = (q.head + 1) % len(q.buf)
	q.size--
}

// owner is a call that announced an endpoint in its SDP, and when.
type owner struct {
	c  *Call
	at Sighting
}

// mediaIndex says which calls announced each media endpoint, in the order
// they announced it: ports are reused by later calls.
type mediaIndex struct {
	byEP map[endpoint][]owner
}

func newMediaIndex() *mediaIndex { return &mediaIndex{byEP: map[endpoint][]owner{}} }

func (x *mediaIndex) announce(ep endpoint, c *Call, at Sighting) {
	list := x.byEP[ep]
	for _, o := range list {
		if o.c == c {
			return
		}
	}
	x.byEP[ep] = append(list, owner{c, at})
}

// release forgets a judged call's endpoints.
func (x *mediaIndex) release(c *Call) {
	for _, ep := range c.endpoints() {
		list := x.byEP[ep]
		kept := list[:0]
		for _, o := range list {
			if o.c != c {
				kept = append(kept, o)
			}
		}
		if len(kept) == 0 {
			delete(x.byEP, ep)
		} else {
			x.byEP[ep] = kept
		}
	}
}

// owner returns the call a media packet belongs to (see ownerOf).
func (x *mediaIndex) owner(r *mediaRec, at Sighting) *Call { return x.ownerOf(r.src, r.dst, at) }

// ownerOf returns the call a flow from src to dst at a given time belongs
// to: the one whose SDP offer and answer announced both its endpoints
// before that time, the latest such call when a port was reused. A flow
// only one of whose ends was announced (a UA sending from another port
// than it announced, a classifier with a wildcard port) goes to the latest
// call that announced its destination, else its source.
func (x *mediaIndex) ownerOf(src, dst endpoint, at Sighting) *Call {
	var one *Call
	for _, ends := range [2][2]endpoint{{dst, src}, {src, dst}} {
		list := x.byEP[ends[0]]
		for i := len(list) - 1; i >= 0; i-- {
			o := list[i]
			if at.Before(o.at) {
				continue // announced after that time
			}
			if o.c.hasEndpoint(ends[1]) {
				return o.c
			}
			if one == nil {
				one = o.c
			}
		}
	}
	return one
}

// Directions of media, as reports name them.
const (
	dirUACtoUAS = 0
	dirUAStoUAC = 1
)

var dirNames = [2]string{"UAC->UAS", "UAS->UAC"}

// Rule buckets of a media packet in its gate's life.
const (
	bucketGated      = iota // after the Gate-Set-Ack, before the Gate-Delete: EF
	bucketBeforeSet         // before the Gate-Set (or no gate yet): DSCP 0
	bucketAfterGate         // after the Gate-Delete-Ack: DSCP 0
	bucketTransition        // between a command and its Ack: no rule
)

var windowNames = [4]string{WindowGated, WindowBeforeGate, WindowAfterGate, WindowTransition}

// gateLife is one PCMM gate as the capture shows it so far: the Gate-Set,
// its Ack, the Gate-Delete and its Ack (nil when not seen).
type gateLife struct {
	set, ack, del, delAck *Message
}

// bucket places a packet in its gate's life. Between a command and its
// Ack the router may or may not have acted yet, so no rule applies there.
func (g *gateLife) bucket(p Sighting) int {
	switch {
	case g.ack != nil && g.ack.First.Before(p) && (g.del == nil || p.Before(g.del.First)):
		return bucketGated
	case g.set == nil || p.Before(g.set.First):
		return bucketBeforeSet
	case g.delAck != nil && g.delAck.First.Before(p):
		return bucketAfterGate
	}
	return bucketTransition
}

// tallyCount counts a call's media packets of one link, direction,
// bucket and DSCP.
type tallyCount struct {
	link   uint16
	dir    uint8
	bucket uint8
	dscp   uint8
	n      int
}

// tallyFail aggregates the packets that break one rule in one direction
// of one call on the core: the first is reported with how many there were.
type tallyFail struct {
	dir, bucket uint8
	first       Sighting
	bad, of     int
}

// mediaTally is what a call keeps of its media: counts, not packets.
type mediaTally struct {
	counts []tallyCount
	fails  []tallyFail
	onCore [2]int // packets on the core per direction
}

func (t *mediaTally) count(link uint16, dir, bucket, dscp uint8) {
	for i := range t.counts {
		c := &t.counts[i]
		if c.link == link && c.dir == dir && c.bucket == bucket && c.dscp == dscp {
			c.n++
			return
		}
	}
	t.counts = append(t.counts, tallyCount{link, dir, bucket, dscp, 1})
}

func (t *mediaTally) judge(dir, bucket uint8, p Sighting, ok bool) {
	var f *tallyFail
	for i := range t.fails {
		if t.fails[i].dir == dir && t.fails[i].bucket == bucket {
			f = &t.fails[i]
		}
	}
	if f == nil {
		t.fails = append(t.fails, tallyFail{dir: dir, bucket: bucket})
		f = &t.fails[len(t.fails)-1]
	}
	f.of++
	if !ok {
		if f.bad == 0 {
			f.first = p
		}
		f.bad++
	}
}

// theft aggregates media of no call marked EF on the core, per flow.
type theft struct {
	first Sighting
	tuple Tuple
	n     int
}
