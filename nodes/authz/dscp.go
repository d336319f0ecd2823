package authz

// dscpByClass maps DiffServ class names to code points (RFC 2474, 2597,
// 3246).
var dscpByClass = map[string]uint8{
	"BE": 0, "CS0": 0, "CS1": 8, "CS2": 16, "CS3": 24, "CS4": 32, "CS5": 40, "CS6": 48, "CS7": 56,
	"AF11": 10, "AF12": 12, "AF13": 14,
	"AF21": 18, "AF22": 20, "AF23": 22,
	"AF31": 26, "AF32": 28, "AF33": 30,
	"AF41": 34, "AF42": 36, "AF43": 38,
	"EF": 46,
}

// DSCP returns the code point of a DiffServ class name (upper case).
func DSCP(class string) (uint8, bool) {
	d, ok := dscpByClass[class]
	return d, ok
}
