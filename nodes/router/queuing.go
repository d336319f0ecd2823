package router

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// QueuingConfig shapes the core-facing interface so that the EF marking
// matters when the core link is congested.
type QueuingConfig struct {
	Iface    string // core-facing interface
	LinkRate uint64 // bits/s of the emulated core link (HTB ceiling)
	EFRate   uint64 // bits/s guaranteed to EF; best effort gets the rest
}

// HTB handles as tc prints them (minor numbers are hex): root 1:, parent
// class 1:1 at link rate, EF 1:10 with priority 0, best effort 1:20 (the
// default class, named by its minor number alone).
const htbDefaultMinor = 0x20

var (
	htbRoot    = netlink.MakeHandle(1, 0)
	htbParent  = netlink.MakeHandle(1, 1)
	htbEF      = netlink.MakeHandle(1, 0x10)
	htbBestEff = netlink.MakeHandle(1, htbDefaultMinor)
)

// tosEF is DSCP 46 in the TOS byte, as the u32 filter sees the first
// 32-bit word of the IPv4 header (version/IHL, TOS, total length).
const (
	u32TOSValue = uint32(DSCPEF<<2) << 16
	u32TOSMask  = uint32(0xfc) << 16
)

// Validate checks the rates.
func (q QueuingConfig) Validate() error {
	switch {
	case q.Iface == "":
		return errors.New("router: queuing: no core interface")
	case q.LinkRate == 0:
		return errors.New("router: queuing: link rate is zero")
	case q.EFRate == 0 || q.EFRate >= q.LinkRate:
		return fmt.Errorf("router: queuing: EF rate %d must be above zero and below the link rate %d", q.EFRate, q.LinkRate)
	}
	return nil
}

// installQueuing replaces the root qdisc of the core interface with an HTB
// tree whose EF class is served first and guaranteed EFRate, and a u32
// filter that sends DSCP 46 to it. h operates in the router's namespace.
func installQueuing(h *netlink.Handle, q QueuingConfig) error {
	if err := q.Validate(); err != nil {
		return err
	}
	link, err := h.LinkByName(q.Iface)
	if err != nil {
		return fmt.Errorf("router: queuing: interface %s: %w", q.Iface, err)
	}
	idx := link.Attrs().Index
	htb := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: idx, Handle: htbRoot, Parent: netlink.HANDLE_ROOT})
	htb.Defcls = htbDefaultMinor
	// A restarted router finds its old tree: replacing an HTB root with an
	// HTB root only changes it and keeps old filters, so remove it first.
	// An interface without our root (noqueue, the veth default) has
	// nothing to remove, hence the ignored error.
	_ = h.QdiscDel(htb)
	if err := h.QdiscAdd(htb); err != nil {
		return fmt.Errorf("router: queuing: htb root on %s: %w", q.Iface, err)
	}
	classes := []*netlink.HtbClass{
		netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: htbRoot, Handle: htbParent},
			netlink.HtbClassAttrs{Rate: q.LinkRate, Ceil: q.LinkRate}),
		netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: htbParent, Handle: htbEF},
			netlink.HtbClassAttrs{Rate: q.EFRate, Ceil: q.LinkRate, Prio: 0}),
		netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: htbParent, Handle: htbBestEff},
			netlink.HtbClassAttrs{Rate: q.LinkRate - q.EFRate, Ceil: q.LinkRate, Prio: 1}),
	}
	for _, c := range classes {
		if err := h.ClassReplace(c); err != nil {
			return fmt.Errorf("router: queuing: htb class %s on %s: %w", netlink.HandleStr(c.Handle), q.Iface, err)
		}
	}
	filter := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: htbRoot, Priority: 1, Protocol: unix.ETH_P_IP},
		ClassId:     htbEF,
		Sel: &netlink.TcU32Sel{
			Flags: netlink.TC_U32_TERMINAL,
			Keys:  []netlink.TcU32Key{{Mask: u32TOSMask, Val: u32TOSValue, Off: 0}},
		},
	}
	if err := h.FilterReplace(filter); err != nil {
		return fmt.Errorf("router: queuing: EF filter on %s: %w", q.Iface, err)
	}
	return nil
}

// queueStats reads the bytes and packets sent by the EF and best-effort
// classes, for tests and diagnostics.
func queueStats(h *netlink.Handle, iface string) (ef, be Counters, err error) {
	link, err := h.LinkByName(iface)
	if err != nil {
		return ef, be, fmt.Errorf("router: queuing: interface %s: %w", iface, err)
	}
	classes, err := h.ClassList(link, htbRoot)
	if err != nil {
		return ef, be, fmt.Errorf("router: queuing: list classes on %s: %w", iface, err)
	}
	for _, c := range classes {
		st := c.Attrs().Statistics
		if st == nil || st.Basic == nil {
			continue
		}
		cnt := Counters{Packets: uint64(st.Basic.Packets), Bytes: st.Basic.Bytes}
		switch c.Attrs().Handle {
		case htbEF:
			ef = cnt
		case htbBestEff:
			be = cnt
		}
	}
	return ef, be, nil
}
