package copsconn

import "time"

// keepAlive is the keep-alive state machine of one COPS connection
// (RFC 2748 section 4.4). It has no clock and no randomness: the driver
// passes the time and a random number in [0,1) and arms one timer for
// Next().
//
// A sender (the PEP side of a connection) sends a KA when it has sent
// nothing for a random time between 1/4 and 3/4 of the KA timer. Both sides
// declare the peer dead when nothing arrived for a whole KA timer. A peer
// that sends more than floodLimit KAs within one second is flooding.
type keepAlive struct {
	period time.Duration // negotiated KA timer; 0 disables keep-alives
	sender bool

	lastRx time.Time
	nextTx time.Time

	floodStart time.Time
	floodCount int
}

// floodLimit is how many KAs per second a peer may send before the
// connection is closed. A well-behaved PEP sends at most 4 per KA timer.
const floodLimit = 50

// kaAction is what the driver must do after Tick.
type kaAction uint8

const (
	kaNone kaAction = iota
	kaSend          // send a KA now
	kaDead          // the peer is silent: close the connection
)

func newKeepAlive(period time.Duration, sender bool, now time.Time, rnd float64) keepAlive {
	k := keepAlive{period: period, sender: sender, lastRx: now}
	k.Sent(now, rnd)
	return k
}

// Sent records that any message was sent at now; the next KA is due at a
// random point between 1/4 and 3/4 of the period later.
func (k *keepAlive) Sent(now time.Time, rnd float64) {
	k.nextTx = now.Add(time.Duration(float64(k.period) * (0.25 + 0.5*rnd)))
}

// Received records a message from the peer. It returns true if the peer is
// flooding KAs.
func (k *keepAlive) Received(now time.Time, isKA bool) (flood bool) {
	k.lastRx = now
	if !isKA {
		return false
	}
	if now.Sub(k.floodStart) >= time.Second {
		k.floodStart, k.floodCount = now, 0
	}
	k.floodCount++
	return k.floodCount > floodLimit
}

// Tick tells what is due at now.
func (k *keepAlive) Tick(now time.Time) kaAction {
	if k.period == 0 {
		return kaNone
	}
	if !now.Before(k.lastRx.Add(k.period)) {
		return kaDead
	}
	if k.sender && !now.Before(k.nextTx) {
		return kaSend
	}
	return kaNone
}

// Next returns when Tick has something to do; the zero time if never.
func (k *keepAlive) Next() time.Time {
	if k.period == 0 {
		return time.Time{}
	}
	dead := k.lastRx.Add(k.period)
	if k.sender && k.nextTx.Before(dead) {
		return k.nextTx
	}
	return dead
}
