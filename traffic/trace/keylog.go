package trace

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// keyLog holds TLS session secrets in the NSS key log format that Go's
// crypto/tls writes (tls.Config.KeyLogWriter), Firefox and curl write
// with SSLKEYLOGFILE, and Wireshark reads (tls.keylog_file): one line per
// secret, "<label> <client random, hex> <secret, hex>". They are found by
// the ClientHello's random.
// https://www.ietf.org/archive/id/draft-ietf-tls-keylogfile-02.html
type keyLog struct {
	// master holds TLS 1.2 master secrets (CLIENT_RANDOM).
	master map[[32]byte][]byte
	// tls13 holds TLS 1.3 traffic secrets.
	tls13 map[[32]byte]*tls13Secrets
	lines int // secrets read
}

// tls13Secrets are the traffic secrets of one TLS 1.3 session.
type tls13Secrets struct {
	clientHS, serverHS, clientApp, serverApp []byte
}

func newKeyLog() *keyLog {
	return &keyLog{master: map[[32]byte][]byte{}, tls13: map[[32]byte]*tls13Secrets{}}
}

// add reads key log lines; comments, blank lines and labels the verifier
// does not use are skipped, as Wireshark skips them. A line that is not a
// key log line is an error naming its number.
func (k *keyLog) add(b []byte, name string) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := bytes.Fields(line)
		if len(f) != 3 {
			return fmt.Errorf("trace: key log %s:%d: want \"<label> <client random> <secret>\", have %d fields", name, n, len(f))
		}
		var cr [32]byte
		if l, err := hex.Decode(cr[:], f[1]); err != nil || l != 32 {
			return fmt.Errorf("trace: key log %s:%d: client random is not 32 bytes of hex", name, n)
		}
		secret := make([]byte, hex.DecodedLen(len(f[2])))
		if _, err := hex.Decode(secret, f[2]); err != nil {
			return fmt.Errorf("trace: key log %s:%d: secret is not hex", name, n)
		}
		s13 := func() *tls13Secrets {
			s := k.tls13[cr]
			if s == nil {
				s = &tls13Secrets{}
				k.tls13[cr] = s
			}
			return s
		}
		switch string(f[0]) {
		case "CLIENT_RANDOM":
			k.master[cr] = secret
		case "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
			s13().clientHS = secret
		case "SERVER_HANDSHAKE_TRAFFIC_SECRET":
			s13().serverHS = secret
		case "CLIENT_TRAFFIC_SECRET_0":
			s13().clientApp = secret
		case "SERVER_TRAFFIC_SECRET_0":
			s13().serverApp = secret
		default:
			continue // EXPORTER_SECRET, early traffic: not needed
		}
		k.lines++
	}
	return sc.Err()
}

// KeyLogName is the file a node writes its TLS secrets to in its
// directory, and the name the verifier looks for next to a capture.
const KeyLogName = "tls-keylog.txt"

// KeyLogFiles lists the TLS key logs that belong to a capture: for a lab
// or run directory (or a capture in its capture/ directory), every node's
// nodes/<node>/tls-keylog.txt and a tls-keylog.txt in the directory; for a
// capture file elsewhere, the tls-keylog.txt beside it.
func KeyLogFiles(path string) []string {
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
		if filepath.Base(dir) == "capture" {
			dir = filepath.Dir(dir)
		}
	}
	var out []string
	nodes, _ := filepath.Glob(filepath.Join(dir, "nodes", "*", KeyLogName))
	out = append(out, nodes...)
	for _, p := range []string{filepath.Join(dir, KeyLogName), filepath.Join(dir, "capture", KeyLogName)} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// ReadKeyLogs reads key log files into one key log text, for
// Options.KeyLog.
func ReadKeyLogs(files []string) ([]byte, error) {
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trace: key log: %w", err)
		}
		all = append(append(all, b...), '\n')
	}
	return all, nil
}
