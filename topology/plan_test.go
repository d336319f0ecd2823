package topology

import (
	"net/netip"
	"strings"
	"testing"
)

var testRoles = []string{"uac", "uas", "proxy", "pdp", "router", "clearinghouse", "host"}

func defaultPlan(t *testing.T) *Plan {
	t.Helper()
	s, err := DefaultSpec()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(s, "t", testRoles)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultPlanAddresses(t *testing.T) {
	p := defaultPlan(t)
	if len(p.Nodes) != 9 || len(p.Links) != 8 {
		t.Fatalf("default topology: %d nodes, %d links; want 9 and 8", len(p.Nodes), len(p.Links))
	}
	want := map[string]string{
		"uac": "198.18.1.2", "sip1": "198.18.2.2", "pol1": "198.18.3.2", "r1": "198.18.1.1",
		"uas": "198.18.4.2", "sip2": "198.18.5.2", "pol2": "198.18.6.2", "r2": "198.18.4.1",
		"ch": "198.18.8.2",
	}
	for _, n := range p.Nodes {
		if got := n.Addr().String(); got != want[n.Name] {
			t.Errorf("%s: primary address %s, want %s", n.Name, got, want[n.Name])
		}
		if n.Namespace != "qoslab-t-"+n.Name {
			t.Errorf("%s: namespace %q", n.Name, n.Namespace)
		}
	}
	if p.Links[6].Name != "r1-r2" {
		t.Errorf("core link named %q, want r1-r2", p.Links[6].Name)
	}
}

// Every node must have a route to every subnet it is not on, and following
// the routes hop by hop must reach the destination through routers only.
func TestDefaultPlanRoutesReachEverything(t *testing.T) {
	p := defaultPlan(t)
	owner := map[netip.Addr]string{}
	for _, n := range p.Nodes {
		for _, ifc := range n.Ifaces {
			owner[ifc.Prefix.Addr()] = n.Name
		}
	}
	for _, src := range p.Nodes {
		for _, dst := range p.Nodes {
			if src.Name == dst.Name {
				continue
			}
			target := dst.Addr()
			cur, _ := p.Node(src.Name)
			for hops := 0; ; hops++ {
				if hops > 5 {
					t.Fatalf("%s -> %s: routing loop", src.Name, dst.Name)
				}
				if onLink(cur, target) {
					break
				}
				via, ok := lookup(cur, target)
				if !ok {
					t.Fatalf("%s -> %s: %s has no route to %s", src.Name, dst.Name, cur.Name, target)
				}
				next, _ := p.Node(owner[via])
				if next.Role != RoleRouter {
					t.Fatalf("%s -> %s: transit through non-router %s", src.Name, dst.Name, next.Name)
				}
				cur = next
			}
		}
	}
}

func onLink(n *PlannedNode, a netip.Addr) bool {
	for _, ifc := range n.Ifaces {
		if ifc.Prefix.Contains(a) {
			return true
		}
	}
	return false
}

func lookup(n *PlannedNode, a netip.Addr) (netip.Addr, bool) {
	for _, r := range n.Routes {
		if r.Dst.Contains(a) {
			return r.Via, true
		}
	}
	return netip.Addr{}, false
}

func TestBadSpecsNameFileLineAndProblem(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown role", "nodes:\n  - name: a\n    role: router\n  - name: b\n    role: toaster\nlinks:\n  - endpoints: [a:x, b:y]\n",
			[]string{"bad.yaml:4", `node "b"`, `unknown role "toaster"`}},
		{"duplicate name", "nodes:\n  - name: a\n    role: host\n  - name: a\n    role: host\nlinks:\n  - endpoints: [a:x, a:y]\n",
			[]string{"bad.yaml:4", `node "a"`, "duplicate name (first defined on line 2)"}},
		{"missing node", "nodes:\n  - name: a\n    role: host\nlinks:\n  - endpoints: [a:x, zz:y]\n",
			[]string{"bad.yaml:5", "link 1", `no node named "zz"`}},
		{"address clash", "nodes:\n  - {name: a, role: router}\n  - {name: b, role: host}\n  - {name: c, role: host}\nlinks:\n  - endpoints: [a:x, b:y]\n    addresses: [10.0.0.1/24, 10.0.0.2/24]\n  - endpoints: [a:z, c:y]\n    addresses: [10.0.0.1/24, 10.0.0.3/24]\n",
			[]string{"bad.yaml:8", "link 2", "address 10.0.0.1 clashes with a:x"}},
		{"unknown field", "nodes:\n  - name: a\n    rolle: host\n", []string{"bad.yaml", "rolle"}},
		{"bad endpoint", "nodes:\n  - {name: a, role: host}\n  - {name: b, role: host}\nlinks:\n  - endpoints: [a, b:y]\n",
			[]string{"bad.yaml:5", `endpoint "a": want "node:iface"`}},
		{"long iface", "nodes:\n  - {name: a, role: host}\n  - {name: b, role: host}\nlinks:\n  - endpoints: [a:abcdefghijklmnopq, b:y]\n",
			[]string{"bad.yaml:5", "interface name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseSpec("bad.yaml", []byte(c.yaml))
			if err == nil {
				_, err = NewPlan(s, "t", testRoles)
			}
			if err == nil {
				t.Fatal("accepted a bad topology")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLabNames(t *testing.T) {
	for _, ok := range []string{"default", "a", "ci-1"} {
		if err := ValidateLabName(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Default", "1lab", "a/b", strings.Repeat("x", 21)} {
		if err := ValidateLabName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A route whose next hop does not forward is refused with the node and the
// route named: a host in the middle of a chain would drop every packet for
// the far end.
func TestPlanRefusesRouteThroughNonForwardingNode(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"host chain", `
nodes:
  - {name: h1, role: host}
  - {name: h2, role: host}
  - {name: h3, role: host}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h2:eth1, h3:eth0]
`, `chain.yaml: node "h2": h1's route to 198.18.2.0/24 via 198.18.1.2 (h2) would carry traffic for h3 (198.18.2.2) through h2, a host, which does not forward`},
		{"host between two routers", `
nodes:
  - {name: r1, role: router}
  - {name: h, role: host}
  - {name: r2, role: router}
links:
  - endpoints: [r1:h, h:eth0]
  - endpoints: [h:eth1, r2:h]
`, `node "h": r1's route to 198.18.2.0/24 via 198.18.1.2 (h) would carry traffic for r2 (198.18.2.2) through h, a host`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSpec("chain.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewPlan(s, "t", testRoles)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewPlan: %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
	// Routers in the middle are fine.
	s, err := ParseSpec("ok.yaml", []byte(`
nodes:
  - {name: h1, role: host}
  - {name: r, role: router}
  - {name: h3, role: host}
links:
  - endpoints: [h1:eth0, r:a]
  - endpoints: [r:b, h3:eth0]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPlan(s, "t", testRoles); err != nil {
		t.Fatal(err)
	}
}
