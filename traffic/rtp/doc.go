// Package rtp is qoslab's media engine: G.711 RTP at 20 ms (RFC 3550,
// RFC 3551) sent and received on one UDP socket per call side, with the
// receiver statistics a call report needs (loss, duplicates, reordering,
// interarrival jitter) and the DSCP values that reached the receiver.
//
// The pure parts (Stream numbers outgoing packets, Tracker accounts for
// incoming ones) take no clocks or sockets; Session is the thin I/O loop
// around them.
package rtp
