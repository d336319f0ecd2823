package tracetest

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/qoslab/qoslab/flow"
)

// Packet is one frame of a synthetic capture with what it stands for, so
// that tests can edit the capture by meaning.
type Packet struct {
	Link string
	Time time.Time
	Data []byte // Ethernet frame

	CallID string
	Phase  flow.Phase
	Step   int    // docs/FLOW.md step of the message it carries (0: none)
	What   string // "INVITE", "REQ AAA", "RTP UAC->UAS", "TCP SYN", ...
	Hop    int    // index of the link on the message's path
}

// Capture is a synthetic capture: packets in time order and the links,
// which become pcapng interfaces in this order.
type Capture struct {
	Links   []string
	Packets []Packet
	// KeyLog holds the TLS session secrets of a capture made with
	// Spec.OSPTLS, in the NSS key log format.
	KeyLog []byte
}

// Sort puts the packets in time order (stable, so that the hops of one
// message keep their order).
func (c *Capture) Sort() {
	sort.SliceStable(c.Packets, func(i, j int) bool { return c.Packets[i].Time.Before(c.Packets[j].Time) })
}

// WritePcapng writes the capture as the lab's merged capture does: one
// Ethernet interface per link, named after the link, nanosecond
// timestamps.
func (c *Capture) WritePcapng(w io.Writer) error {
	pw, err := newPcapngWriter(w, c.Links)
	if err != nil {
		return err
	}
	for _, p := range c.Packets {
		if err := pw.write(p); err != nil {
			return err
		}
	}
	return pw.flush()
}

// pcapngWriter writes packets to a pcapng file with one interface per
// link.
type pcapngWriter struct {
	ng  *pcapgo.NgWriter
	ids map[string]int
}

func newPcapngWriter(w io.Writer, links []string) (*pcapngWriter, error) {
	if len(links) == 0 {
		return nil, fmt.Errorf("tracetest: capture without links")
	}
	intf := func(name string) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: name, LinkType: layers.LinkTypeEthernet, SnapLength: 262144, TimestampResolution: 9}
	}
	ng, err := pcapgo.NewNgWriterInterface(w, intf(links[0]), pcapgo.NgWriterOptions{})
	if err != nil {
		return nil, fmt.Errorf("tracetest: %w", err)
	}
	ids := map[string]int{links[0]: 0}
	for _, l := range links[1:] {
		id, err := ng.AddInterface(intf(l))
		if err != nil {
			return nil, fmt.Errorf("tracetest: %w", err)
		}
		ids[l] = id
	}
	return &pcapngWriter{ng: ng, ids: ids}, nil
}

func (w *pcapngWriter) write(p Packet) error {
	id, ok := w.ids[p.Link]
	if !ok {
		return fmt.Errorf("tracetest: packet on unknown link %q", p.Link)
	}
	ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data), InterfaceIndex: id}
	if err := w.ng.WritePacket(ci, p.Data); err != nil {
		return fmt.Errorf("tracetest: %w", err)
	}
	return nil
}

func (w *pcapngWriter) flush() error {
	if err := w.ng.Flush(); err != nil {
		return fmt.Errorf("tracetest: %w", err)
	}
	return nil
}

// WriteLinkPcapngs writes one capture per link, as the lab's per-link
// files: write is called with each link name and must return the file.
func (c *Capture) WriteLinkPcapngs(open func(link string) (io.WriteCloser, error)) error {
	for _, l := range c.Links {
		sub := Capture{Links: []string{l}}
		for _, p := range c.Packets {
			if p.Link == l {
				sub.Packets = append(sub.Packets, p)
			}
		}
		w, err := open(l)
		if err != nil {
			return err
		}
		err = sub.WritePcapng(w)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// WritePcap writes the packets of the links named (all links when none
// is) as one classic libpcap file with nanosecond timestamps, as `tcpdump
// -w` or `editcap -F pcap` would: the format has no interface names.
func (c *Capture) WritePcap(w io.Writer, links ...string) error {
	keep := map[string]bool{}
	for _, l := range links {
		keep[l] = true
	}
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("tracetest: %w", err)
	}
	for _, p := range c.Packets {
		if len(keep) > 0 && !keep[p.Link] {
			continue
		}
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data)}
		if err := pw.WritePacket(ci, p.Data); err != nil {
			return fmt.Errorf("tracetest: %w", err)
		}
	}
	return nil
}
