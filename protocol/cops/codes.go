package cops

import "strconv"

// CNum is the class number of a COPS object (RFC 2748 section 2.2).
type CNum uint8

// Object class numbers.
const (
	CNumHandle       CNum = 1
	CNumContext      CNum = 2
	CNumInInterface  CNum = 3
	CNumOutInterface CNum = 4
	CNumReason       CNum = 5
	CNumDecision     CNum = 6
	CNumLPDPDecision CNum = 7
	CNumError        CNum = 8
	CNumClientSI     CNum = 9
	CNumKATimer      CNum = 10
	CNumPEPID        CNum = 11
	CNumReportType   CNum = 12
	CNumPDPRedirAddr CNum = 13
	CNumLastPDPAddr  CNum = 14
	CNumAcctTimer    CNum = 15
	CNumIntegrity    CNum = 16
)

var cnumNames = [...]string{"", "Handle", "Context", "In-Interface", "Out-Interface", "Reason",
	"Decision", "LPDPDecision", "Error", "ClientSI", "KATimer", "PEPID", "Report-Type",
	"PDPRedirAddr", "LastPDPAddr", "AcctTimer", "Integrity"}

// String names the object class.
func (c CNum) String() string {
	if c >= 1 && int(c) < len(cnumNames) {
		return cnumNames[c]
	}
	return "C-Num(" + strconv.Itoa(int(c)) + ")"
}

// RType is the request type of a Context object (RFC 2748 section 2.2.2),
// a bit field in principle though every REQ in this lab sets one bit.
type RType uint16

// Request types.
const (
	RTypeAdmission RType = 0x01 // Incoming-Message/Admission Control request
	RTypeResource  RType = 0x02 // Resource-Allocation request
	RTypeOutgoing  RType = 0x04 // Outgoing-Message request
	RTypeConfigure RType = 0x08 // Configuration request
)

// String names the request type.
func (r RType) String() string {
	switch r {
	case RTypeAdmission:
		return "admission"
	case RTypeResource:
		return "resource"
	case RTypeOutgoing:
		return "outgoing"
	case RTypeConfigure:
		return "config"
	}
	return "R-Type(0x" + strconv.FormatUint(uint64(r), 16) + ")"
}

// ReasonCode is carried in the Reason object of a DRQ (RFC 2748 2.2.5).
type ReasonCode uint16

// Reason codes.
const (
	ReasonUnspecified        ReasonCode = 1
	ReasonManagement         ReasonCode = 2
	ReasonPreempted          ReasonCode = 3
	ReasonTear               ReasonCode = 4
	ReasonTimeout            ReasonCode = 5
	ReasonRouteChange        ReasonCode = 6
	ReasonInsufficientRes    ReasonCode = 7
	ReasonPDPDirective       ReasonCode = 8
	ReasonUnsupportedDec     ReasonCode = 9
	ReasonSyncHandleUnknown  ReasonCode = 10
	ReasonTransientHandle    ReasonCode = 11
	ReasonMalformedDecision  ReasonCode = 12
	ReasonUnknownObjectFromP ReasonCode = 13
)

var reasonNames = [...]string{"", "Unspecified", "Management", "Preempted", "Tear", "Timeout",
	"Route-Change", "Insufficient-Resources", "PDP-Directive", "Unsupported-Decision",
	"Synchronize-Handle-Unknown", "Transient-Handle", "Malformed-Decision", "Unknown-Object-From-PDP"}

// String names the reason.
func (r ReasonCode) String() string {
	if r >= 1 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Command is the command code of a Decision flags object (RFC 2748 2.2.6).
type Command uint16

// Decision commands.
const (
	CommandNull    Command = 0 // no configuration data available
	CommandInstall Command = 1 // admit request / install configuration
	CommandRemove  Command = 2 // remove request / remove configuration
)

// String names the command.
func (c Command) String() string {
	switch c {
	case CommandNull:
		return "NULL"
	case CommandInstall:
		return "Install"
	case CommandRemove:
		return "Remove"
	}
	return "Command(" + strconv.Itoa(int(c)) + ")"
}

// DecisionFlags are the flags of a Decision flags object.
type DecisionFlags uint16

// DecisionTriggerError asks the PEP to report failure if it cannot apply the decision.
const DecisionTriggerError DecisionFlags = 0x1

// String names the flags.
func (f DecisionFlags) String() string {
	switch f {
	case 0:
		return "none"
	case DecisionTriggerError:
		return "trigger-error"
	}
	return "0x" + strconv.FormatUint(uint64(f), 16)
}

// ErrorCode is carried in the Error object (RFC 2748 2.2.8) and in every
// ProtocolError this package returns, so a peer can be told what went wrong.
type ErrorCode uint16

// Error codes.
const (
	ErrBadHandle         ErrorCode = 1
	ErrInvalidHandleRef  ErrorCode = 2
	ErrBadMessageFormat  ErrorCode = 3
	ErrUnableToProcess   ErrorCode = 4
	ErrMandatoryClientSI ErrorCode = 5
	ErrUnsupportedClient ErrorCode = 6
	ErrMandatoryObject   ErrorCode = 7
	ErrClientFailure     ErrorCode = 8
	ErrCommunication     ErrorCode = 9
	ErrUnspecified       ErrorCode = 10
	ErrShuttingDown      ErrorCode = 11
	ErrRedirect          ErrorCode = 12
	ErrUnknownObject     ErrorCode = 13
	ErrAuthFailure       ErrorCode = 14
	ErrAuthRequired      ErrorCode = 15
)

var errorNames = [...]string{"", "Bad-Handle", "Invalid-Handle-Reference", "Bad-Message-Format",
	"Unable-To-Process", "Mandatory-Client-Info-Missing", "Unsupported-Client",
	"Mandatory-Object-Missing", "Client-Failure", "Communication-Failure", "Unspecified",
	"Shutting-Down", "Redirect", "Unknown-Object", "Authentication-Failure", "Authentication-Required"}

// String names the error code.
func (e ErrorCode) String() string {
	if e >= 1 && int(e) < len(errorNames) {
		return errorNames[e]
	}
	return "Error(" + strconv.Itoa(int(e)) + ")"
}

// ReportType is carried in the Report-Type object of an RPT (RFC 2748 2.2.12).
type ReportType uint16

// Report types.
const (
	ReportSuccess    ReportType = 1
	ReportFailure    ReportType = 2
	ReportAccounting ReportType = 3
)

// String names the report type.
func (r ReportType) String() string {
	switch r {
	case ReportSuccess:
		return "Success"
	case ReportFailure:
		return "Failure"
	case ReportAccounting:
		return "Accounting"
	}
	return "Report(" + strconv.Itoa(int(r)) + ")"
}
