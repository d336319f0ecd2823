package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/topology"
)

// OSP interop: the TransNexus OSP Toolkit (the reference OSP client, C,
// built from the peers directory), unmodified, driven by a small client of
// ours (e2e/testdata/osptk/harness.c) from the policy servers' namespaces
// against the lab's clearinghouse. Its return codes are the toolkit's
// (include/osp/osperrno.h): 0 is success.

// Toolkit return codes the specs expect.
const (
	osptkOK           = 0
	osptkRouteBlocked = 11510 // OSPC_ERR_TRAN_ROUTE_BLOCKED: the server answered 403
)

// osptkRun runs the harness in a node's namespace with that node's lab
// certificate and returns its key=value results.
func osptkRun(ctx context.Context, l *labRun, node, mode string, args ...string) map[string]string {
	harness := requireOSPToolkit(ctx)
	pki := filepath.Join(l.Dir, "pki")
	all := append([]string{mode, "--ca", filepath.Join(pki, "ca.pem"),
		"--cert", filepath.Join(pki, node+".pem"), "--key", filepath.Join(pki, node+".key")}, args...)
	p := startIn(l, node, GinkgoT().TempDir(), harness, all...)
	Expect(p.wait(ctx, 30*time.Second)).To(Succeed(), "osptk-harness %s in %s:\n%s", mode, node, p.out.String())
	res := map[string]string{}
	for _, line := range strings.Split(p.out.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			res[k] = v
		}
	}
	Expect(res).To(HaveKeyWithValue("done", "1"), "osptk-harness %s in %s did not finish:\n%s", mode, node, p.out.String())
	return res
}

// toolkitCall is one call driven through the toolkit: the source side
// authorises and reports in pol1, the destination side validates the
// token locally and reports in pol2.
type toolkitCall struct {
	callID, calling, called string
	url                     string
}

func newToolkitCall(l *labRun, scheme string) toolkitCall {
	ch := nodeAddr(l, "ch")
	return toolkitCall{
		callID:  fmt.Sprintf("osptk-%d@%s", time.Now().UnixNano(), nodeAddr(l, "pol1")),
		calling: "sip:uac@" + nodeAddr(l, "uac").String(),
		called:  "sip:uas@" + nodeAddr(l, "uas").String(),
		url:     fmt.Sprintf("%s://%s:1080/osp", scheme, ch),
	}
}

// run drives the call both ways and checks every toolkit result; it
// returns the token file.
func (c toolkitCall) run(ctx context.Context, l *labRun) {
	token := filepath.Join(GinkgoT().TempDir(), "token")
	src := osptkRun(ctx, l, "pol1", "source", "--sp", c.url, "--calling", c.calling, "--called", c.called,
		"--callid", c.callID, "--maxdest", "3", "--token-out", token,
		"--source-addr", "["+nodeAddr(l, "sip1").String()+"]:5060",
		"--duration-ms", "4321", "--pdd-ms", "1234", "--release", "destination")
	// ETSI TS 101 321 AuthorisationResponse: one Destination per route
	// (the default lab has one: SIP2), DestinationSignalAddress
	// "[address]:port" of the terminating proxy, a signed token, the
	// authorised time.
	Expect(src).To(HaveKeyWithValue("auth_rc", "0"), "%v", src)
	Expect(src).To(HaveKeyWithValue("destinations", "1"))
	Expect(src).To(HaveKeyWithValue("dest0_rc", "0"))
	Expect(src).To(HaveKeyWithValue("dest0_address", "["+nodeAddr(l, "sip2").String()+"]:5060"))
	Expect(src).To(HaveKeyWithValue("dest0_called", c.called))
	Expect(src).To(HaveKeyWithValue("dest0_callid", c.callID))
	Expect(src).To(HaveKeyWithValue("dest0_timelimit", "14400"))
	Expect(strconv.Atoi(src["dest0_token_size"])).To(BeNumerically(">", 1000), "a PKCS#7 signed token")
	Expect(src).To(HaveKeyWithValue("usage_rc", "0"), "source usage reported")

	// The destination validates the token as a terminating gateway does:
	// locally, with the lab CA only (signature, chain, call, parties,
	// validity).
	dst := osptkRun(ctx, l, "pol2", "destination", "--sp", c.url, "--calling", c.calling, "--called", c.called,
		"--callid", c.callID, "--token", token,
		"--source-addr", "["+nodeAddr(l, "sip1").String()+"]:5060", "--dest-addr", "["+nodeAddr(l, "sip2").String()+"]:5060",
		"--duration-ms", "4300", "--release", "source")
	Expect(dst).To(HaveKeyWithValue("validate_rc", "0"), "%v", dst)
	Expect(dst).To(HaveKeyWithValue("authorised", "1"))
	Expect(dst).To(HaveKeyWithValue("timelimit", "14400"))
	Expect(dst).To(HaveKeyWithValue("usage_rc", "0"), "destination usage reported")
}

// checkRecords: `qoslab cdr` shows the call's two records with the
// durations (milliseconds) and release source the toolkit reported.
func (c toolkitCall) checkRecords(ctx context.Context, l *labRun) {
	var mine []map[string]any
	for _, r := range cdrs(ctx, l.Name) {
		if r["call_id"] == c.callID {
			mine = append(mine, r)
		}
	}
	Expect(mine).To(HaveLen(2), "both sides' usage recorded once")
	byRole := map[string]map[string]any{}
	for _, r := range mine {
		byRole[r["role"].(string)] = r
		Expect(r["node"]).To(Equal("ch"))
		Expect(r["source"]).To(Equal(c.calling))
		Expect(r["destination"]).To(Equal(c.called))
	}
	Expect(byRole["source"]).To(And(HaveKeyWithValue("reporter", "pol1"), HaveKeyWithValue("duration_ms", 4321.0),
		HaveKeyWithValue("post_dial_delay", 1234.0), HaveKeyWithValue("release_source", 2.0)), "%v", byRole["source"])
	Expect(byRole["destination"]).To(And(HaveKeyWithValue("reporter", "pol2"), HaveKeyWithValue("duration_ms", 4300.0),
		HaveKeyWithValue("release_source", 1.0)), "%v", byRole["destination"])
	Expect(byRole["source"]["transaction_id"]).To(Equal(byRole["destination"]["transaction_id"]))
}

var _ = Describe("OSP interop with the OSP Toolkit", Label("root", "interop"), func() {
	BeforeEach(func() { requireRoot() })

	It("authorises, validates and bills a toolkit call over plain HTTP; a denied call is the toolkit's blocked route; CapabilitiesIndication is answered in OSP", func(ctx context.Context) {
		l := upLab(ctx, "e2e-osptk", "--set", "ch.tls=off",
			"--set", `ch.policy=deny * -> sip:uac@* code=403 reason="barred by the interop suite"; allow * -> *`)
		call := newToolkitCall(l, "http")
		call.run(ctx, l)
		call.checkRecords(ctx, l)

		denied := osptkRun(ctx, l, "pol1", "source", "--sp", call.url, "--calling", call.called, "--called", call.calling,
			"--callid", "osptk-denied@x")
		Expect(denied).To(HaveKeyWithValue("auth_rc", strconv.Itoa(osptkRouteBlocked)), "%v", denied)

		caps := osptkRun(ctx, l, "pol1", "caps", "--sp", call.url, "--source-addr", "["+nodeAddr(l, "pol1").String()+"]")
		Expect(caps).To(HaveKeyWithValue("caps_rc", "0"), "%v", caps)
		Expect(logged(l, "ch", "tx", "osp", "CapabilitiesConfirmation")).To(Equal(1))
	})

	It("authorises, validates and bills a toolkit call over mutual TLS with the lab PKI", func(ctx context.Context) {
		l := upLab(ctx, "e2e-osptk-tls", "--set", "ch.tls=on")
		call := newToolkitCall(l, "https")
		call.run(ctx, l)
		call.checkRecords(ctx, l)

		// The clearinghouse's certificate verifies for a client that dials
		// its address (an IP SAN), as OpenSSL checks it with -verify_ip.
		requirePeer("openssl")
		pki, ch := filepath.Join(l.Dir, "pki"), nodeAddr(l, "ch").String()
		var out []byte
		Expect(topology.RunIn(l.Name, "pol1", func() error {
			cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", ch+":1080", "-CAfile", filepath.Join(pki, "ca.pem"),
				"-cert", filepath.Join(pki, "pol1.pem"), "-key", filepath.Join(pki, "pol1.key"),
				"-verify_ip", ch, "-verify_return_error", "-brief")
			cmd.Stdin = strings.NewReader("")
			var err error
			out, err = cmd.CombinedOutput()
			return err
		})).To(Succeed(), "openssl s_client: %s", out)
		Expect(string(out)).To(ContainSubstring("Verification: OK"))
	})
})
