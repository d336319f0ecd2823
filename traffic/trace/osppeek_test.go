package trace

import (
	"bytes"
	"testing"
	"time"

	"github.com/qoslab/qoslab/protocol/osp"
)

func ospSeeds(t testing.TB) [][]byte {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := []*osp.Message{
		{MessageID: "1", AuthorizationRequest: &osp.AuthorizationRequest{Timestamp: osp.At(now), CallID: osp.Base64("a&b<c>@x"), Role: "source",
			SourceInfo: osp.Party{Type: osp.PartySIP, Value: "sip:uac@x"}, DestinationInfo: osp.Party{Type: osp.PartySIP, Value: "sip:uas@x"}}},
		{MessageID: "2", AuthorizationResponse: &osp.AuthorizationResponse{Timestamp: osp.At(now), Status: osp.Status{Code: osp.StatusOK},
			Destinations: []osp.Destination{{Token: osp.Base64("tok"), CallID: osp.Base64("call-1"), ValidAfter: osp.At(now), ValidUntil: osp.At(now)}}}},
		{MessageID: "3", AuthorizationResponse: &osp.AuthorizationResponse{Timestamp: osp.At(now), Status: osp.Status{Code: 403, Description: "barred"}}},
		{MessageID: "4", UsageIndication: &osp.UsageIndication{Timestamp: osp.At(now), Role: "source", CallID: osp.Base64("call-1"),
			UsageDetail: osp.UsageDetail{Amount: 1, Increment: 1, Unit: "s", StartTime: osp.At(now), EndTime: osp.At(now)}}},
		{MessageID: "5", UsageConfirmation: &osp.UsageConfirmation{Timestamp: osp.At(now), Status: osp.Status{Code: osp.StatusOK}}},
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := osp.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b, bytes.ReplaceAll(b, []byte("Authorisation"), []byte("Authorization")))
	}
	return out
}

// peekOSP reads what protocol/osp's strict decoder reads: the component,
// its CallId and its status, in either spelling.
func TestPeekOSPAgreesWithUnmarshal(t *testing.T) {
	for _, b := range ospSeeds(t) {
		checkPeek(t, b)
	}
	if _, err := peekOSP([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Message/>`)); err == nil {
		t.Error("a DTD was accepted")
	}
	if _, err := peekOSP([]byte(`<Message><UsageConfirmation><Status><Code>200</Code></Status></UsageConfirmation>`)); err == nil {
		t.Error("an unclosed Message was accepted")
	}
}

func checkPeek(t *testing.T, b []byte) {
	m, err := osp.Unmarshal(b)
	if err != nil {
		return
	}
	sum, err := peekOSP(b)
	if err != nil {
		t.Fatalf("peek refuses what Unmarshal reads: %v\n%s", err, b)
	}
	status := 0
	switch {
	case m.AuthorizationResponse != nil:
		status = int(m.AuthorizationResponse.Status.Code)
	case m.AuthorizationConfirmation != nil:
		status = int(m.AuthorizationConfirmation.Status.Code)
	case m.UsageConfirmation != nil:
		status = int(m.UsageConfirmation.Status.Code)
	}
	if sum.Kind != m.Kind() || sum.CallID != m.CallID() || status != 0 && sum.Status != status {
		t.Fatalf("peek %+v, Unmarshal %s %q %d\n%s", sum, m.Kind(), m.CallID(), status, b)
	}
}

// FuzzPeekOSP: whatever protocol/osp decodes, peekOSP reads the same way;
// nothing panics.
//
//	go test ./traffic/trace -run XXX -fuzz FuzzPeekOSP -fuzztime 30s
func FuzzPeekOSP(f *testing.F) {
	for _, b := range ospSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkPeek(t, b) })
}
