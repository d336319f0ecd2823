package cops_test

import (
	"fmt"

	"github.com/qoslab/qoslab/protocol/cops"
)

// The verifier's view: frame a captured TCP stream and print each message.
func ExampleFramer() {
	var stream []byte
	s := cops.Session{CallID: "call-1", Class: "EF"}
	data, _ := s.AppendTo(nil)
	req := cops.Message{Header: cops.Header{Op: cops.OpREQ, ClientType: cops.ClientTypeSession},
		Handle: 7, Context: cops.KindAAA.Context(), ClientSI: []cops.ClientSI{{Data: data}}}
	stream, _ = req.AppendTo(stream)
	ka := cops.Message{Header: cops.Header{Op: cops.OpKA}}
	stream, _ = ka.AppendTo(stream)

	var f cops.Framer
	f.Write(stream[:5]) // segments arrive in pieces
	f.Write(stream[5:])
	for {
		frame, err := f.Next()
		if frame == nil || err != nil {
			break
		}
		var m cops.Message
		if err := m.Decode(frame); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(m.String())
	}
	// Output:
	// REQ handle=7 ctx=AAA session{call=call-1 class=EF}
	// KA
}
