package router

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/qoslab/qoslab/flow"
)

// Names of the nftables objects the data plane owns. Everything lives in
// one table so that deleting the table removes every trace.
const (
	tableName      = "qoslab"
	forwardChain   = "forward"
	boundaryChain  = "boundary"
	gatesMap       = "gates"          // flow 5-tuple -> class, with a counter per element
	gatesAnyMap    = "gates_anysport" // flow without source port -> class, with a counter
	classesMap     = "classes"        // class -> jump class-<name>
	trustedSet     = "trusted"        // infrastructure hosts whose CS5 survives
	bleachedObj    = "bleached"       // packets re-marked to DSCP 0 at the boundary
	classPrefix    = "class-"         // chain of one DSCP class
	ifNameLen      = unix.IFNAMSIZ
	regKey         = unix.NFT_REG32_00 // first 32-bit register of a concatenated key
	regClass       = unix.NFT_REG32_08 // class a gate map lookup yields
	regScratch     = unix.NFT_REG_1    // 128-bit register for single loads
	ipv4TOSOffset  = 1
	ipv4SrcOffset  = 12
	ipv4DstOffset  = 16
	ipv4CsumOffset = 10
)

// maxGates sizes each gate map. A map with a size gets the kernel's
// fixed-size hash backend instead of the resizable one, whose lookups cost
// more per forwarded packet.
const maxGates = 65536

// Key types of the two gate maps. Every component of a concatenation is
// padded to the 4-byte register size, so a full key is 20 bytes.
var (
	gateKeyType = nftables.MustConcatSetType(
		nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto,
		nftables.TypeInetService, nftables.TypeInetService)
	gateAnyKeyType = nftables.MustConcatSetType(
		nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto,
		nftables.TypeInetService)
)

// classChainName is the chain that marks packets with dscp.
func classChainName(dscp uint8) string { return classPrefix + dscpName(dscp) }

// dscpName is the RFC name of a code point when it has one, else its number.
func dscpName(dscp uint8) string {
	switch dscp {
	case 0:
		return "df"
	case 46:
		return "ef"
	case 44:
		return "va"
	}
	if dscp%8 == 0 {
		return fmt.Sprintf("cs%d", dscp/8)
	}
	if dscp >= 10 && dscp <= 38 && dscp%2 == 0 && (dscp%8)/2 >= 1 && (dscp%8)/2 <= 3 {
		return fmt.Sprintf("af%d%d", dscp/8, (dscp%8)/2)
	}
	return fmt.Sprintf("dscp%d", dscp)
}

// gateMapFor tells which map holds a flow: the exact map, or the one that
// ignores the source port when the classifier leaves it open.
func gateMapFor(f flow.Tuple) string {
	if f.Src.Port() == 0 {
		return gatesAnyMap
	}
	return gatesMap
}

// gateKey is the set element key of a flow, laid out exactly as the
// registers the forward chain loads: each field padded to 4 bytes.
func gateKey(f flow.Tuple) []byte {
	n := 20
	if f.Src.Port() == 0 {
		n = 16
	}
	k := make([]byte, n)
	s, d := f.Src.Addr().As4(), f.Dst.Addr().As4()
	copy(k[0:4], s[:])
	copy(k[4:8], d[:])
	k[8] = f.Proto
	if f.Src.Port() == 0 {
		binary.BigEndian.PutUint16(k[12:14], f.Dst.Port())
		return k
	}
	binary.BigEndian.PutUint16(k[12:14], f.Src.Port())
	binary.BigEndian.PutUint16(k[16:18], f.Dst.Port())
	return k
}

// classValue is how a DSCP class is named in the maps: the data of a gate
// element and the key of a class element (4 bytes, one register).
func classValue(dscp uint8) []byte { return []byte{0, 0, 0, dscp} }

// gateElement is the gate map element that names a flow's DSCP class. The
// element's own counter (the map has a counter on every element) is the
// gate's packet and byte count.
func gateElement(g Gate) nftables.SetElement {
	return nftables.SetElement{Key: gateKey(g.Flow), Val: classValue(g.DSCP), Comment: gateComment(g.ID)}
}

// gateComment names the gate on its element, so that `nft list ruleset`
// and `qoslab gates` show which gate a flow belongs to.
func gateComment(id uint32) string { return "gate " + strconv.FormatUint(uint64(id), 10) }

// flowOfKey is the inverse of gateKey.
func flowOfKey(k []byte) (flow.Tuple, bool) {
	if len(k) != 16 && len(k) != 20 {
		return flow.Tuple{}, false
	}
	src, dst := netip.AddrFrom4([4]byte(k[0:4])), netip.AddrFrom4([4]byte(k[4:8]))
	if len(k) == 16 {
		return flow.Tuple{Proto: k[8], Src: netip.AddrPortFrom(src, 0), Dst: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(k[12:14]))}, true
	}
	return flow.Tuple{Proto: k[8], Src: netip.AddrPortFrom(src, binary.BigEndian.Uint16(k[12:14])),
		Dst: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(k[16:18]))}, true
}

// classElement is the verdict-map element that sends a class to its chain.
func classElement(dscp uint8) nftables.SetElement {
	return nftables.SetElement{
		Key:         classValue(dscp),
		VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: classChainName(dscp)},
	}
}

// classRule rewrites the DSCP and accepts: nft's `ip dscp set X accept`.
func classRule(dscp uint8) []expr.Any {
	return append(setDSCP(dscp), &expr.Verdict{Kind: expr.VerdictAccept})
}

// setDSCP rewrites the six DSCP bits of the IPv4 TOS byte, keeping ECN, and
// fixes the header checksum. The kernel rewrites whole 16-bit words when it
// updates the checksum, so it loads version/IHL and TOS together, keeps
// byte 0 and the ECN bits (mask ff 03), and ors in the code point (xor into
// zeroed bits).
func setDSCP(dscp uint8) []expr.Any {
	return []expr.Any{
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: regScratch,
			Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 2},
		&expr.Bitwise{SourceRegister: regScratch, DestRegister: regScratch, Len: 2,
			Mask: []byte{0xff, 0x03}, Xor: []byte{0x00, dscp << 2}},
		&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: regScratch,
			Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 2,
			CsumType: expr.CsumTypeInet, CsumOffset: ipv4CsumOffset},
	}
}

// matchDSCP compares the packet's DSCP with dscp.
func matchDSCP(op expr.CmpOp, dscp uint8) []expr.Any {
	return []expr.Any{
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: regScratch,
			Base: expr.PayloadBaseNetworkHeader, Offset: ipv4TOSOffset, Len: 1},
		&expr.Bitwise{SourceRegister: regScratch, DestRegister: regScratch, Len: 1,
			Mask: []byte{0xfc}, Xor: []byte{0x00}},
		&expr.Cmp{Op: op, Register: regScratch, Data: []byte{dscp << 2}},
	}
}

// flowLookup loads the packet's flow key into consecutive 32-bit registers,
// looks it up in a gate map (a hit updates the element's counter and yields
// the gate's class) and jumps through the class verdict map. Loads shorter
// than 4 bytes zero the rest of their register, which is what the padded
// keys expect. Two hash lookups per packet whatever the number of gates.
//
// The class travels from one lookup to the other through the packet mark,
// as nft itself writes it: `meta mark set ip saddr . ip daddr . meta
// l4proto . th sport . th dport map @gates meta mark vmap @classes`. Feeding
// the first lookup's result register straight into the second is one
// expression shorter, but nft before 1.0.7 cannot list such a rule (its
// delinearizer asserts on the zero-length map expression it finds in the
// register: netlink_delinearize.c "consumed > 0"), so Debian 12's nft could
// not show the table. The mark is scrubbed when the packet leaves through
// a veth into the next namespace, and nothing else in a lab reads it.
func flowLookup(gates, classes *nftables.Set, withSrcPort bool) []expr.Any {
	r := uint32(regKey)
	e := []expr.Any{
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: r,
			Base: expr.PayloadBaseNetworkHeader, Offset: ipv4SrcOffset, Len: 4},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: r + 1,
			Base: expr.PayloadBaseNetworkHeader, Offset: ipv4DstOffset, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r + 2},
	}
	next := r + 3
	if withSrcPort {
		e = append(e, &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: next,
			Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2})
		next++
	}
	e = append(e,
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: next,
			Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: r, DestRegister: regClass, IsDestRegSet: true,
			SetName: gates.Name, SetID: gates.ID},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: regClass},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: regClass},
		&expr.Lookup{SourceRegister: regClass, DestRegister: 0, IsDestRegSet: true,
			SetName: classes.Name, SetID: classes.ID},
	)
	return e
}

// fromInterface matches packets that arrived on the named interface.
func fromInterface(name string) []expr.Any {
	b := make([]byte, ifNameLen)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: regScratch},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regScratch, Data: b},
	}
}

// boundaryRules condition what enters from an access interface: unmarked
// packets pass, a trusted host's CS5 passes, anything else marked is counted
// and re-marked to DSCP 0 (RFC 2475 section 2.3.4.2, theft of service).
func boundaryRules(trusted *nftables.Set) [][]expr.Any {
	passTrusted := []expr.Any{
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: regScratch,
			Base: expr.PayloadBaseNetworkHeader, Offset: ipv4SrcOffset, Len: 4},
		&expr.Lookup{SourceRegister: regScratch, SetName: trusted.Name, SetID: trusted.ID},
	}
	passTrusted = append(passTrusted, matchDSCP(expr.CmpOpEq, DSCPCS5)...)
	passTrusted = append(passTrusted, &expr.Verdict{Kind: expr.VerdictReturn})

	bleach := []expr.Any{&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: bleachedObj}}
	bleach = append(bleach, setDSCP(DSCPDefault)...)

	return [][]expr.Any{
		append(matchDSCP(expr.CmpOpEq, DSCPDefault), &expr.Verdict{Kind: expr.VerdictReturn}),
		passTrusted,
		bleach,
	}
}
