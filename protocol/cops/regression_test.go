package cops

import "testing"

// Crashers found by the fuzzers, each with its story. The same inputs live
// in testdata/fuzz/<target>/ so `go test` replays them as seeds too.
var decodeRegressions = []struct {
	name  string
	story string
	in    []byte
	code  ErrorCode // the RFC error the decoder must return (0: must decode)
}{
	{
		name:  "undefined-header-flags",
		story: "a CAT with header flag 0x4 decoded but could not be re-encoded; undefined flags are now refused",
		in:    []byte("\x14\a00\x00\x00\x00\x18\x00\b\n\x010000\x00\b\x0f\x010000"),
		code:  ErrBadMessageFormat,
	},
	{
		name:  "drq-reason-code-0",
		story: "a DRQ whose Reason code was 0 decoded, but code 0 means 'no Reason' to the encoder; reason codes start at 1",
		in:    []byte("\x10\x04QS\x00\x00\x00\x18\x00\b\x01\x01\x00\x00\x00\a\x00\b\x05\x01\x00\x00\x00\x04"),
		code:  ErrBadMessageFormat,
	},
}

func TestDecodeRegressions(t *testing.T) {
	for _, r := range decodeRegressions {
		var m Message
		err := m.Decode(r.in)
		switch {
		case r.code == 0 && err != nil:
			t.Errorf("%s (%s): %v", r.name, r.story, err)
		case r.code != 0 && CodeOf(err) != r.code:
			t.Errorf("%s (%s): got %v, want error %s", r.name, r.story, err, r.code)
		}
	}
}
