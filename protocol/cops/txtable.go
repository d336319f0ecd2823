package cops

import "fmt"

// txTable matches gate commands to their replies by PCMM Transaction ID,
// without I/O: the GateController drives it under its lock.
type txTable struct {
	next    uint16
	pending map[uint16]chan gateResult
}

func newTxTable() txTable { return txTable{pending: map[uint16]chan gateResult{}} }

// start registers a command. A zero tid is replaced by the next free
// non-zero one (wrapping around); a tid already waiting is refused.
func (t *txTable) start(tid uint16, ch chan gateResult) (uint16, error) {
	if len(t.pending) >= 0xFFFF {
		return 0, fmt.Errorf("cops gate controller: all 65535 transaction ids are outstanding")
	}
	if tid == 0 {
		for {
			t.next++
			if _, busy := t.pending[t.next]; t.next != 0 && !busy {
				break
			}
		}
		tid = t.next
	}
	if _, busy := t.pending[tid]; busy {
		return 0, fmt.Errorf("cops gate controller: transaction %d already outstanding", tid)
	}
	t.pending[tid] = ch
	return tid, nil
}

// reply returns who waits for tid and forgets it; ok is false if nobody.
func (t *txTable) reply(tid uint16) (chan gateResult, bool) {
	ch, ok := t.pending[tid]
	if ok {
		delete(t.pending, tid)
	}
	return ch, ok
}

// cancel stops waiting for tid if ch still waits there.
func (t *txTable) cancel(tid uint16, ch chan gateResult) {
	if t.pending[tid] == ch {
		delete(t.pending, tid)
	}
}

// lost returns every waiter and forgets them all.
func (t *txTable) lost() []chan gateResult {
	out := make([]chan gateResult, 0, len(t.pending))
	for tid, ch := range t.pending {
		out = append(out, ch)
		delete(t.pending, tid)
	}
	return out
}
