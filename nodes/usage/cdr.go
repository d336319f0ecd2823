package usage

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/qoslab/qoslab/protocol/osp"
)

// This file is the reading side of the usage stores: `qoslab cdr`. A call
// leaves two usage indications, one per side (the caller's policy server
// reports role "source", the callee's "destination", OSP's words); a
// billing or operations person wants one call detail record per call with
// both sides' figures, durations in milliseconds, times in UTC saying so,
// units in the column names, and who hung up.

// NodeRecord is a stored usage record and the node whose store holds it.
type NodeRecord struct {
	Node string `json:"node"`
	Record
}

// ReadDir reads every usage store of a lab's run directory, or of a
// `qoslab run` directory: <dir>/nodes/*/usage.db.
func ReadDir(ctx context.Context, dir string) ([]NodeRecord, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "nodes", "*", FileName))
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	slices.Sort(files)
	var out []NodeRecord
	for _, f := range files {
		node := filepath.Base(filepath.Dir(f))
		s, err := Open(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("usage: %s: %w", node, err)
		}
		recs, err := s.List(ctx)
		s.Close()
		if err != nil {
			return nil, fmt.Errorf("usage: %s: %w", node, err)
		}
		for _, r := range recs {
			out = append(out, NodeRecord{Node: node, Record: r})
		}
	}
	return out, nil
}

// Release sources (OSP ReleaseSource) by name.
const (
	ReleasedBySource      = "source"      // the caller hung up
	ReleasedByDestination = "destination" // the callee hung up
)

// releasedBy names an OSP ReleaseSource as the record stores it (see
// Record.ReleaseSource): "source", "destination", "internal",
// "external", "unknown"; "" when not reported.
func releasedBy(code int) string {
	if code <= 0 || code > int(osp.ReleaseUnknown) {
		return ""
	}
	return osp.ReleaseSource(code).String()
}

// SideReport is what one side's policy server reported about a call.
type SideReport struct {
	Reporter      string    `json:"reporter"`
	TransactionID string    `json:"transaction_id"`
	DurationMs    int64     `json:"duration_ms"` // its connect to its end
	Amount        string    `json:"amount"`      // the duration as OSP carried it: decimal, in Unit
	Unit          string    `json:"unit"`
	ReceivedUTC   time.Time `json:"received_utc"`
	// Packets and Bytes the side's edge router marked for the call's
	// gate; nil when the report carried no figures. CountersLost: the
	// router restarted during the call, so they are a lower bound.
	Packets      *int64 `json:"packets"`
	Bytes        *int64 `json:"bytes"`
	CountersLost bool   `json:"counters_lost"`
}

// CDR is one call: both sides' usage indications, merged on the call id.
// Times are the caller's side's (the source's), else the callee's.
type CDR struct {
	CallID          string      `json:"call_id"`
	Node            string      `json:"node"` // whose store holds it (the clearinghouse, or a policy server without one)
	Source          string      `json:"source"`
	Destination     string      `json:"destination"`
	ServiceClass    string      `json:"service_class"`
	BandwidthBps    int64       `json:"bandwidth_bps"`
	StartUTC        time.Time   `json:"start_utc"`
	AlertUTC        time.Time   `json:"alert_utc,omitzero"`
	ConnectUTC      time.Time   `json:"connect_utc,omitzero"`
	EndUTC          time.Time   `json:"end_utc"`
	DurationMs      int64       `json:"duration_ms"`        // connect to end; 0 for a call never answered
	PostDialDelayMs int64       `json:"post_dial_delay_ms"` // start to alert (or connect without a 180)
	ReleasedBy      string      `json:"released_by"`        // "source", "destination", or "" when unknown
	Cause           string      `json:"cause"`              // Q.850 code and text
	SourceSide      *SideReport `json:"source_side"`        // nil when that side has not reported (yet)
	DestinationSide *SideReport `json:"destination_side"`
}

// CDRs merges records into one CDR per call and store, in the order the
// stores received their first record.
func CDRs(recs []NodeRecord) []CDR {
	type key struct{ node, call string }
	idx := map[key]int{}
	var out []CDR
	sides := map[key][2]*NodeRecord{}
	for i := range recs {
		r := &recs[i]
		k := key{r.Node, r.CallID}
		if _, ok := idx[k]; !ok {
			idx[k] = len(out)
			out = append(out, CDR{CallID: r.CallID, Node: r.Node})
		}
		s := sides[k]
		if r.Role == "destination" {
			s[1] = r
		} else {
			s[0] = r
		}
		sides[k] = s
	}
	for k, s := range sides {
		c := &out[idx[k]]
		main := cmp.Or(s[0], s[1])
		c.Source, c.Destination = main.Source, main.Destination
		c.ServiceClass, c.BandwidthBps = main.ServiceClass, main.Bandwidth
		c.StartUTC, c.AlertUTC, c.ConnectUTC, c.EndUTC = main.StartTime.UTC(), main.AlertTime.UTC(), main.ConnectTime.UTC(), main.EndTime.UTC()
		c.DurationMs = durationMs(main.Record)
		c.PostDialDelayMs = main.PostDialDelay
		for _, r := range s {
			if r != nil && c.ReleasedBy == "" {
				c.ReleasedBy = releasedBy(r.ReleaseSource)
			}
		}
		c.Cause = cause(main.Record)
		if s[0] != nil {
			c.SourceSide = sideOf(s[0].Record)
		}
		if s[1] != nil {
			c.DestinationSide = sideOf(s[1].Record)
		}
	}
	return out
}

// durationMs is the duration the side reported (its Amount, to the
// millisecond), else its connect to its end.
func durationMs(r Record) int64 {
	if r.DurationMs > 0 {
		return r.DurationMs
	}
	if r.ConnectTime.IsZero() || !r.EndTime.After(r.ConnectTime) {
		return 0
	}
	return r.EndTime.Sub(r.ConnectTime).Milliseconds()
}

func cause(r Record) string {
	if r.TerminationCause == 0 && r.TerminationText == "" {
		return ""
	}
	s := strconv.Itoa(r.TerminationCause)
	if r.TerminationText != "" {
		s += " " + r.TerminationText
	}
	return s
}

func sideOf(r Record) *SideReport {
	s := &SideReport{Reporter: r.Reporter, TransactionID: r.TransactionID, DurationMs: durationMs(r),
		Amount: osp.SecondsOf(time.Duration(r.DurationMs) * time.Millisecond).String(), Unit: r.Unit, ReceivedUTC: r.ReceivedAt.UTC(), CountersLost: r.CountersLost}
	if r.CountersKnown {
		p, b := r.Packets, r.Octets
		s.Packets, s.Bytes = &p, &b
	}
	return s
}

// utc renders a time as the CDR columns do: RFC 3339 in UTC with
// milliseconds and the zone ("Z"); empty for no time.
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func num(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

// cdrColumns are the CSV columns of WriteCDRs, units in their names.
var cdrColumns = []string{"call_id", "node", "source", "destination", "service_class", "bandwidth_bps",
	"start_utc", "alert_utc", "connect_utc", "end_utc", "duration_ms", "post_dial_delay_ms", "released_by", "cause",
	"source_reporter", "source_packets", "source_bytes", "source_counters_lost",
	"destination_reporter", "destination_packets", "destination_bytes", "destination_counters_lost"}

func (c CDR) row() []string {
	side := func(s *SideReport) []string {
		if s == nil {
			return []string{"", "", "", ""}
		}
		lost := ""
		if s.Packets != nil {
			lost = strconv.FormatBool(s.CountersLost)
		}
		return []string{s.Reporter, num(s.Packets), num(s.Bytes), lost}
	}
	r := []string{c.CallID, c.Node, c.Source, c.Destination, c.ServiceClass, strconv.FormatInt(c.BandwidthBps, 10),
		utc(c.StartUTC), utc(c.AlertUTC), utc(c.ConnectUTC), utc(c.EndUTC), strconv.FormatInt(c.DurationMs, 10),
		strconv.FormatInt(c.PostDialDelayMs, 10), c.ReleasedBy, c.Cause}
	return append(append(r, side(c.SourceSide)...), side(c.DestinationSide)...)
}

// Formats WriteCDRs and WriteRecords take.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// WriteCDRs prints one line per call: a table for people, CSV with the
// columns of cdrColumns, or JSON (a list of CDR).
func WriteCDRs(w io.Writer, format string, cdrs []CDR) error {
	switch format {
	case FormatJSON:
		if cdrs == nil {
			cdrs = []CDR{}
		}
		return writeJSON(w, cdrs)
	case FormatCSV:
		rows := make([][]string, 0, len(cdrs))
		for _, c := range cdrs {
			rows = append(rows, c.row())
		}
		return writeCSV(w, cdrColumns, rows)
	case FormatTable:
	default:
		return fmt.Errorf("usage: format %q: want table, csv or json", format)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL ID\tFROM\tTO\tCLASS\tKBIT/S\tSTART (UTC)\tPDD MS\tDURATION MS\tRELEASED BY\tCAUSE\tSRC PKTS/BYTES\tDST PKTS/BYTES")
	lost := false
	for _, c := range cdrs {
		counters := func(s *SideReport) string {
			if s == nil {
				return "(no report)"
			}
			if s.Packets == nil {
				return "-"
			}
			mark := ""
			if s.CountersLost {
				mark, lost = "+", true
			}
			return fmt.Sprintf("%d/%d%s", *s.Packets, *s.Bytes, mark)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%g\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", c.CallID, c.Source, c.Destination, c.ServiceClass,
			float64(c.BandwidthBps)/1000, utc(c.StartUTC), c.PostDialDelayMs, c.DurationMs, cmp.Or(c.ReleasedBy, "unknown"),
			c.Cause, counters(c.SourceSide), counters(c.DestinationSide))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	if len(cdrs) == 0 {
		fmt.Fprintln(w, "(no usage records)")
	}
	if lost {
		fmt.Fprintln(w, "+ the router lost its counters during the call (restart): packets and bytes are a lower bound")
	}
	return nil
}

// recordColumns are the CSV columns of WriteRecords (one row per side).
var recordColumns = []string{"node", "transaction_id", "role", "call_id", "source", "destination", "reporter",
	"service_class", "bandwidth_bps", "amount", "unit", "duration_ms", "start_utc", "alert_utc", "connect_utc", "end_utc",
	"post_dial_delay_ms", "released_by", "cause", "received_utc", "packets", "bytes", "counters_lost"}

func (r NodeRecord) row() []string {
	s := sideOf(r.Record)
	lost := ""
	if s.Packets != nil {
		lost = strconv.FormatBool(r.CountersLost)
	}
	return []string{r.Node, r.TransactionID, r.Role, r.CallID, r.Source, r.Destination, r.Reporter,
		r.ServiceClass, strconv.FormatInt(r.Bandwidth, 10), s.Amount, r.Unit,
		strconv.FormatInt(s.DurationMs, 10), utc(r.StartTime), utc(r.AlertTime), utc(r.ConnectTime), utc(r.EndTime),
		strconv.FormatInt(r.PostDialDelay, 10), releasedBy(r.ReleaseSource), cause(r.Record), utc(r.ReceivedAt),
		num(s.Packets), num(s.Bytes), lost}
}

// WriteRecords prints the stored records themselves, one line per side
// (`qoslab cdr --per-side`); JSON is a list of NodeRecord.
func WriteRecords(w io.Writer, format string, recs []NodeRecord) error {
	rows := make([][]string, 0, len(recs))
	for _, r := range recs {
		rows = append(rows, r.row())
	}
	switch format {
	case FormatJSON:
		if recs == nil {
			recs = []NodeRecord{}
		}
		return writeJSON(w, recs)
	case FormatCSV:
		return writeCSV(w, recordColumns, rows)
	case FormatTable:
	default:
		return fmt.Errorf("usage: format %q: want table, csv or json", format)
	}
	cols := []int{0, 2, 3, 4, 5, 7, 8, 11, 12, 16, 17, 20, 21, 22}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(fields []string) {
		for i, c := range cols {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, fields[c])
		}
		fmt.Fprintln(tw)
	}
	line(recordColumns)
	lost := false
	for i, r := range rows {
		if recs[i].CountersKnown && recs[i].CountersLost {
			// A lower bound: mark it where it is read.
			r[20] += "+"
			r[21] += "+"
			lost = true
		}
		line(r)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	if len(recs) == 0 {
		fmt.Fprintln(w, "(no usage records)")
	}
	if lost {
		fmt.Fprintln(w, "+ the router lost its counters during the call (restart): packets and bytes are a lower bound")
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	return nil
}

func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	_ = cw.WriteAll(rows)
	if err := cw.Error(); err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	return nil
}
