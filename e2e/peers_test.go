package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sync/errgroup"
)

// The independent peers kept as source (the OSP Toolkit, COPS::Client)
// live in a directory of their own, ../shared/peers next to the
// repository unless -peers or QOSLAB_PEERS says otherwise. They are built
// into a temporary directory the first time a spec needs them and the
// build is shared by the rest of the run; nothing of theirs enters the
// repository.
var peersFlag = flag.String("peers", "", "directory of the independent peers (default $QOSLAB_PEERS, else ../shared/peers next to the repository)")

// peersDir returns the peers directory.
func peersDir() string {
	if *peersFlag != "" {
		return *peersFlag
	}
	if d := os.Getenv("QOSLAB_PEERS"); d != "" {
		return d
	}
	wd, err := os.Getwd() // the e2e package directory
	Expect(err).NotTo(HaveOccurred())
	return filepath.Join(wd, "..", "..", "shared", "peers")
}

// requirePeerSource returns the directory of a peer kept as source; like
// requirePeer, it skips with a message when the peer is missing, and
// fails under CI, which must run every spec.
func requirePeerSource(name string) string {
	dir := filepath.Join(peersDir(), name)
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	msg := fmt.Sprintf("peer %s not found in %s (set QOSLAB_PEERS or -peers to the peers directory)", name, peersDir())
	if os.Getenv("CI") != "" {
		Fail(msg + ", and CI must run every spec")
	}
	Skip(msg)
	return ""
}

// requireFile is requirePeer for a file a build needs (a library's header
// from its Debian -dev package).
func requireFile(path, pkg string) {
	if _, err := os.Stat(path); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is missing (Debian package %s; scripts/install-deps.sh installs it)", path, pkg)
	if os.Getenv("CI") != "" {
		Fail(msg + ", and CI must run every spec")
	}
	Skip(msg)
}

// buildDir is the run's temporary directory for peer builds, removed
// after the suite.
var buildDir struct {
	sync.Mutex
	path string
}

func peerBuildDir() string {
	buildDir.Lock()
	defer buildDir.Unlock()
	if buildDir.path == "" {
		d, err := os.MkdirTemp("", "qoslab-peers-")
		Expect(err).NotTo(HaveOccurred())
		buildDir.path = d
	}
	return buildDir.path
}

// removePeerBuilds deletes the peer builds (at the end of the suite).
func removePeerBuilds() {
	buildDir.Lock()
	defer buildDir.Unlock()
	if buildDir.path != "" {
		_ = os.RemoveAll(buildDir.path)
		buildDir.path = ""
	}
}

// osptkHarness is the OSP Toolkit, built from the peers directory, linked
// with qoslab's small client (e2e/testdata/osptk/harness.c); built once
// per run.
var osptk struct {
	once    sync.Once
	harness string
	err     error
}

// requireOSPToolkit builds the toolkit and the harness (once) and returns
// the harness binary.
func requireOSPToolkit(ctx context.Context) string {
	src := requirePeerSource("osptoolkit")
	requirePeer("gcc")
	requirePeer("ar")
	requireFile("/usr/include/openssl/ssl.h", "libssl-dev")
	requireFile("/usr/include/utf8proc.h", "libutf8proc-dev")
	osptk.once.Do(func() { osptk.harness, osptk.err = buildOSPToolkit(ctx, src, peerBuildDir()) })
	Expect(osptk.err).NotTo(HaveOccurred())
	return osptk.harness
}

// The toolkit's own compiler flags (its src/Makefile, "PRODUCTION mode").
// The copy in the peers directory lost its Makefiles (the toolkit's
// .gitignore lists "Makefile"), so when there is none the same objects
// are compiled here with these flags.
var osptkCFlags = []string{"-DOPENSSL_NO_KRB5", "-D_POSIX_THREADS", "-D_REENTRANT", "-DOSP_SDK",
	"-DOSP_ALLOW_DUP_TXN", "-DOSP_NO_DELETE_CHECK", "-DOSP_SSL_VERIFY_NONE", "-O", "-Wall", "-D_GNU_SOURCE", "-fPIC"}

// buildOSPToolkit copies the toolkit (the peers directory may be
// read-only) and builds lib/libosptk.a with `make -C src build`, or with
// the Makefile's rules when the copy has none; then the harness, linked
// as the toolkit's test_app links on Linux (without Solaris' -lmtmalloc).
func buildOSPToolkit(ctx context.Context, src, into string) (string, error) {
	dir := filepath.Join(into, "osptoolkit")
	if out, err := exec.CommandContext(ctx, "cp", "-r", src, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy %s: %v: %s", src, err, out)
	}
	if out, err := exec.CommandContext(ctx, "chmod", "-R", "u+w", dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("chmod %s: %v: %s", dir, err, out)
	}
	lib := filepath.Join(dir, "lib", "libosptk.a")
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "src", "Makefile")); err == nil {
		if out, err := exec.CommandContext(ctx, "make", "-C", filepath.Join(dir, "src"), "build").CombinedOutput(); err != nil {
			return "", fmt.Errorf("make -C src build: %v: %s", err, out)
		}
	} else if err := compileOSPToolkit(ctx, dir, lib); err != nil {
		return "", err
	}
	harness := filepath.Join(into, "osptk-harness")
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	args := append(append([]string{}, osptkCFlags...), "-I", filepath.Join(dir, "include"), "-o", harness,
		filepath.Join(wd, "testdata", "osptk", "harness.c"), lib, "-lssl", "-lcrypto", "-lutf8proc", "-lpthread", "-lm")
	if out, err := exec.CommandContext(ctx, "gcc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc harness.c: %v: %s", err, out)
	}
	return harness, nil
}

// compileOSPToolkit compiles every source of the library (ospnossl.c is
// the no-SSL alternative to ospopenssl.c, left out as the Makefile does)
// in parallel and archives them.
func compileOSPToolkit(ctx context.Context, dir, lib string) error {
	srcs, err := filepath.Glob(filepath.Join(dir, "src", "*.c"))
	if err != nil {
		return err
	}
	var objs []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for _, c := range srcs {
		if filepath.Base(c) == "ospnossl.c" {
			continue
		}
		obj := strings.TrimSuffix(c, ".c") + ".o"
		objs = append(objs, obj)
		g.Go(func() error {
			args := append(append([]string{}, osptkCFlags...), "-I", filepath.Join(dir, "include"), "-c", c, "-o", obj)
			if out, err := exec.CommandContext(gctx, "gcc", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("gcc %s: %v: %s", filepath.Base(c), err, out)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "ar", append([]string{"-rc", lib}, objs...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("ar %s: %v: %s", lib, err, out)
	}
	return nil
}
