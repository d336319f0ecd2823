package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"golang.org/x/sys/unix"
)

// rcvBuf is each link socket's receive buffer. The kernel default (~200
// kB) overflows within milliseconds when a loaded machine deschedules the
// capture while 20 calls' RTP crosses eight links: a lost packet in a
// capture is a hole in a TCP stream the verifier then cannot read.
const rcvBuf = 16 << 20

// snapLen is the most a packet socket hands over (libpcap's MAXIMUM_SNAPLEN).
const snapLen = 262144

// packetSocket is an AF_PACKET socket bound to one interface, read with
// kernel timestamps in nanoseconds.
type packetSocket struct {
	f     *os.File
	ifidx int
	buf   []byte
	oob   []byte
}

// openPacketSocket opens the socket in the calling thread's namespace. It
// is created with protocol 0, so it receives nothing until bind: creating
// it with ETH_P_ALL and then binding would unhook and rehook it, which
// waits for an RCU grace period, and packets would arrive before its
// buffer is sized.
func openPacketSocket(iface string) (*packetSocket, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	fail := func(what string, err error) (*packetSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("packet socket %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf); err != nil {
			return fail("receive buffer", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail("timestamps", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	return &packetSocket{
		f:     os.NewFile(uintptr(fd), "packet:"+iface),
		ifidx: ifi.Index,
		buf:   make([]byte, snapLen),
		oob:   make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))),
	}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read returns the next packet; data is valid until the next read. It
// blocks in the runtime poller, so close unblocks it.
func (s *packetSocket) read() (data []byte, ci gopacket.CaptureInfo, err error) {
	raw, err := s.f.SyscallConn()
	if err != nil {
		return nil, ci, err
	}
	var n, oobn int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, rerr = s.recv(fd)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err != nil {
		return nil, ci, err
	}
	return s.packet(n, oobn, rerr)
}

// drain reads what is queued in the socket without waiting, calling fn
// for each packet, until the queue is empty. It bypasses the poller (and
// so any read deadline): it is how a stopping capture keeps the packets
// the kernel had already handed over.
func (s *packetSocket) drain(fn func([]byte, gopacket.CaptureInfo)) error {
	raw, err := s.f.SyscallConn()
	if err != nil {
		return err
	}
	var derr error
	err = raw.Control(func(fd uintptr) {
		for {
			n, oobn, rerr := s.recv(fd)
			if errors.Is(rerr, unix.EAGAIN) {
				return
			}
			data, ci, err := s.packet(n, oobn, rerr)
			if err != nil {
				derr = err
				return
			}
			fn(data, ci)
		}
	})
	if err != nil {
		return err
	}
	return derr
}

func (s *packetSocket) recv(fd uintptr) (n, oobn int, err error) {
	n, oobn, _, _, err = unix.Recvmsg(int(fd), s.buf, s.oob, unix.MSG_TRUNC)
	return n, oobn, err
}

func (s *packetSocket) packet(n, oobn int, rerr error) (data []byte, ci gopacket.CaptureInfo, err error) {
	if rerr != nil {
		return nil, ci, rerr
	}
	ci.Length = n
	ci.CaptureLength = min(n, len(s.buf))
	ci.Timestamp = s.timestamp(s.oob[:oobn])
	return s.buf[:ci.CaptureLength], ci, nil
}

// timestamp reads SO_TIMESTAMPNS from the control message, falling back
// to the time of reading.
func (s *packetSocket) timestamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				return time.Unix(ts.Sec, ts.Nsec)
			}
		}
	}
	return time.Now()
}

// drops is the number of packets the kernel dropped for this socket since
// the last call (PACKET_STATISTICS resets on read).
func (s *packetSocket) drops() uint64 {
	raw, err := s.f.SyscallConn()
	if err != nil {
		return 0
	}
	var st *unix.TpacketStats
	_ = raw.Control(func(fd uintptr) {
		st, _ = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if st == nil {
		return 0
	}
	return uint64(st.Drops)
}

func (s *packetSocket) close() error { return s.f.Close() }
