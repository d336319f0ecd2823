package trace

import (
	"encoding/binary"
	"testing"
)

// tlsRecordOf wraps a body in a TLS record header.
func tlsRecordOf(typ byte, body []byte) []byte {
	return append([]byte{typ, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
}

// handshakeOf wraps a handshake message body.
func handshakeOf(typ byte, body []byte) []byte {
	return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// FuzzTLSRecords feeds arbitrary records, in both directions, to a TLS
// session whose key log knows its client random: an error or nothing,
// never a panic, whatever the bytes.
//
//	go test ./traffic/trace -run XXX -fuzz FuzzTLSRecords -fuzztime 30s
func FuzzTLSRecords(f *testing.F) {
	random := make([]byte, 32)
	ch := append([]byte{3, 3}, random...)
	ch = append(ch, 0, 0, 2, 0x13, 1, 1, 0, 0, 0)
	sh := append([]byte{3, 3}, random...)
	sh = append(sh, 0, 0x13, 1, 0, 0, 6)
	sh = binary.BigEndian.AppendUint16(sh, extSupportedVersion)
	sh = append(sh, 0, 2, 3, 4)
	f.Add(tlsRecordOf(recHandshake, handshakeOf(hsClientHello, ch)), tlsRecordOf(recHandshake, handshakeOf(hsServerHello, sh)), tlsRecordOf(recAppData, make([]byte, 40)))
	f.Add(tlsRecordOf(recChangeCipherSpec, []byte{1}), tlsRecordOf(recHandshake, []byte{2, 0, 0, 1, 0}), tlsRecordOf(recAlert, []byte{1, 0}))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		an := newAnalyzer(DefaultTopology(), Options{})
		secret := make([]byte, 32)
		var cr [32]byte
		an.keys.tls13[cr] = &tls13Secrets{secret, secret, secret, secret}
		an.keys.master[cr] = make([]byte, 48)
		an.linkID("r1-ch")
		cli, srv := endpoint4([]byte{198, 18, 3, 2}, 40000), endpoint4([]byte{198, 18, 8, 2}, PortOSP)
		for i, rec := range [][]byte{a, b, c, a, c} {
			if !looksLikeTLS(rec) || len(rec) < 5 {
				continue
			}
			src, dst := cli, srv
			if i%2 == 1 {
				src, dst = srv, cli
			}
			an.tlsRecord(0, src, dst, rec, segMeta{no: i + 1, time: int64(i)})
		}
	})
}
