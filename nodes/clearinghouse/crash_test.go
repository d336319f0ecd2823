package clearinghouse

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/osp"
)

// helperEnv names the config file when the test binary runs as a
// clearinghouse process (see TestHelperClearinghouseProcess).
const helperEnv = "QOSLAB_TEST_CH_CONFIG"

// TestHelperClearinghouseProcess is not a test: when the crash test
// re-executes the test binary with helperEnv set, this runs the real node
// until SIGTERM (or SIGKILL), printing "ready" on stdout once it listens.
func TestHelperClearinghouseProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestCrashAfterUsageConfirmation")
	}
	cfg, err := nodes.ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	env := nodes.Env{Config: cfg, Log: slog.New(slog.NewJSONHandler(os.Stderr, nil)),
		Ready: func() { os.Stdout.WriteString("ready\n") }}
	if err := Run(ctx, env); err != nil {
		t.Fatal(err)
	}
}

// chProcess is a clearinghouse running as a separate process.
type chProcess struct {
	cmd *exec.Cmd
}

func startCHProcess(t *testing.T, cfgPath string) *chProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClearinghouseProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), helperEnv+"="+cfgPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &chProcess{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				break
			}
		}
		for sc.Scan() { // drain until the process exits
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("clearinghouse process exited before ready")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("clearinghouse process not ready after 20s")
	}
	return p
}

// kill sends SIGKILL: no shutdown, no deferred close, like a crash.
func (p *chProcess) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// TestCrashAfterUsageConfirmation kills the clearinghouse process with
// SIGKILL the moment its AuthorisationResponse arrives, and again the
// moment its UsageConfirmation arrives; after each restart what it
// answered holds: the transaction is known, the record is there, and
// re-sending is confirmed without a second record.
func TestCrashAfterUsageConfirmation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	lab := newTestLab(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := lab.cfg
	cfg.Params = map[string]string{"port": strconv.Itoa(port)} // Run listens on ch's address, 127.0.0.2
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(cfg.Dir, "config.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	url := osp.ServerURL(cfg.Nodes["ch"].Addr.String(), port, false)

	// Killed right after it issued a transaction: the transaction is
	// still known after the restart.
	p := startCHProcess(t, cfgPath)
	c := osp.NewClient(url, osp.WithUsageRetries(0), osp.WithLocalAddr(addrPol1))
	tx, _ := issue(t, c, "call-u")
	p.kill()
	c.Close()

	p = startCHProcess(t, cfgPath)
	c = osp.NewClient(url, osp.WithUsageRetries(0), osp.WithLocalAddr(addrPol1))
	cnf, err := c.ReportUsage(ctx, usageIndication(tx))
	p.kill() // right after the confirmation arrived
	c.Close()
	if err != nil || !cnf.Status.OK() {
		t.Fatalf("usage before crash: %+v %v", cnf, err)
	}

	p = startCHProcess(t, cfgPath)
	if recs := countRecords(t, cfg.Dir); len(recs) != 1 || recs[0].TransactionID != tx {
		t.Fatalf("after crash: records %+v, want the one confirmed", recs)
	}
	c = osp.NewClient(url, osp.WithUsageRetries(0), osp.WithLocalAddr(addrPol1))
	defer c.Close()
	cnf, err = c.ReportUsage(ctx, usageIndication(tx))
	if err != nil || cnf.Status.Description != "already recorded" {
		t.Fatalf("re-send after crash: %+v %v", cnf, err)
	}
	// A clean stop (SIGTERM) ends the process with status 0.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("clearinghouse process after SIGTERM: %v", err)
	}
	if recs := countRecords(t, cfg.Dir); len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
}
