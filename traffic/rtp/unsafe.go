package rtp

import (
	"encoding/binary"
	"unsafe"
)

func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }

// nativeInt32 reads a host-byte-order int, as the kernel writes cmsg data.
func nativeInt32(b []byte) int32 { return int32(binary.NativeEndian.Uint32(b)) }
