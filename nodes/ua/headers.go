package ua

import (
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Per-call overrides the UAC puts on its INVITE for the UAS. The CLI only
// talks to the UAC, so this is how `qoslab call --ring 0 --hangup uas`
// reaches the callee.
const (
	hdrRing   = "X-Qoslab-Ring"   // Go duration: ring time before 200
	hdrHangup = "X-Qoslab-Hangup" // "uac" or "uas": who sends BYE
	hdrTalk   = "X-Qoslab-Talk"   // Go duration: talk time of the side that hangs up
)

// callOptions is what the UAS does with one call.
type callOptions struct {
	ring      time.Duration
	talk      time.Duration
	hangupUAS bool
}

// uasOptions merges the INVITE's override headers over the UAS defaults.
// A malformed header is an error (400), not silently ignored.
func uasOptions(req *sip.Request, def callOptions) (callOptions, error) {
	o := def
	if h := req.GetHeader(hdrRing); h != nil {
		d, err := time.ParseDuration(strings.TrimSpace(h.Value()))
		if err != nil || d < 0 {
			return o, fmt.Errorf("ua: bad %s %q", hdrRing, h.Value())
		}
		o.ring = d
	}
	if h := req.GetHeader(hdrTalk); h != nil {
		d, err := time.ParseDuration(strings.TrimSpace(h.Value()))
		if err != nil || d < 0 {
			return o, fmt.Errorf("ua: bad %s %q", hdrTalk, h.Value())
		}
		o.talk = d
	}
	if h := req.GetHeader(hdrHangup); h != nil {
		switch strings.ToLower(strings.TrimSpace(h.Value())) {
		case "uas":
			o.hangupUAS = true
		case "uac":
			o.hangupUAS = false
		default:
			return o, fmt.Errorf("ua: bad %s %q", hdrHangup, h.Value())
		}
	}
	return o, nil
}
