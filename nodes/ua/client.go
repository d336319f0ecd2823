package ua

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
)

// PlaceCall asks the UAC listening on the control socket at sockPath to
// place one call, and waits for its outcome (the talk time and more).
func PlaceCall(ctx context.Context, sockPath string, req CallRequest) (CallResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return CallResult{}, fmt.Errorf("ua: encode call request: %w", err)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sockPath)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://uac/call", bytes.NewReader(body))
	if err != nil {
		return CallResult{}, fmt.Errorf("ua: call request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(hreq)
	if err != nil {
		return CallResult{}, fmt.Errorf("ua: control socket %s (is the lab up?): %w", sockPath, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return CallResult{}, fmt.Errorf("ua: read call result: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return CallResult{}, fmt.Errorf("ua: call refused by the UAC: %s", e.Error)
		}
		return CallResult{}, fmt.Errorf("ua: control socket answered %s", resp.Status)
	}
	var res CallResult
	if err := json.Unmarshal(b, &res); err != nil {
		return CallResult{}, fmt.Errorf("ua: decode call result: %w", err)
	}
	return res, nil
}

// WriteText prints the result for a person: outcome, timings, and the
// media of both directions as each receiver saw it.
func (r CallResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "call %s  %s -> %s: %s", r.CallID, r.From, r.To, r.Outcome)
	if r.Status != 0 {
		fmt.Fprintf(&b, " (%d %s)", r.Status, r.ReasonPhrase)
	}
	b.WriteByte('\n')
	if r.Reason != "" {
		fmt.Fprintf(&b, "  reason: %s\n", r.Reason)
	}
	if r.RetryAfter != "" {
		fmt.Fprintf(&b, "  retry after: %s s\n", r.RetryAfter)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", r.Error)
	}
	if r.Outcome == OutcomeAnswered || r.SetupMillis > 0 {
		fmt.Fprintf(&b, "  setup %.2f ms", r.SetupMillis)
		if r.Ringing {
			fmt.Fprintf(&b, ", post-dial delay %.2f ms (180 Ringing)", r.PostDialDelayMillis)
		} else {
			b.WriteString(", answered without 180")
		}
		if r.HangupBy != "" {
			fmt.Fprintf(&b, ", talk %.0f ms, hung up by %s", r.TalkMillis, r.HangupBy)
			if r.HangupReason != "" {
				fmt.Fprintf(&b, " (%s)", r.HangupReason)
			}
		}
		b.WriteByte('\n')
	}
	if m := r.Media; m != nil && (m.Sent.Packets > 0 || m.Received.Packets > 0) {
		fmt.Fprintf(&b, "  media %s, %s local %s remote %s\n", m.Codec, r.From, m.Local, m.Remote)
		fmt.Fprintf(&b, "    %s -> %s: sent %d packets (marked DSCP %d)", r.From, r.To, m.Sent.Packets, m.Sent.DSCP)
		if p := r.PeerMedia; p != nil {
			fmt.Fprintf(&b, ", %s received %d, lost %d, dup %d, reordered %d, jitter %.2f ms, DSCP seen %s",
				r.To, p.Packets, p.Lost, p.Duplicates, p.Reordered, p.JitterMs, dscpString(p.DSCP))
		}
		b.WriteByte('\n')
		s := m.Received
		fmt.Fprintf(&b, "    %s -> %s: received %d packets, lost %d, dup %d, reordered %d, jitter %.2f ms, DSCP seen %s\n",
			r.To, r.From, s.Packets, s.Lost, s.Duplicates, s.Reordered, s.JitterMillis, dscpString(s.DSCP))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dscpString(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s x%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
