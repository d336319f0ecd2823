// Package e2e holds the Ginkgo suites that run real labs: namespaces,
// veths, one qoslab process per node, captures on every link. Specs that
// need root carry Label("root"); without root they skip with a message,
// except in CI (CI=true), where a skip would hide that nothing ran.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "qoslab e2e")
}

// qoslabBin is the qoslab binary built once for the suite: nodes run as
// `qoslab node <role>` and the capture as `qoslab capture`.
var qoslabBin string

var _ = SynchronizedBeforeSuite(func() []byte {
	if os.Geteuid() != 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "qoslab-e2e-bin-")
	Expect(err).NotTo(HaveOccurred())
	bin := filepath.Join(dir, "qoslab")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/qoslab/qoslab/cmd/qoslab").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build: %s", out)
	return []byte(bin)
}, func(bin []byte) {
	qoslabBin = string(bin)
})

var _ = SynchronizedAfterSuite(removePeerBuilds, func() {
	if qoslabBin != "" {
		_ = os.RemoveAll(filepath.Dir(qoslabBin))
	}
})

// requireRoot skips a root-labelled spec when not root, with a clear
// message; in CI it fails instead, because CI must run every suite.
func requireRoot() {
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		Fail("the e2e suites need root and network namespaces, and CI must run them: run .ci/run as root")
	}
	Skip("needs root and network namespaces (run as root: sudo make e2e)")
}

// requirePeer returns the path of an independent implementation a spec
// needs (tshark, sipp, baresip). Without it the spec skips with a message;
// in CI it fails, because scripts/install-deps.sh installs every peer.
func requirePeer(name string) string {
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		Fail(name + " is not installed, and CI must run every spec: scripts/install-deps.sh installs it")
	}
	Skip(name + " is not installed (scripts/install-deps.sh installs it)")
	return ""
}
