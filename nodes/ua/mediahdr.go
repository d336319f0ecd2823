package ua

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/qoslab/qoslab/traffic/rtp"
)

// hdrRTP carries the far side's receive statistics to the UAC: the UAS
// puts it on its BYE, or on its 200 OK to the UAC's BYE, so that one
// `qoslab call` report shows both directions of media as each receiver
// saw them. The value is a ;-separated list without commas (so no SIP
// stack splits it): packets=150;lost=0;dup=0;reorder=0;jitter_ms=0.125;dscp=46:148/0:2
const hdrRTP = "X-Qoslab-RTP"

// PeerMedia is what the far end reported about the media it received.
type PeerMedia struct {
	Packets    uint64            `json:"packets"`
	Lost       int64             `json:"lost"`
	Duplicates uint64            `json:"duplicates"`
	Reordered  uint64            `json:"reordered"`
	JitterMs   float64           `json:"jitter_ms"`
	DSCP       map[string]uint64 `json:"dscp,omitempty"`
}

func formatMediaHeader(s rtp.Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "packets=%d;lost=%d;dup=%d;reorder=%d;jitter_ms=%.3f",
		s.Packets, s.Lost, s.Duplicates, s.Reordered, s.JitterMillis)
	if len(s.DSCP) > 0 {
		keys := make([]string, 0, len(s.DSCP))
		for k := range s.DSCP {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(";dscp=")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte('/')
			}
			fmt.Fprintf(&b, "%s:%d", k, s.DSCP[k])
		}
	}
	return b.String()
}

// parseMediaHeader decodes hdrRTP. Unknown keys are skipped (a newer peer
// may add some); a malformed known value is an error.
func parseMediaHeader(v string) (PeerMedia, error) {
	var m PeerMedia
	for _, kv := range strings.Split(strings.TrimSpace(v), ";") {
		if kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return m, fmt.Errorf("ua: %s: %q is not key=value", hdrRTP, kv)
		}
		var err error
		switch k {
		case "packets":
			m.Packets, err = strconv.ParseUint(val, 10, 64)
		case "lost":
			m.Lost, err = strconv.ParseInt(val, 10, 64)
		case "dup":
			m.Duplicates, err = strconv.ParseUint(val, 10, 64)
		case "reorder":
			m.Reordered, err = strconv.ParseUint(val, 10, 64)
		case "jitter_ms":
			m.JitterMs, err = strconv.ParseFloat(val, 64)
		case "dscp":
			m.DSCP, err = parseDSCPList(val)
		}
		if err != nil {
			return m, fmt.Errorf("ua: %s: %s: %w", hdrRTP, k, err)
		}
	}
	return m, nil
}

func parseDSCPList(v string) (map[string]uint64, error) {
	out := make(map[string]uint64)
	for _, e := range strings.Split(v, "/") {
		d, n, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("%q is not dscp:count", e)
		}
		dv, err := strconv.ParseUint(d, 10, 8)
		if err != nil || dv > 63 {
			return nil, fmt.Errorf("DSCP %q out of range", d)
		}
		c, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, err
		}
		out[strconv.Itoa(int(dv))] += c
	}
	return out, nil
}
