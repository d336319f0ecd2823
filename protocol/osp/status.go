package osp

import "strconv"

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
