package rtp

import "unsafe"

// unsafeBytes views a []uint64 as bytes (8-byte aligned), for tests that
// build control messages the way the kernel aligns them.
func unsafeBytes(u []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(u))), len(u)*8)
}
