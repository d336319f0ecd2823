package osp

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
)

// newRandom returns the value of a Message's random attribute: a fresh
// unsigned 32-bit number, as the toolkit writes it.
func newRandom() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)
}

// NewTransactionID returns a fresh 63-bit transaction id in decimal, the
// form the toolkit uses.
func NewTransactionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:])>>1, 10)
}
