package osp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

// sampleMessages holds one fully populated message of every kind.
func sampleMessages() map[string]*Message {
	callID := Base64("a84b4c76e66710@198.18.1.2")
	return map[string]*Message{
		"AuthorizationRequest": {MessageID: "1", Random: "2", AuthorizationRequest: &AuthorizationRequest{
			ComponentID: "c1", Timestamp: At(t0), CallID: callID,
			SourceInfo:          Party{PartySIP, "sip:uac@198.18.1.2"},
			SourceAlternate:     &Party{PartyTransport, "[198.18.1.2]"},
			DestinationInfo:     Party{PartySIP, "sip:uas@198.18.4.2"},
			DeviceInfo:          &Party{PartyTransport, "[198.18.3.2]"},
			Service:             &Service{},
			MaximumDestinations: 1,
			Role:                RoleDestination,
			Token:               Base64{0x30, 0x82, 0x01, 0x00, 0xff},
		}},
		"AuthorizationResponse": {MessageID: "1", Random: "3", AuthorizationResponse: &AuthorizationResponse{
			ComponentID: "c1", Timestamp: At(t0), Status: Status{StatusOK, "success"}, TransactionID: "12345",
			Destinations: []Destination{{
				DestinationInfo:          Party{PartySIP, "sip:uas@198.18.4.2"},
				DestinationSignalAddress: Party{PartyTransport, "[198.18.5.2]"},
				Token:                    Base64("token bytes"),
				ValidAfter:               At(t0.Add(-time.Minute)),
				ValidUntil:               At(t0.Add(10 * time.Minute)),
				UsageDetail:              &UsageDetail{Amount: Seconds(14400 * time.Second), Increment: 1, Unit: "s"},
				CallID:                   callID,
				ServiceClass:             "EF",
				Bandwidth:                64000,
			}},
		}},
		"AuthorizationIndication": {MessageID: "4", Random: "5", AuthorizationIndication: &AuthorizationIndication{
			ComponentID: "c2", Timestamp: At(t0), Role: RoleDestination, CallID: callID,
			SourceInfo: Party{PartyE164, "4045266060"}, DestinationInfo: Party{PartyE164, "4045551212"},
			Token: Base64("tok"),
		}},
		"AuthorizationConfirmation": {MessageID: "4", Random: "6", AuthorizationConfirmation: &AuthorizationConfirmation{
			ComponentID: "c2", Timestamp: At(t0), Status: Status{StatusUnauthorized, "token replayed"},
			ValidAfter: At(t0), ValidUntil: At(t0.Add(time.Hour)),
		}},
		"UsageIndication": {MessageID: "7", Random: "8", UsageIndication: &UsageIndication{
			ComponentID: "c3", Timestamp: At(t0.Add(5 * time.Minute)), Role: RoleSource, TransactionID: "12345",
			CallID: callID, SourceInfo: Party{PartySIP, "sip:uac@x"}, DestinationInfo: Party{PartySIP, "sip:uas@y"},
			UsageDetail: UsageDetail{
				Service: &Service{}, Amount: Seconds(287250 * time.Millisecond), Increment: 1, Unit: "s",
				TerminationCause: &TermCause{Type: "q850", TCCode: 16, Description: "normal call clearing"},
				StartTime:        At(t0.Add(time.Second)), EndTime: At(t0.Add(299 * time.Second)),
				AlertTime: At(t0.Add(1500 * time.Millisecond)), ConnectTime: At(t0.Add(12 * time.Second)),
				PostDialDelay: Seconds(1200 * time.Millisecond), ReleaseSource: ReleaseSourceParty,
			},
			ServiceClass: "EF", Bandwidth: 64000,
			Marked: &MarkedTraffic{Packets: 14350, Octets: 2468200, CountersLost: true},
		}},
		"UsageConfirmation": {MessageID: "7", Random: "9", UsageConfirmation: &UsageConfirmation{
			ComponentID: "c3", Timestamp: At(t0), Status: Status{StatusOK, "recorded"},
		}},
		"ReauthorizationRequest": {MessageID: "10", Random: "11", ReauthorizationRequest: &ReauthorizationRequest{
			ComponentID: "c4", Timestamp: At(t0), Role: RoleSource, CallID: callID,
			SourceInfo: Party{PartySIP, "sip:uac@198.18.1.2"}, DeviceInfo: &Party{PartyTransport, "[198.18.3.2]"},
			DestinationInfo: Party{PartySIP, "sip:uas@198.18.4.2"}, TransactionID: "12345",
			UsageDetail: &UsageDetail{Amount: Seconds(90 * time.Second), Increment: 1, Unit: "s"},
		}},
		"ReauthorizationResponse": {MessageID: "10", Random: "12", ReauthorizationResponse: &ReauthorizationResponse{
			ComponentID: "c4", Timestamp: At(t0), Status: Status{StatusOK, "extended"}, TransactionID: "12345",
			Destination: &Destination{
				DestinationInfo:          Party{PartySIP, "sip:uas@198.18.4.2"},
				DestinationSignalAddress: Party{PartyTransport, "[198.18.5.2]:5060"},
				Token:                    Base64("token"), ValidAfter: At(t0), ValidUntil: At(t0.Add(time.Hour)),
				UsageDetail: &UsageDetail{Amount: Seconds(14400 * time.Second), Increment: 1, Unit: "s"},
				CallID:      callID,
			},
		}},
		"CapabilitiesIndication": {MessageID: "13", Random: "14", CapabilitiesIndication: &CapabilitiesIndication{
			ComponentID: "c5", Timestamp: At(t0), DeviceInfo: &Party{PartyTransport, "[198.18.3.2]"},
			Resources: &Resources{AlmostOutOfResources: "false"},
		}},
		"CapabilitiesConfirmation": {MessageID: "13", Random: "15", CapabilitiesConfirmation: &CapabilitiesConfirmation{
			ComponentID: "c5", Timestamp: At(t0), Status: Status{StatusOK, "noted"},
		}},
	}
}

func TestRoundTripEveryKind(t *testing.T) {
	for name, m := range sampleMessages() {
		t.Run(name, func(t *testing.T) {
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if got.Kind().String() != name {
				t.Fatalf("kind %s, want %s", got.Kind(), name)
			}
			normalizeTimes(got)
			normalizeTimes(m)
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v\nwire %s", got, m, b)
			}
		})
	}
}

// normalizeTimes drops monotonic clock readings and locations so that
// DeepEqual compares instants.
func normalizeTimes(v any) {
	normalize(reflect.ValueOf(v))
}

func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			normalize(v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(Time{}) {
			t := v.Interface().(Time)
			if !t.IsZero() {
				v.Set(reflect.ValueOf(At(t.UTC())))
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				normalize(v.Field(i))
			}
		}
	}
}

func TestMarshalEmitsETSISpelling(t *testing.T) {
	for name, m := range sampleMessages() {
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("Authorization")) {
			t.Errorf("%s: wire form uses the z spelling: %s", name, b)
		}
		if !bytes.HasPrefix(b, []byte("<?xml")) {
			t.Errorf("%s: no XML declaration", name)
		}
	}
}

func TestMarshalRefusesZeroOrTwoComponents(t *testing.T) {
	if _, err := Marshal(&Message{}); err == nil {
		t.Error("empty message marshalled")
	}
	two := &Message{UsageConfirmation: &UsageConfirmation{}, UsageIndication: &UsageIndication{}}
	if _, err := Marshal(two); err == nil {
		t.Error("two-component message marshalled")
	}
}

// TestToolkitFixtures parses bodies written the way the OSP toolkit writes
// them (both spellings, unknown toolkit extensions, critical attributes).
func TestToolkitFixtures(t *testing.T) {
	want := map[string]Kind{
		"toolkit_authreq.xml":             KindAuthorizationRequest,
		"toolkit_authrsp.xml":             KindAuthorizationResponse,
		"toolkit_authind.xml":             KindAuthorizationIndication,
		"toolkit_authcnf.xml":             KindAuthorizationConfirmation,
		"toolkit_usageind.xml":            KindUsageIndication,
		"toolkit_usagecnf.xml":            KindUsageConfirmation,
		"toolkit_usageind_statistics.xml": KindUsageIndication,
		"qoslab_usageind.xml":             KindUsageIndication,
	}
	for file, kind := range want {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if m.Kind() != kind {
			t.Errorf("%s: kind %s, want %s", file, m.Kind(), kind)
		}
		if id := m.CallID(); kind != KindUsageConfirmation && kind != KindAuthorizationConfirmation && id != "a84b4c76e66710@198.18.1.2" {
			t.Errorf("%s: call id %q", file, id)
		}
	}
	b, _ := os.ReadFile("testdata/toolkit_usageind.xml")
	m, _ := Unmarshal(b)
	u := m.UsageIndication
	if u.Role != RoleSource || u.TransactionID != "3377716018461818882" || u.UsageDetail.Amount != Seconds(287*time.Second) ||
		u.UsageDetail.TerminationCause == nil || u.UsageDetail.TerminationCause.TCCode != 16 ||
		!u.UsageDetail.ConnectTime.Equal(time.Date(2026, 11, 25, 21, 0, 12, 0, time.UTC)) ||
		u.UsageDetail.PostDialDelay != Seconds(1200*time.Millisecond) || u.UsageDetail.ReleaseSource != ReleaseSourceParty || u.SourceInfo != (Party{PartyE164, "4045266060"}) {
		t.Errorf("usage indication fields: %+v", u)
	}
	if u.Marked != nil {
		t.Errorf("toolkit usage indication: marked traffic %+v, want unknown", u.Marked)
	}
	// The toolkit's RTP Statistics carry Packets and Octets too; they are
	// not the router's figures.
	b, _ = os.ReadFile("testdata/toolkit_usageind_statistics.xml")
	m, _ = Unmarshal(b)
	if m.UsageIndication.Marked != nil {
		t.Errorf("toolkit Statistics taken for marked traffic: %+v", m.UsageIndication.Marked)
	}
	// What a qoslab policy server sends.
	b, _ = os.ReadFile("testdata/qoslab_usageind.xml")
	m, _ = Unmarshal(b)
	if u := m.UsageIndication; u.Marked == nil || *u.Marked != (MarkedTraffic{Packets: 249, Octets: 42828}) ||
		u.ServiceClass != "EF" || u.Bandwidth != 87200 || u.UsageDetail.Amount != Seconds(5*time.Second) {
		t.Errorf("qoslab usage indication fields: %+v marked %+v", u, u.Marked)
	}
	b, _ = os.ReadFile("testdata/toolkit_authrsp.xml")
	m, _ = Unmarshal(b)
	r := m.AuthorizationResponse
	if !r.Status.OK() || r.TransactionID != "3377716018461818882" || len(r.Destinations) != 1 ||
		string(r.Destinations[0].Token) != "<TokenInfo>sample</TokenInfo>" ||
		r.Destinations[0].DestinationSignalAddress.Value != "[198.18.5.2]" {
		t.Errorf("authorisation response fields: %+v", r)
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	good := `<Message messageId="1" random="2"><UsageConfirmation componentId="3"><Timestamp>2026-11-25T21:05:00Z</Timestamp><Status><Code>200</Code></Status></UsageConfirmation></Message>`
	if _, err := Unmarshal([]byte(good)); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	cases := map[string]string{
		"doctype":            `<?xml version="1.0"?><!DOCTYPE Message [<!ENTITY x "boom">]>` + good,
		"entity":             strings.Replace(good, "<Code>200", "<Code>&x;200", 1),
		"malformed time":     strings.Replace(good, "2026-11-25T21:05:00Z", "yesterday", 1),
		"empty time":         strings.Replace(good, "2026-11-25T21:05:00Z", "", 1),
		"bad code":           strings.Replace(good, "<Code>200", "<Code>2x0", 1),
		"two roots":          good + good,
		"trailing text":      good + "garbage",
		"not osp":            `<html><body>hello</body></html>`,
		"no component":       `<Message messageId="1"></Message>`,
		"two components":     `<Message><UsageConfirmation/><UsageIndication/></Message>`,
		"unclosed":           good[:len(good)-5],
		"empty":              ``,
		"foreign encoding":   `<?xml version="1.0" encoding="ISO-8859-1"?>` + good,
		"stylesheet PI":      `<?xml-stylesheet href="x"?>` + good,
		"bad base64":         `<Message><UsageIndication><CallId encoding="base64">!!!</CallId></UsageIndication></Message>`,
		"unknown encoding":   `<Message><UsageIndication><CallId encoding="rot13">abc</CallId></UsageIndication></Message>`,
		"both spellings":     `<Message><AuthorisationRequest/><AuthorizationRequest/></Message>`,
		"marked no octets":   marked(`<MarkedTraffic><Packets>5</Packets></MarkedTraffic>`),
		"marked no packets":  marked(`<MarkedTraffic><Octets>5</Octets></MarkedTraffic>`),
		"marked empty":       marked(`<MarkedTraffic/>`),
		"marked empty count": marked(`<MarkedTraffic><Packets></Packets><Octets>5</Octets></MarkedTraffic>`),
		"marked negative":    marked(`<MarkedTraffic><Packets>-1</Packets><Octets>5</Octets></MarkedTraffic>`),
		"marked signed":      marked(`<MarkedTraffic><Packets>+1</Packets><Octets>5</Octets></MarkedTraffic>`),
		"marked hex":         marked(`<MarkedTraffic><Packets>0x10</Packets><Octets>5</Octets></MarkedTraffic>`),
		"marked fraction":    marked(`<MarkedTraffic><Packets>1.5</Packets><Octets>5</Octets></MarkedTraffic>`),
		"marked overflow":    marked(`<MarkedTraffic><Packets>18446744073709551616</Packets><Octets>5</Octets></MarkedTraffic>`),
		"marked text":        marked(`<MarkedTraffic><Packets>many</Packets><Octets>5</Octets></MarkedTraffic>`),
		"marked bad lost":    marked(`<MarkedTraffic countersLost="maybe"><Packets>1</Packets><Octets>5</Octets></MarkedTraffic>`),
	}
	for name, body := range cases {
		_, err := Unmarshal([]byte(body))
		if err == nil {
			t.Errorf("%s: accepted %q", name, body)
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v does not wrap ErrMalformed", name, err)
		}
		if !strings.HasPrefix(err.Error(), "osp: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

// marked wraps a MarkedTraffic element in an otherwise valid
// UsageIndication.
func marked(elem string) string {
	return `<Message><UsageIndication><Role>source</Role><TransactionId>1</TransactionId>` + elem + `</UsageIndication></Message>`
}

// TestMarkedTraffic: the router's figures survive the wire; absent means
// unknown (nil), zero is a figure; the toolkit's own Statistics element is
// skipped, not taken for them.
func TestMarkedTraffic(t *testing.T) {
	for body, want := range map[string]*MarkedTraffic{
		marked(``): nil,
		marked(`<MarkedTraffic><Packets>0</Packets><Octets>0</Octets></MarkedTraffic>`):                                         {},
		marked(`<MarkedTraffic><Octets> 172000 </Octets><Packets>  1000 </Packets></MarkedTraffic>`):                            {Packets: 1000, Octets: 172000},
		marked(`<MarkedTraffic countersLost="True" critical="False"><Packets>1</Packets><Octets>2</Octets></MarkedTraffic>`):    {Packets: 1, Octets: 2, CountersLost: true},
		marked(`<MarkedTraffic countersLost="false"><Packets>18446744073709551615</Packets><Octets>2</Octets></MarkedTraffic>`): {Packets: 1<<64 - 1, Octets: 2},
	} {
		m, err := Unmarshal([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if got := m.UsageIndication.Marked; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", body, got, want)
		}
	}
	b, err := Marshal(&Message{UsageIndication: &UsageIndication{Role: RoleSource, TransactionID: "1",
		Marked: &MarkedTraffic{Packets: 0, Octets: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`<MarkedTraffic critical="False"><Packets>0</Packets><Octets>0</Octets></MarkedTraffic>`)) {
		t.Errorf("zero counts not written as figures: %s", b)
	}
	b, err = Marshal(&Message{UsageIndication: &UsageIndication{Role: RoleSource, TransactionID: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("MarkedTraffic")) {
		t.Errorf("unknown counts written: %s", b)
	}
}

func TestUnmarshalSizeLimit(t *testing.T) {
	big := `<Message><UsageConfirmation><Status><Code>200</Code><Description>` +
		strings.Repeat("x", MaxMessageSize) + `</Description></Status></UsageConfirmation></Message>`
	if _, err := Unmarshal([]byte(big)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestKindAndStatusNames(t *testing.T) {
	if KindAuthorizationRequest.String() != "AuthorizationRequest" || Kind(99).String() != "Kind(99)" {
		t.Error("kind names")
	}
	if StatusForbidden.String() != "403 Forbidden" || StatusCode(299).String() != "299" {
		t.Error("status names")
	}
	if (Status{Code: 403, Description: "barred"}).String() != "403 barred" {
		t.Error("status text")
	}
}

func TestSniffKind(t *testing.T) {
	if k := SniffKind([]byte(`<Message><UsageIndication><Timestamp>x`)); k != KindUsageIndication {
		t.Errorf("got %s", k)
	}
	if k := SniffKind([]byte(`junk`)); k != KindUnknown {
		t.Errorf("got %s", k)
	}
}

func BenchmarkMarshalAuthorizationResponse(b *testing.B) {
	m := sampleMessages()["AuthorizationResponse"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalAuthorizationResponse(b *testing.B) {
	wire, err := Marshal(sampleMessages()["AuthorizationResponse"])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(wire); err != nil {
			b.Fatal(err)
		}
	}
}

// Found by FuzzUnmarshal: a response without a Status decoded with code 0
// and re-encoded as <Code>0</Code>, which the strict decoder then refused.
// An answer must carry its Status.
func TestResponseWithoutStatusRefused(t *testing.T) {
	for _, body := range []string{
		`<Message><AuthorisationResponse></AuthorisationResponse></Message>`,
		`<Message><UsageConfirmation><Timestamp>2026-11-25T21:05:00Z</Timestamp></UsageConfirmation></Message>`,
		`<Message><AuthorizationConfirmation/></Message>`,
	} {
		if _, err := Unmarshal([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", body, err)
		}
	}
}
