package osp

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// StatusCode is an OSP status code. OSP reuses the HTTP-style classes:
// 2xx success, 4xx refused because of the request, 5xx server trouble.
type StatusCode int

// Status codes qoslab sends. Every refusal carries one of them with a
// description that says why.
const (
	StatusOK                 StatusCode = 200 // authorised / recorded
	StatusBadRequest         StatusCode = 400 // malformed message or missing element
	StatusUnauthorized       StatusCode = 401 // token missing or failed validation
	StatusForbidden          StatusCode = 403 // policy refuses this source/destination
	StatusNoRoute            StatusCode = 404 // no destination known for the request
	StatusTooLarge           StatusCode = 413 // request body over MaxMessageSize
	StatusUnsupported        StatusCode = 415 // component kind the server does not serve
	StatusServerError        StatusCode = 500 // internal failure (e.g. the usage store)
	StatusServiceUnavailable StatusCode = 503 // shutting down or overloaded
)

var statusNames = map[StatusCode]string{
	StatusOK:                 "OK",
	StatusBadRequest:         "Bad Request",
	StatusUnauthorized:       "Unauthorized",
	StatusForbidden:          "Forbidden",
	StatusNoRoute:            "No Route",
	StatusTooLarge:           "Request Too Large",
	StatusUnsupported:        "Unsupported Component",
	StatusServerError:        "Server Error",
	StatusServiceUnavailable: "Service Unavailable",
}

// String returns "403 Forbidden" style text.
func (c StatusCode) String() string {
	if n, ok := statusNames[c]; ok {
		return strconv.Itoa(int(c)) + " " + n
	}
	return strconv.Itoa(int(c))
}

// UnmarshalXML requires a three-digit code: an empty or out-of-range Code
// is an error, not a zero that reads as "no status".
func (c *StatusCode) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var s string
	if err := d.DecodeElement(&s, &start); err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 100 || n > 699 {
		return fmt.Errorf("osp: element %s: status code %q, want 100..699", start.Name.Local, s)
	}
	*c = StatusCode(n)
	return nil
}
