package rtp

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// setSocketDSCP enables receipt of the TOS / traffic class byte with each
// datagram (IP_RECVTOS, IPV6_RECVTCLASS) and, when dscp is non-zero, marks
// every datagram the socket sends (IP_TOS, IPV6_TCLASS). A UA marking its
// own packets is how the lab tests bleaching and theft of service.
func setSocketDSCP(c *net.UDPConn, v6 bool, dscp uint8) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("rtp: socket options: %w", err)
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		if v6 {
			if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1); serr != nil {
				serr = fmt.Errorf("IPV6_RECVTCLASS: %w", serr)
				return
			}
			if dscp != 0 {
				if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_TCLASS, int(dscp)<<2); serr != nil {
					serr = fmt.Errorf("IPV6_TCLASS: %w", serr)
				}
			}
			return
		}
		if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTOS, 1); serr != nil {
			serr = fmt.Errorf("IP_RECVTOS: %w", serr)
			return
		}
		if dscp != 0 {
			if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TOS, int(dscp)<<2); serr != nil {
				serr = fmt.Errorf("IP_TOS: %w", serr)
			}
		}
	})
	if cerr != nil {
		return fmt.Errorf("rtp: socket options: %w", cerr)
	}
	if serr != nil {
		return fmt.Errorf("rtp: socket options: %w", serr)
	}
	return nil
}

// oobSize fits one IP_TOS or IPV6_TCLASS control message.
var oobSize = unix.CmsgSpace(4)

// dscpFromOOB extracts the DSCP from the control messages of one datagram
// (0 when absent). It walks the cmsg headers by hand to avoid the
// allocations of unix.ParseSocketControlMessage on the receive path.
func dscpFromOOB(oob []byte) uint8 {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafePointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		data := oob[unix.CmsgLen(0):l]
		switch {
		case h.Level == syscall.IPPROTO_IP && (h.Type == unix.IP_TOS || h.Type == unix.IP_RECVTOS) && len(data) >= 1:
			return data[0] >> 2
		case h.Level == syscall.IPPROTO_IPV6 && h.Type == unix.IPV6_TCLASS && len(data) >= 4:
			// An int in host byte order; the class fits in its low byte
			// on little-endian hosts and the high byte is zero anyway.
			return uint8(nativeInt32(data)) >> 2
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return 0
}
