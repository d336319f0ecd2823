package cops

import (
	"errors"
	"fmt"
)

// ProtocolError is what the decoder and the grammar checks return. Code is
// the RFC 2748 error code to send back to the peer in an Error object (in a
// DEC or CC), Offset is where in the message the problem was found.
type ProtocolError struct {
	Code    ErrorCode
	Subcode uint16
	Offset  int
	msg     string
	err     error
}

// Error renders "cops: <code> at offset <n>: <what>".
func (e *ProtocolError) Error() string {
	s := fmt.Sprintf("cops: %s at offset %d: %s", e.Code, e.Offset, e.msg)
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, if any.
func (e *ProtocolError) Unwrap() error { return e.err }

// Errorf returns a *ProtocolError with the RFC error code to send back,
// for the checks a connection makes beyond the codec (Integrity, grammar
// of a client type).
func Errorf(code ErrorCode, format string, args ...any) *ProtocolError {
	return protoErr(code, 0, format, args...)
}

func protoErr(code ErrorCode, off int, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Offset: off, msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the RFC error code an error carries, or ErrUnspecified.
func CodeOf(err error) ErrorCode {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ErrUnspecified
}
