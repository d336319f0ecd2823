package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/demo"
	"github.com/qoslab/qoslab/nodes/ua"
	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/trace"
)

// Hostile OSP clients (issue 16): only policy servers may obtain tokens or
// write bills at the clearinghouse. The clients here are written from ETSI
// TS 101 321 (XML in an HTTP/1.1 POST to /osp) by hand, not with
// protocol/osp, and connect from inside a lab node's namespace: the
// subscriber's (uac) or a second address added to a policy server's
// interface that the lab does not know. Each refusal must be OSP's (401),
// HTTP's or TLS's own answer, be in the clearinghouse's log and in the
// capture, and bill nothing; a legitimate call right after still verifies.

// ospPeer is where a hostile (or test) OSP client connects from.
type ospPeer struct {
	node string     // namespace
	from netip.Addr // source address; zero: the node's own
	tls  *tls.Config
}

// ospAnswer is what came back: the HTTP status, the OSP status code and
// description, the body; err when no HTTP answer came (a TLS refusal).
type ospAnswer struct {
	http int
	code int
	desc string
	body string
	err  error
}

var (
	reCode  = regexp.MustCompile(`<Code>\s*(\d+)\s*</Code>`)
	reDesc  = regexp.MustCompile(`<Description>([^<]*)</Description>`)
	reToken = regexp.MustCompile(`<Token[^>]*encoding="base64"[^>]*>\s*([A-Za-z0-9+/=\s]+?)\s*</Token>`)
	reTx    = regexp.MustCompile(`<TransactionId>\s*(\d+)\s*</TransactionId>`)
)

// post sends one OSP message to the lab's clearinghouse and reads the
// answer. The connection is made inside the node's namespace (the socket
// stays there), with HTTP/1.1 written by hand.
func (p ospPeer) post(ctx context.Context, l *labRun, body string) ospAnswer {
	ch := netip.AddrPortFrom(nodeAddr(l, "ch"), 1080)
	var conn net.Conn
	Expect(topology.RunIn(l.Name, p.node, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		if p.from.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: p.from.AsSlice()}
		}
		var err error
		conn, err = d.DialContext(ctx, "tcp", ch.String())
		return err
	})).To(Succeed(), "connect from %s (%v) to the clearinghouse", p.node, p.from)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if p.tls != nil {
		tc := tls.Client(conn, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return ospAnswer{err: err}
		}
		conn = tc
	}
	req := fmt.Sprintf("POST /osp HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		ch, len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		return ospAnswer{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return ospAnswer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := ospAnswer{http: resp.StatusCode, body: string(b)}
	if m := reCode.FindStringSubmatch(a.body); m != nil {
		a.code, _ = strconv.Atoi(m[1])
	}
	if m := reDesc.FindStringSubmatch(a.body); m != nil {
		a.desc = m[1]
	}
	return a
}

// ospCall names a call in hand-written OSP bodies.
type ospCall struct{ id, source, destination string }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func ospTimestamp() string { return time.Now().UTC().Format(time.RFC3339) }

// authRequestXML is an AuthorisationRequest; with a token it is the
// terminating side's (qoslab's Role and Token extensions).
func authRequestXML(c ospCall, token string) string {
	ext := ""
	if token != "" {
		ext = `<Role critical="False">destination</Role><Token critical="False" encoding="base64">` + token + `</Token>`
	}
	return `<?xml version="1.0" encoding="UTF-8"?><Message messageId="1" random="7"><AuthorisationRequest componentId="1">` +
		`<Timestamp>` + ospTimestamp() + `</Timestamp><CallId encoding="base64">` + b64(c.id) + `</CallId>` +
		`<SourceInfo type="sip">` + c.source + `</SourceInfo><DestinationInfo type="sip">` + c.destination + `</DestinationInfo>` +
		`<MaximumDestinations>1</MaximumDestinations>` + ext + `</AuthorisationRequest></Message>`
}

// usageXML is a UsageIndication for a transaction, with an Amount in
// seconds (negative ones too: the clearinghouse must refuse them).
func usageXML(c ospCall, tx, role, amount string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Message messageId="2" random="9"><UsageIndication componentId="2">` +
		`<Timestamp>` + ospTimestamp() + `</Timestamp><Role>` + role + `</Role><TransactionId>` + tx + `</TransactionId>` +
		`<CallId encoding="base64">` + b64(c.id) + `</CallId><SourceInfo type="sip">` + c.source + `</SourceInfo>` +
		`<DestinationInfo type="sip">` + c.destination + `</DestinationInfo><UsageDetail><Amount>` + amount + `</Amount>` +
		`<Increment>1</Increment><Unit>s</Unit></UsageDetail></UsageIndication></Message>`
}

// addAddress gives a node's eth0 a second address the lab does not know.
func addAddress(l *labRun, node string, a netip.Addr) {
	var out []byte
	Expect(topology.RunIn(l.Name, node, func() error {
		var err error
		out, err = exec.Command("ip", "addr", "add", a.String()+"/24", "dev", "eth0").CombinedOutput()
		return err
	})).To(Succeed(), "ip addr add in %s: %s", node, out)
}

// unknownAddr is an address on a policy server's link that no lab node
// has: .99 of pol1's /24.
func unknownAddr(l *labRun) netip.Addr {
	a := nodeAddr(l, "pol1").As4()
	a[3] = 99
	return netip.AddrFrom4(a)
}

// chLog is the clearinghouse's node log.
func chLog(l *labRun) string {
	b, err := os.ReadFile(filepath.Join(topology.NodeDir(l.Dir, "ch"), "node.log"))
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// refusalsLogged counts the clearinghouse's "osp request refused" lines
// naming a peer.
func refusalsLogged(l *labRun, peer string) int {
	n := 0
	for _, line := range strings.Split(chLog(l), "\n") {
		if strings.Contains(line, `"msg":"osp request refused"`) && strings.Contains(line, `"peer":"`+peer+`"`) {
			n++
		}
	}
	return n
}

// framesFrom returns the frame numbers (1-based, as Wireshark counts) of
// the clearinghouse link's TCP segments from the clearinghouse to addr
// whose payload matches.
func framesFrom(l *labRun, addr netip.Addr, match func(payload []byte) bool) []int {
	var frames []int
	i := 0
	Expect(eachPacket(captureFile(l, "r1-ch"), func(p gopacket.Packet) {
		i++
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil || tcp.SrcPort != 1080 || !ip.DstIP.Equal(addr.AsSlice()) {
			return
		}
		if match(tcp.Payload) {
			frames = append(frames, i)
		}
	})).To(Succeed())
	return frames
}

// nothingBilledBy: no usage record names one of the hostile peers or the
// transaction ids they made up.
func nothingBilledBy(ctx context.Context, l *labRun, peers ...string) []map[string]any {
	recs := cdrs(ctx, l.Name)
	for _, r := range recs {
		for _, p := range peers {
			Expect(r["reporter"]).NotTo(Equal(p), "a record written by %s: %v", p, r)
		}
		Expect(r["transaction_id"]).NotTo(BeElementOf("123456789", "abc"), "a record for a transaction never issued: %v", r)
	}
	return recs
}

// issuedTo finds the transaction the clearinghouse issued for a call on
// its source side, from its log.
func issuedTo(l *labRun, callID string) (ospCall, string) {
	for _, line := range strings.Split(chLog(l), "\n") {
		if !strings.Contains(line, `"msg":"authorisation"`) || !strings.Contains(line, `"side":"source"`) ||
			(callID != "" && !strings.Contains(line, `"call":"`+callID+`"`)) {
			continue
		}
		field := func(k string) string {
			m := regexp.MustCompile(`"` + k + `":"([^"]*)"`).FindStringSubmatch(line)
			if m == nil {
				return ""
			}
			return m[1]
		}
		if tx := field("transaction"); tx != "" {
			return ospCall{id: field("call"), source: field("source"), destination: field("destination")}, tx
		}
	}
	return ospCall{}, ""
}

var _ = Describe("a clearinghouse nobody but the policy servers can use", Label("root", "security"), func() {
	BeforeEach(func() { requireRoot() })

	It("refuses, over plain HTTP, tokens and bills to the subscriber's node and to an unconfigured address, keeps used tokens and issued transactions across a restart, and still serves a legitimate call", func(ctx context.Context) {
		l := upLab(ctx, "e2e-sec-osp", "--set", "ch.tls=off")
		stranger := unknownAddr(l)
		addAddress(l, "pol1", stranger)
		uac := ospPeer{node: "uac"}
		other := ospPeer{node: "pol1", from: stranger}
		callee := "sip:uas@" + nodeAddr(l, "uas").String()

		// A real call in progress: its transaction is what a forger would
		// bill against.
		done := make(chan ua.CallResult, 1)
		go func() {
			defer GinkgoRecover()
			done <- placeCall(ctx, l, ua.CallRequest{Talk: "3s"})
		}()
		var real ospCall
		var realTx string
		Eventually(func() string { real, realTx = issuedTo(l, ""); return realTx }).WithTimeout(10 * time.Second).ShouldNot(BeEmpty())

		for name, p := range map[string]ospPeer{"uac": uac, stranger.String(): other} {
			By("attacks from " + name)
			// A token for itself.
			a := p.post(ctx, l, authRequestXML(ospCall{"hostile-" + name, "sip:uac@x", callee}, ""))
			Expect(a.err).NotTo(HaveOccurred())
			Expect(a.code).To(Equal(401), "AuthorisationRequest from %s: %s", name, a.body)
			Expect(reToken.MatchString(a.body)).To(BeFalse(), "a token was issued to %s", name)
			// Bills for transactions never issued, with negative amounts.
			for _, tx := range []string{"123456789", "abc"} {
				a = p.post(ctx, l, usageXML(ospCall{"hostile-" + name, "sip:uac@x", callee}, tx, "source", "-30"))
				Expect(a.code).To(Equal(401), "UsageIndication for %s from %s: %s", tx, name, a.body)
			}
			// A forged bill for the real call's transaction, both sides.
			for _, role := range []string{"source", "destination"} {
				a = p.post(ctx, l, usageXML(real, realTx, role, "9999"))
				Expect(a.code).To(Equal(401), "forged %s usage from %s: %s", role, name, a.body)
			}
			Expect(refusalsLogged(l, name)).To(Equal(5), "each refusal is in the clearinghouse's log:\n%s", chLog(l))
		}

		res := <-done
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		// The genuine usage of the real call was recorded, not the
		// forgeries.
		Eventually(func() int {
			n := 0
			for _, r := range cdrs(ctx, l.Name) {
				if r["call_id"] == res.CallID {
					n++
					Expect(r["reporter"]).To(BeElementOf("pol1", "pol2"))
					Expect(r["duration_ms"]).To(BeNumerically("<", 9999000))
				}
			}
			return n
		}).WithTimeout(10 * time.Second).Should(Equal(2))

		By("replaying a used token after the clearinghouse restarts")
		// pol1 obtains a token (a policy server may), pol2 presents it.
		legit := ospCall{"replayed@" + nodeAddr(l, "pol1").String(), "sip:uac@" + nodeAddr(l, "uac").String(), callee}
		a := ospPeer{node: "pol1"}.post(ctx, l, authRequestXML(legit, ""))
		Expect(a.code).To(Equal(200), "%s", a.body)
		token, tx := reToken.FindStringSubmatch(a.body)[1], reTx.FindStringSubmatch(a.body)[1]
		token = strings.Join(strings.Fields(token), "")
		Expect(ospPeer{node: "pol2"}.post(ctx, l, authRequestXML(legit, token)).code).To(Equal(200))
		Expect(topology.StopNode(l.Name, "ch", false, "")).To(Succeed())
		Expect(topology.StartNode(ctx, l.Name, "ch", topology.Options{Binary: qoslabBin})).To(Succeed())
		a = ospPeer{node: "pol2"}.post(ctx, l, authRequestXML(legit, token))
		Expect(a.code).To(Equal(401), "the used token after a restart: %s", a.body)
		Expect(a.desc).To(ContainSubstring("already used"))
		// The transaction issued before the restart is still known.
		a = ospPeer{node: "pol1"}.post(ctx, l, usageXML(legit, tx, "source", "1.5"))
		Expect(a.code).To(Equal(200), "usage for a transaction issued before the restart: %s", a.body)

		nothingBilledBy(ctx, l, "uac", stranger.String())

		By("a legitimate call right after")
		after := placeCall(ctx, l, ua.CallRequest{})
		Expect(after.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", after)
		// The whole capture verifies, hostile messages included, and the
		// node logs agree with it for the legitimate call (the
		// clearinghouse logs the strangers' messages without a step; the
		// OSP-only exchanges of the replay check above belong to no SIP
		// call the verifier could hold them against).
		Expect(demo.Settle(ctx, l.Dir, []string{after.CallID}, 10*time.Second)).To(Succeed())
		Expect(topology.StopCapture(ctx, l.Name, "")).To(Succeed())
		topo, err := trace.PlanTopology(l.Plan)
		Expect(err).NotTo(HaveOccurred())
		lines, err := trace.ReadNodeLogs(l.Dir)
		Expect(err).NotTo(HaveOccurred())
		rep, err := trace.Verify(ctx, filepath.Join(l.Dir, "capture", "lab.pcapng"), topo, trace.Options{RequireMedia: true, Logs: lines})
		Expect(err).NotTo(HaveOccurred())
		callReport(rep, after.CallID)
		var disagree []string
		for _, f := range rep.Failures {
			if f.Check != trace.CheckLog || f.CallID == after.CallID || f.CallID == res.CallID || f.CallID == "" {
				disagree = append(disagree, f.String())
			}
		}
		Expect(disagree).To(BeEmpty(), "the capture, or the node logs against it, do not verify")

		// Every OSP refusal crossed the clearinghouse's link as an OSP
		// answer with status 401 (Wireshark frame numbers of r1-ch).
		for _, from := range []netip.Addr{nodeAddr(l, "uac"), stranger} {
			frames := framesFrom(l, from, func(b []byte) bool { return strings.Contains(string(b), "<Code>401</Code>") })
			Expect(frames).To(HaveLen(5), "OSP 401 answers to %s in capture/r1-ch.pcapng, frames %v", from, frames)
		}
	})

	It("refuses, over mutual TLS, certificates that are not a policy server's, a policy server's used from elsewhere, and none at all", func(ctx context.Context) {
		l := upLab(ctx, "e2e-sec-osptls", "--set", "ch.tls=on")
		stranger := unknownAddr(l)
		addAddress(l, "pol1", stranger)
		pki := filepath.Join(l.Dir, "pki")
		labTLS := func(node string) *tls.Config {
			cert, err := tls.LoadX509KeyPair(filepath.Join(pki, node+".pem"), filepath.Join(pki, node+".key"))
			Expect(err).NotTo(HaveOccurred())
			roots := x509.NewCertPool()
			ca, err := os.ReadFile(filepath.Join(pki, "ca.pem"))
			Expect(err).NotTo(HaveOccurred())
			Expect(roots.AppendCertsFromPEM(ca)).To(BeTrue())
			// TLS 1.2, so that a handshake refusal is a plaintext alert
			// in the capture (TLS 1.3 encrypts it).
			return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "ch",
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}
		}
		callee := "sip:uas@" + nodeAddr(l, "uas").String()
		hostile := ospCall{"hostile-tls", "sip:uac@x", callee}

		By("uac's own lab certificate: a valid certificate, not a policy server's")
		a := ospPeer{node: "uac", tls: labTLS("uac")}.post(ctx, l, authRequestXML(hostile, ""))
		Expect(a.err).NotTo(HaveOccurred())
		Expect(a.code).To(Equal(401), "%s", a.body)
		Expect(a.desc).To(ContainSubstring("not issued to a policy server"))

		By("pol1's certificate used from an address that is not pol1's")
		a = ospPeer{node: "pol1", from: stranger, tls: labTLS("pol1")}.post(ctx, l, authRequestXML(hostile, ""))
		Expect(a.code).To(Equal(401), "%s", a.body)
		Expect(a.desc).To(ContainSubstring("used from " + stranger.String()))

		By("no certificate, and a self-made one claiming to be pol1: TLS refuses the handshake")
		none := labTLS("pol1")
		none.Certificates = nil
		a = ospPeer{node: "pol1", from: stranger, tls: none}.post(ctx, l, authRequestXML(hostile, ""))
		Expect(a.err).To(MatchError(ContainSubstring("remote error: tls: ")), "no certificate: TLS's own alert")
		forged := labTLS("pol1")
		forged.Certificates = []tls.Certificate{selfMadeCert("pol1", "pdp")}
		a = ospPeer{node: "pol1", from: stranger, tls: forged}.post(ctx, l, authRequestXML(hostile, ""))
		Expect(a.err).To(MatchError(ContainSubstring("remote error: tls: ")), "self-made certificate: TLS's own alert")
		var alerts []int
		Eventually(func() []int {
			alerts = framesFrom(l, stranger, func(b []byte) bool { return len(b) >= 7 && b[0] == 0x15 && b[5] == 2 })
			return alerts
		}).WithTimeout(5*time.Second).Should(HaveLen(2), func() string {
			return fmt.Sprintf("fatal TLS alerts to %s in capture/r1-ch.pcapng, frames %v", stranger, alerts)
		})

		Expect(refusalsLogged(l, "uac")).To(Equal(1), "%s", chLog(l))
		Expect(refusalsLogged(l, stranger.String())).To(Equal(1), "pol1's certificate from %s:\n%s", stranger, chLog(l))
		Expect(chLog(l)).To(ContainSubstring("TLS handshake error from " + stranger.String()))

		By("a legitimate call right after, billed by both policy servers")
		res := placeCall(ctx, l, ua.CallRequest{})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		Eventually(func() []map[string]any { return nothingBilledBy(ctx, l, "uac", stranger.String()) }).
			WithTimeout(10 * time.Second).Should(HaveLen(2))
	})
})

// selfMadeCert is a certificate of a CA the lab does not know, with the
// name and role of a lab policy server.
func selfMadeCert(cn, ou string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
