package cops

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFramerSplitsAndWaits(t *testing.T) {
	ka, _ := (&Message{Header: Header{Op: OpKA}}).AppendTo(nil)
	drq, _ := sampleMessages()["DRQ"].AppendTo(nil)
	stream := append(append([]byte(nil), ka...), drq...)
	var f Framer
	for i, c := range stream { // one octet at a time
		f.Write([]byte{c})
		fr, err := f.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch i + 1 {
		case len(ka):
			if !bytes.Equal(fr, ka) {
				t.Fatalf("first frame % x", fr)
			}
		case len(stream):
			if !bytes.Equal(fr, drq) {
				t.Fatalf("second frame % x", fr)
			}
		default:
			if fr != nil {
				t.Fatalf("frame after %d octets", i+1)
			}
		}
	}
	if f.Buffered() != 0 {
		t.Fatalf("%d octets left", f.Buffered())
	}
}

func TestFramerRefusesAndSticks(t *testing.T) {
	f := Framer{MaxLen: 64}
	f.Write([]byte{0x10, 1, 0, 0, 0, 0, 1, 0}) // announces 256 octets
	if _, err := f.Next(); CodeOf(err) != ErrBadMessageFormat {
		t.Fatalf("oversized message: %v", err)
	}
	ka, _ := (&Message{Header: Header{Op: OpKA}}).AppendTo(nil)
	f.Write(ka)
	if fr, err := f.Next(); err == nil || fr != nil {
		t.Fatal("framer resynchronised after a framing error")
	}
}

func TestReadMessage(t *testing.T) {
	ka, _ := (&Message{Header: Header{Op: OpKA}}).AppendTo(nil)
	drq, _ := sampleMessages()["DRQ"].AppendTo(nil)
	r := bytes.NewReader(append(append([]byte(nil), ka...), drq...))
	buf := make([]byte, 0, 8) // grows for the DRQ
	for _, want := range [][]byte{ka, drq} {
		got, err := ReadMessage(r, buf, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("% x %v", got, err)
		}
	}
	if _, err := ReadMessage(r, nil, 0); !errors.Is(err, io.EOF) {
		t.Fatalf("at the boundary: %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader(drq[:len(drq)-2]), nil, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut inside a message: %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader(drq), nil, 16); CodeOf(err) != ErrBadMessageFormat {
		t.Fatalf("over the limit: %v", err)
	}
}
