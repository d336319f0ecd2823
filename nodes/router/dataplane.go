package router

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/qoslab/qoslab/flow"
)

// DataplaneConfig says where and for which interfaces the data plane is built.
type DataplaneConfig struct {
	// NetNS is a file descriptor of the network namespace to program;
	// 0 or -1 mean the calling thread's namespace (a node runs inside its
	// router namespace; tests program a namespace they created).
	NetNS int
	// Access lists the access-side interfaces: packets arriving on them
	// are boundary-conditioned.
	Access []string
	// Trusted lists infrastructure hosts whose CS5 signalling marking
	// survives the boundary.
	Trusted []netip.Addr
}

// Dataplane owns the nftables table "qoslab" of one router namespace. It is
// safe for concurrent use; every gate change is one atomic netlink batch.
type Dataplane struct {
	mu       sync.Mutex
	conn     *nftables.Conn
	table    *nftables.Table
	forward  *nftables.Chain
	access   []string
	maps     map[string]*nftables.Set // gatesMap, gatesAnyMap
	classMap *nftables.Set
	classes  map[uint8]bool // DSCP classes whose chain and class element exist
	gates    map[uint32]Gate
	byKey    map[string]uint32 // map name + key -> gate id, to refuse duplicate classifiers
	carried  map[uint32]Counters
	elems    *elemCounterReader
}

// OpenDataplane deletes any old "qoslab" table in the namespace and
// installs a clean one: the forward chain, the gate maps, the boundary
// chain for the access interfaces and the trusted set.
func OpenDataplane(cfg DataplaneConfig) (*Dataplane, error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if cfg.NetNS > 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNS))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("router: open nftables: %w", err)
	}
	d := &Dataplane{
		conn:    conn,
		table:   &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4},
		maps:    map[string]*nftables.Set{},
		classes: map[uint8]bool{},
		gates:   map[uint32]Gate{},
		byKey:   map[string]uint32{},
		carried: map[uint32]Counters{},
	}
	d.elems, err = newElemCounterReader(cfg.NetNS, uint8(d.table.Family), tableName)
	if err != nil {
		_ = conn.CloseLasting()
		return nil, err
	}
	if err := d.reset(); err != nil {
		d.closeConns()
		return nil, err
	}
	if err := d.install(cfg); err != nil {
		d.closeConns()
		return nil, err
	}
	return d, nil
}

// reset removes a table left by an earlier run, so that the router starts
// from a clean state and the policy server re-installs live gates.
func (d *Dataplane) reset() error {
	tables, err := d.conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("router: list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == tableName {
			d.conn.DelTable(d.table)
			if err := d.conn.Flush(); err != nil {
				return fmt.Errorf("router: delete old table %s: %w", tableName, err)
			}
		}
	}
	return nil
}

// install builds the base ruleset in one batch.
func (d *Dataplane) install(cfg DataplaneConfig) error {
	for _, ifname := range cfg.Access {
		if ifname == "" || len(ifname) >= ifNameLen {
			return fmt.Errorf("router: access interface name %q is not a valid interface name", ifname)
		}
	}
	d.access = cfg.Access
	c := d.conn
	c.AddTable(d.table)
	trusted := &nftables.Set{Table: d.table, Name: trustedSet, KeyType: nftables.TypeIPAddr}
	var elems []nftables.SetElement
	for _, a := range cfg.Trusted {
		if !a.Is4() {
			return fmt.Errorf("router: trusted host %s: only IPv4 is supported", a)
		}
		b := a.As4()
		elems = append(elems, nftables.SetElement{Key: b[:]})
	}
	if err := c.AddSet(trusted, elems); err != nil {
		return fmt.Errorf("router: trusted set: %w", err)
	}
	// Gate maps hold data (the class), not verdicts: adding an element
	// with a jump verdict makes the kernel re-validate every element of
	// the map at commit, so a Gate-Set would cost O(gates). The class
	// verdict map holds one element per DSCP class in use.
	for name, kt := range map[string]nftables.SetDatatype{gatesMap: gateKeyType, gatesAnyMap: gateAnyKeyType} {
		s := &nftables.Set{Table: d.table, Name: name, IsMap: true, KeyType: kt, DataType: nftables.TypeMark, Counter: true, Size: maxGates}
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("router: map %s: %w", name, err)
		}
		d.maps[name] = s
	}
	d.classMap = &nftables.Set{Table: d.table, Name: classesMap, IsMap: true, KeyType: nftables.TypeMark, DataType: nftables.TypeVerdict}
	if err := c.AddSet(d.classMap, nil); err != nil {
		return fmt.Errorf("router: map %s: %w", classesMap, err)
	}
	c.AddObj(&nftables.NamedObj{Table: d.table, Name: bleachedObj, Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}})

	boundary := c.AddChain(&nftables.Chain{Table: d.table, Name: boundaryChain})
	for _, r := range boundaryRules(trusted) {
		c.AddRule(&nftables.Rule{Table: d.table, Chain: boundary, Exprs: r})
	}
	policy := nftables.ChainPolicyAccept
	d.forward = c.AddChain(&nftables.Chain{
		Table: d.table, Name: forwardChain,
		Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward,
		Priority: nftables.ChainPriorityMangle, Policy: &policy,
	})
	for _, exprs := range d.forwardRules() {
		c.AddRule(&nftables.Rule{Table: d.table, Chain: d.forward, Exprs: exprs})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("router: install table %s: %w", tableName, err)
	}
	return nil
}

// forwardRules are the rules of the forward base chain: the two gate
// lookups, then boundary conditioning of what arrives on access interfaces.
func (d *Dataplane) forwardRules() [][]expr.Any {
	rules := [][]expr.Any{
		flowLookup(d.maps[gatesMap], d.classMap, true),
		flowLookup(d.maps[gatesAnyMap], d.classMap, false),
	}
	for _, ifname := range d.access {
		rules = append(rules, append(fromInterface(ifname), &expr.Verdict{Kind: expr.VerdictJump, Chain: boundaryChain}))
	}
	return rules
}

// SetGate installs g, or replaces the gate with the same id. Installing a
// gate identical to the installed one changes nothing (idempotent). A
// gate's counters survive a replacement: they count everything marked under
// its id (the old element's count is read just before the swap, so packets
// in that instant may be missed).
func (d *Dataplane) SetGate(g Gate) error {
	if err := g.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, exists := d.gates[g.ID]
	if exists && old == g {
		return nil
	}
	mapName := gateMapFor(g.Flow)
	k := mapName + string(gateKey(g.Flow))
	if other, taken := d.byKey[k]; taken && other != g.ID {
		return fmt.Errorf("router: gate %d: classifier %s already belongs to gate %d", g.ID, g.Flow, other)
	}

	c := d.conn
	newClass := !d.classes[g.DSCP]
	if newClass {
		class := c.AddChain(&nftables.Chain{Table: d.table, Name: classChainName(g.DSCP)})
		c.AddRule(&nftables.Rule{Table: d.table, Chain: class, Exprs: classRule(g.DSCP)})
		if err := c.SetAddElements(d.classMap, []nftables.SetElement{classElement(g.DSCP)}); err != nil {
			return fmt.Errorf("router: class %s: %w", dscpName(g.DSCP), err)
		}
	}
	var carry Counters
	if exists {
		var err error
		if carry, err = d.elems.read(gateMapFor(old.Flow), gateKey(old.Flow)); err != nil {
			return fmt.Errorf("router: gate %d: %w", g.ID, err)
		}
		if err := c.SetDeleteElements(d.maps[gateMapFor(old.Flow)], []nftables.SetElement{{Key: gateKey(old.Flow)}}); err != nil {
			return fmt.Errorf("router: gate %d: %w", g.ID, err)
		}
	}
	if err := c.SetAddElements(d.maps[mapName], []nftables.SetElement{gateElement(g)}); err != nil {
		return fmt.Errorf("router: gate %d: %w", g.ID, err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("router: install gate %d (%s): %w", g.ID, g.Flow, err)
	}
	d.classes[g.DSCP] = true
	if exists {
		delete(d.byKey, gateMapFor(old.Flow)+string(gateKey(old.Flow)))
		d.carried[g.ID] = d.carried[g.ID].add(carry)
	}
	d.gates[g.ID] = g
	d.byKey[k] = g.ID
	return nil
}

// DeleteGate removes a gate and returns what it marked over its life. The
// count is read just before the element goes, in the same locked step.
func (d *Dataplane) DeleteGate(id uint32) (Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.gates[id]
	if !ok {
		return Counters{}, fmt.Errorf("%w %d", ErrUnknownGate, id)
	}
	mapName := gateMapFor(g.Flow)
	cnt, err := d.counters(g)
	if err != nil {
		return Counters{}, err
	}
	if err := d.conn.SetDeleteElements(d.maps[mapName], []nftables.SetElement{{Key: gateKey(g.Flow)}}); err != nil {
		return Counters{}, fmt.Errorf("router: gate %d: %w", id, err)
	}
	if err := d.conn.Flush(); err != nil {
		return Counters{}, fmt.Errorf("router: delete gate %d: %w", id, err)
	}
	delete(d.gates, id)
	delete(d.byKey, mapName+string(gateKey(g.Flow)))
	delete(d.carried, id)
	return cnt, nil
}

// GateCounters returns what an installed gate has marked so far.
func (d *Dataplane) GateCounters(id uint32) (Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.gates[id]
	if !ok {
		return Counters{}, fmt.Errorf("%w %d", ErrUnknownGate, id)
	}
	return d.counters(g)
}

// Gate returns the installed gate with the given id.
func (d *Dataplane) Gate(id uint32) (Gate, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.gates[id]
	return g, ok
}

// Len is the number of installed gates.
func (d *Dataplane) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.gates)
}

// Bleached returns how many packets the boundary re-marked to DSCP 0.
func (d *Dataplane) Bleached() (Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readCounter(bleachedObj)
}

// counters is a gate's element counter plus what earlier versions of the
// gate (before a replacement) counted.
func (d *Dataplane) counters(g Gate) (Counters, error) {
	c, err := d.elems.read(gateMapFor(g.Flow), gateKey(g.Flow))
	if err != nil {
		return Counters{}, fmt.Errorf("router: counters of gate %d: %w", g.ID, err)
	}
	return c.add(d.carried[g.ID]), nil
}

// readCounter reads one named counter object (one netlink round trip,
// independent of how many gates exist).
func (d *Dataplane) readCounter(name string) (Counters, error) {
	o, err := d.conn.GetObject(&nftables.NamedObj{Table: d.table, Name: name, Type: nftables.ObjTypeCounter})
	if err != nil {
		return Counters{}, fmt.Errorf("router: read counter %s: %w", name, err)
	}
	no, ok := o.(*nftables.NamedObj)
	if !ok {
		return Counters{}, fmt.Errorf("router: counter %s: unexpected object %T", name, o)
	}
	ctr, ok := no.Obj.(*expr.Counter)
	if !ok {
		return Counters{}, fmt.Errorf("router: counter %s: unexpected object data %T", name, no.Obj)
	}
	return Counters{Packets: ctr.Packets, Bytes: ctr.Bytes}, nil
}

// Close deletes the table (a stopped router marks nothing) and closes the
// netlink connection.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conn.DelTable(d.table)
	err := d.conn.Flush()
	if errors.Is(err, unix.ENOENT) {
		err = nil // already gone: a newer data plane in this namespace reset it
	}
	if cerr := d.closeConns(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("router: close data plane: %w", err)
	}
	return nil
}

func (d *Dataplane) closeConns() error {
	err := d.conn.CloseLasting()
	if d.elems != nil {
		err = errors.Join(err, d.elems.Close())
	}
	return err
}

// GateFor returns the id of the installed gate with exactly this classifier.
func (d *Dataplane) GateFor(f flow.Tuple) (uint32, bool) {
	if !f.Src.Addr().Is4() || !f.Dst.Addr().Is4() {
		return 0, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.byKey[gateMapFor(f)+string(gateKey(f))]
	return id, ok
}
