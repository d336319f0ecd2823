package ua

import (
	"fmt"
	"strings"
	"time"

	"github.com/qoslab/qoslab/traffic/rtp"
)

// CallRequest is the body of POST /call on the UAC's control socket.
// Durations are Go duration strings ("3s", "200ms"); empty fields take
// the UAC's defaults, and ring/hangup unset leave the UAS's own defaults.
type CallRequest struct {
	To     string `json:"to,omitempty"`     // callee: a UA node name (default: the UAC's "callee" param), or a SIP URI sent to the UAC's proxy
	Talk   string `json:"talk,omitempty"`   // talk time (default 3s)
	Ring   string `json:"ring,omitempty"`   // ring time the UAS should use ("0s": 200 without 180)
	Hangup string `json:"hangup,omitempty"` // "uac" or "uas"; unset: the UAS's hangup parameter decides, else the UAC
	DSCP   *uint8 `json:"dscp,omitempty"`   // DSCP the UAC marks its RTP with (default: its "dscp" param)
	Codec  string `json:"codec,omitempty"`  // "PCMU" or "PCMA" first in the offer (default PCMU)
}

// Call outcomes.
const (
	OutcomeAnswered = "answered" // 200 OK, media ran, BYE completed
	OutcomeRefused  = "refused"  // a final non-2xx response (403, 488, 503, ...)
	OutcomeFailed   = "failed"   // no final response, or a local error
)

// CallResult is the answer to POST /call.
type CallResult struct {
	CallID  string `json:"call_id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Outcome string `json:"outcome"`
	// Status and ReasonPhrase are the final response to the INVITE.
	Status       int    `json:"status,omitempty"`
	ReasonPhrase string `json:"reason_phrase,omitempty"`
	// Reason is the Reason header of a refusal (RFC 3326), the proxy's
	// word on why policy said no.
	Reason string `json:"reason,omitempty"`
	// RetryAfter is the Retry-After header of a 503.
	RetryAfter string `json:"retry_after,omitempty"`
	Error      string `json:"error,omitempty"`

	Ringing bool `json:"ringing"` // a 180 arrived before the 200
	// SetupMillis is INVITE sent -> 200 received; PostDialDelayMillis is
	// INVITE sent -> 180 received (0 without a 180).
	SetupMillis         float64 `json:"setup_ms"`
	PostDialDelayMillis float64 `json:"post_dial_delay_ms,omitempty"`
	TalkMillis          float64 `json:"talk_ms,omitempty"`
	// HangupBy names the node that ended the call: the caller, the
	// callee, or a proxy that ended it for policy (HangupReason then
	// holds its Reason header, RFC 3326).
	HangupBy     string `json:"hangup_by,omitempty"`
	HangupReason string `json:"hangup_reason,omitempty"`
	ByeStatus    int    `json:"bye_status,omitempty"`

	// Media is the UAC's RTP report: what it sent to the UAS and what it
	// received from it. PeerMedia is what the UAS said it received.
	Media     *rtp.Report `json:"media,omitempty"`
	PeerMedia *PeerMedia  `json:"peer_media,omitempty"`
}

// callSpec is a validated CallRequest.
type callSpec struct {
	to     string
	talk   time.Duration
	ring   *time.Duration
	hangup string // "uac", "uas" or "" (the UAS's parameter decides)
	dscp   uint8
	codecs []rtp.Codec
}

func (p params) spec(r CallRequest) (callSpec, error) {
	s := callSpec{to: r.To, talk: defaultTalk, dscp: p.dscp, codecs: supportedCodecs}
	if s.to == "" {
		s.to = p.callee
	}
	if s.to == "" {
		return s, fmt.Errorf("ua: no callee: give \"to\" or set the UAC's callee parameter")
	}
	if r.Talk != "" {
		d, err := time.ParseDuration(r.Talk)
		if err != nil || d < 0 {
			return s, fmt.Errorf("ua: talk %q: want a duration like 3s", r.Talk)
		}
		s.talk = d
	}
	if r.Ring != "" {
		d, err := time.ParseDuration(r.Ring)
		if err != nil || d < 0 {
			return s, fmt.Errorf("ua: ring %q: want a duration like 200ms", r.Ring)
		}
		s.ring = &d
	}
	switch h := strings.ToLower(r.Hangup); h {
	case "", "uac", "uas":
		s.hangup = h
	default:
		return s, fmt.Errorf("ua: hangup %q: want uac or uas", r.Hangup)
	}
	if r.DSCP != nil {
		if *r.DSCP > 63 {
			return s, fmt.Errorf("ua: dscp %d: want 0-63", *r.DSCP)
		}
		s.dscp = *r.DSCP
	}
	switch strings.ToUpper(r.Codec) {
	case "", "PCMU":
	case "PCMA":
		s.codecs = []rtp.Codec{rtp.PCMA, rtp.PCMU}
	default:
		return s, fmt.Errorf("ua: codec %q: want PCMU or PCMA", r.Codec)
	}
	return s, nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
