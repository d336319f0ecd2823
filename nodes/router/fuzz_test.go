package router

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/qoslab/qoslab/protocol/cops"
)

// elemReply builds the attribute part of a GETSETELEM reply for an element
// with a counter, the way the kernel lays it out (single expression).
func elemReply(packets, bytes uint64) []byte {
	le := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	cdata, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_COUNTER_BYTES, Data: le(bytes)},
		{Type: unix.NFTA_COUNTER_PACKETS, Data: le(packets)},
	})
	ex, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_EXPR_NAME, Data: []byte("counter\x00")},
		{Type: unix.NFTA_EXPR_DATA | unix.NLA_F_NESTED, Data: cdata},
	})
	key, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: make([]byte, 20)}})
	el, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_KEY | unix.NLA_F_NESTED, Data: key},
		{Type: unix.NFTA_SET_ELEM_EXPR | unix.NLA_F_NESTED, Data: ex},
	})
	list, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_LIST_ELEM | unix.NLA_F_NESTED, Data: el}})
	out, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte("qoslab\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte("gates\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_ELEMENTS | unix.NLA_F_NESTED, Data: list},
	})
	return out
}

func TestCounterInElemList(t *testing.T) {
	c, ok, err := counterInElemList(elemReply(13, 2600))
	if err != nil || !ok || c != (Counters{Packets: 13, Bytes: 2600}) {
		t.Fatalf("got %+v %v %v", c, ok, err)
	}
	if _, ok, _ := counterInElemList(elemReply(1, 1)[:30]); ok {
		t.Fatal("a truncated reply yielded a counter")
	}
}

// FuzzCounterInElemList feeds arbitrary kernel replies to the element
// counter decoder: it may refuse them, never panic, and a counter it finds
// in a well-formed reply must be the one encoded.
func FuzzCounterInElemList(f *testing.F) {
	f.Add(elemReply(13, 2600))
	f.Add(elemReply(0, 0))
	f.Add([]byte{})
	f.Add([]byte{4, 0, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = counterInElemList(b)
	})
}

// FuzzPEPHandle decodes arbitrary PCMM objects as a Gate command and runs
// it through the PEP: every command gets a reply that encodes, and a
// refused command changes no gate.
func FuzzPEPHandle(f *testing.F) {
	for _, p := range []*cops.PCMM{
		gateSetCmd(1),
		{TransactionID: 2, Command: cops.GateDelete, HasGateID: true, GateID: 1},
		{TransactionID: 3, Command: cops.GateInfo, HasGateID: true, GateID: 1},
	} {
		b, err := p.AppendTo(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var cmd cops.PCMM
		if err := cmd.Decode(b); err != nil {
			return
		}
		tbl := newMemTable()
		p := newPEP(tbl, time.Now)
		reply, err := p.handle(&cmd)
		if _, encErr := reply.AppendTo(nil); encErr != nil {
			t.Fatalf("reply %s to %s does not encode: %v", reply.String(), cmd.String(), encErr)
		}
		if err != nil && len(tbl.gates) != 0 {
			t.Fatalf("refused %s but installed %+v", cmd.String(), tbl.gates)
		}
		if err == nil && cmd.Command == cops.GateSet && len(tbl.gates) != 1 {
			t.Fatalf("acknowledged %s with %d gates", cmd.String(), len(tbl.gates))
		}
	})
}
