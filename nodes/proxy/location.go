package proxy

import (
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The location service of a registrar (RFC 3261 section 10.3): for each
// address-of-record of the proxy's domain, the contacts its user agents
// registered and until when. It is pure state with an injected clock; the
// REGISTER handler in registrar.go is the I/O around it.

// Registration bounds, in seconds (RFC 3261 10.2.1.1, 10.3 step 7).
const (
	DefaultExpires = 3600
	MaxExpires     = 3600
	MinExpires     = 60
)

// binding is one registered contact.
type binding struct {
	Contact sip.Uri
	Expires time.Time
	CallID  string // of the REGISTERs that keep it (10.3 step 7)
	CSeq    uint32
}

// location holds the bindings by address-of-record.
type location struct {
	now func() time.Time

	mu   sync.Mutex
	aors map[string][]binding // by aorKey
}

func newLocation(now func() time.Time) *location {
	if now == nil {
		now = time.Now
	}
	return &location{now: now, aors: map[string][]binding{}}
}

// aorKey is an address-of-record as the table compares it: user and host,
// the host case-insensitively (RFC 3261 19.1.4: the user part is
// case-sensitive).
func aorKey(u sip.Uri) string { return u.User + "@" + strings.ToLower(u.Host) }

// sameContact compares contacts by user, host and port (19.1.4, enough for
// the lab's URIs).
func sameContact(a, b sip.Uri) bool {
	return a.User == b.User && strings.EqualFold(a.Host, b.Host) && a.Port == b.Port
}

// update applies one contact of a REGISTER: expires 0 removes it. A
// REGISTER older than the binding's (same Call-ID, lower or equal CSeq)
// is stale: false, and nothing changes (10.3 step 7).
func (l *location) update(aor sip.Uri, contact sip.Uri, expires int, callID string, cseq uint32) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := aorKey(aor)
	bs := l.live(k)
	for i, b := range bs {
		if !sameContact(b.Contact, contact) {
			continue
		}
		if b.CallID == callID && cseq <= b.CSeq {
			return false
		}
		bs = append(bs[:i], bs[i+1:]...)
		break
	}
	if expires > 0 {
		bs = append(bs, binding{Contact: contact, Expires: l.now().Add(time.Duration(expires) * time.Second), CallID: callID, CSeq: cseq})
	}
	l.set(k, bs)
	return true
}

// clear removes every binding of aor (Contact: *, Expires: 0).
func (l *location) clear(aor sip.Uri) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.aors, aorKey(aor))
}

// lookup returns the live bindings of aor, newest last.
func (l *location) lookup(aor sip.Uri) []binding {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := aorKey(aor)
	bs := l.live(k)
	l.set(k, bs)
	return append([]binding(nil), bs...)
}

// live drops the expired bindings of k; l.mu is held.
func (l *location) live(k string) []binding {
	now := l.now()
	var out []binding
	for _, b := range l.aors[k] {
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	return out
}

func (l *location) set(k string, bs []binding) {
	if len(bs) == 0 {
		delete(l.aors, k)
		return
	}
	l.aors[k] = bs
}
