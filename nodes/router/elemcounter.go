package router

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftaSetElemExpressions is NFTA_SET_ELEM_EXPRESSIONS (a list of
// expressions, used by kernels for elements with more than one).
const nftaSetElemExpressions = 11

// elemCounterReader reads the counter of one set element with a single
// NFT_MSG_GETSETELEM request for its key (what `nft get element` does).
// google/nftables only offers a dump of the whole set, which would make a
// Gate-Delete-Ack cost grow with the number of gates.
type elemCounterReader struct {
	conn   *netlink.Conn
	family uint8
	table  string
}

func newElemCounterReader(nsFd int, family uint8, table string) (*elemCounterReader, error) {
	cfg := &netlink.Config{}
	if nsFd > 0 {
		cfg.NetNS = nsFd
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("router: netlink for counters: %w", err)
	}
	return &elemCounterReader{conn: c, family: family, table: table}, nil
}

func (r *elemCounterReader) Close() error { return r.conn.Close() }

// read returns the counter of the element with the given key in set.
func (r *elemCounterReader) read(set string, key []byte) (Counters, error) {
	keyAttr, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: key}})
	if err != nil {
		return Counters{}, err
	}
	elem, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_SET_ELEM_KEY | unix.NLA_F_NESTED, Data: keyAttr}})
	if err != nil {
		return Counters{}, err
	}
	list, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_LIST_ELEM | unix.NLA_F_NESTED, Data: elem}})
	if err != nil {
		return Counters{}, err
	}
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(r.table + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(set + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_ELEMENTS | unix.NLA_F_NESTED, Data: list},
	})
	if err != nil {
		return Counters{}, err
	}
	req := netlink.Message{
		Header: netlink.Header{
			Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM),
			// No Acknowledge: the reply is the element itself, and an
			// extra ack would be left in the socket for the next request.
			Flags: netlink.Request,
		},
		Data: append([]byte{r.family, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	msgs, err := r.conn.Execute(req)
	if err != nil {
		return Counters{}, fmt.Errorf("router: get element of %s: %w", set, err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		if c, ok, err := counterInElemList(m.Data[4:]); err != nil || ok {
			return c, err
		}
	}
	return Counters{}, fmt.Errorf("router: element of %s has no counter", set)
}

// counterInElemList walks NFTA_SET_ELEM_LIST_ELEMENTS -> element ->
// NFTA_SET_ELEM_EXPR(ESSIONS) -> "counter" and returns its values.
func counterInElemList(b []byte) (Counters, bool, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Counters{}, false, err
	}
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		return walkNested(ad.Bytes(), func(elem []byte) (Counters, bool, error) {
			return walkNested(elem, nil)
		})
	}
	return Counters{}, false, ad.Err()
}

// walkNested handles one level of the element structure: for a list
// (inner != nil) it descends into each entry; for an element it looks for
// the expression attributes.
func walkNested(b []byte, inner func([]byte) (Counters, bool, error)) (Counters, bool, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Counters{}, false, err
	}
	for ad.Next() {
		t := ad.Type()
		switch {
		case inner != nil && t == unix.NFTA_LIST_ELEM:
			if c, ok, err := inner(ad.Bytes()); err != nil || ok {
				return c, ok, err
			}
		case inner == nil && t == unix.NFTA_SET_ELEM_EXPR:
			if c, ok, err := counterExpr(ad.Bytes()); err != nil || ok {
				return c, ok, err
			}
		case inner == nil && t == nftaSetElemExpressions:
			if c, ok, err := walkExprList(ad.Bytes()); err != nil || ok {
				return c, ok, err
			}
		}
	}
	return Counters{}, false, ad.Err()
}

func walkExprList(b []byte) (Counters, bool, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Counters{}, false, err
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_LIST_ELEM {
			if c, ok, err := counterExpr(ad.Bytes()); err != nil || ok {
				return c, ok, err
			}
		}
	}
	return Counters{}, false, ad.Err()
}

// counterExpr decodes one expression if it is a counter.
func counterExpr(b []byte) (Counters, bool, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Counters{}, false, err
	}
	var name string
	var data []byte
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_EXPR_NAME:
			name = ad.String()
		case unix.NFTA_EXPR_DATA:
			data = ad.Bytes()
		}
	}
	if err := ad.Err(); err != nil {
		return Counters{}, false, err
	}
	if name != "counter" {
		return Counters{}, false, nil
	}
	var c Counters
	cd, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return Counters{}, false, err
	}
	for cd.Next() {
		v := cd.Bytes()
		if len(v) != 8 {
			return Counters{}, false, errors.New("router: malformed counter attribute")
		}
		switch cd.Type() {
		case unix.NFTA_COUNTER_BYTES:
			c.Bytes = binary.BigEndian.Uint64(v)
		case unix.NFTA_COUNTER_PACKETS:
			c.Packets = binary.BigEndian.Uint64(v)
		}
	}
	return c, true, cd.Err()
}
