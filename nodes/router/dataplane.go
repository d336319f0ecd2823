package router

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// DataplaneConfig says where and for which interfaces the data plane is built.
type DataplaneConfig struct {
	// NetNS is a file descriptor of the network namespace to program, or
	// -1 for the namespace of the calling process (a node runs inside its
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
	mu      sync.Mutex
	conn    *nftables.Conn
	table   *nftables.Table
	forward *nftables.Chain
	maps    map[string]*nftables.Set // gatesMap, gatesAnyMap
	classes map[uint8]*nftables.Chain
	gates   map[uint32]Gate
	byKey   map[string]uint32 // map name + key -> gate id, to refuse duplicate classifiers
}

// OpenDataplane deletes any old "qoslab" table in the namespace and
// installs a clean one: the forward chain, the gate maps, the boundary
// chain for the access interfaces and the trusted set.
func OpenDataplane(cfg DataplaneConfig) (*Dataplane, error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if cfg.NetNS >= 0 {
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
		classes: map[uint8]*nftables.Chain{},
		gates:   map[uint32]Gate{},
		byKey:   map[string]uint32{},
	}
	if err := d.reset(); err != nil {
		_ = conn.CloseLasting()
		return nil, err
	}
	if err := d.install(cfg); err != nil {
		_ = conn.CloseLasting()
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
	for name, kt := range map[string]nftables.SetDatatype{gatesMap: gateKeyType, gatesAnyMap: gateAnyKeyType} {
		s := &nftables.Set{Table: d.table, Name: name, IsMap: true, KeyType: kt, DataType: nftables.TypeVerdict}
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("router: map %s: %w", name, err)
		}
		d.maps[name] = s
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
	c.AddRule(&nftables.Rule{Table: d.table, Chain: d.forward, Exprs: flowLookup(d.maps[gatesMap], true)})
	c.AddRule(&nftables.Rule{Table: d.table, Chain: d.forward, Exprs: flowLookup(d.maps[gatesAnyMap], false)})
	for _, ifname := range cfg.Access {
		if len(ifname) >= ifNameLen {
			return fmt.Errorf("router: access interface name %q too long", ifname)
		}
		c.AddRule(&nftables.Rule{Table: d.table, Chain: d.forward,
			Exprs: append(fromInterface(ifname), &expr.Verdict{Kind: expr.VerdictJump, Chain: boundaryChain})})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("router: install table %s: %w", tableName, err)
	}
	return nil
}

// SetGate installs g, or replaces the gate with the same id. Installing a
// gate identical to the installed one changes nothing (idempotent). A gate's
// counters survive a replacement: they count everything marked under its id.
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
	class, newClass := d.classChain(g.DSCP)
	if newClass {
		c.AddRule(&nftables.Rule{Table: d.table, Chain: class, Exprs: classRule(g.DSCP)})
	}
	chain := &nftables.Chain{Table: d.table, Name: gateChainName(g.ID)}
	if exists {
		if err := c.SetDeleteElements(d.maps[gateMapFor(old.Flow)], []nftables.SetElement{{Key: gateKey(old.Flow)}}); err != nil {
			return fmt.Errorf("router: gate %d: %w", g.ID, err)
		}
		c.FlushChain(chain)
	} else {
		c.AddChain(chain)
		c.AddObj(&nftables.NamedObj{Table: d.table, Name: gateChainName(g.ID), Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}})
	}
	c.AddRule(&nftables.Rule{Table: d.table, Chain: chain, Exprs: gateRule(g)})
	if err := c.SetAddElements(d.maps[mapName], []nftables.SetElement{gateElement(g)}); err != nil {
		return fmt.Errorf("router: gate %d: %w", g.ID, err)
	}
	if err := c.Flush(); err != nil {
		if newClass {
			delete(d.classes, g.DSCP)
		}
		return fmt.Errorf("router: install gate %d (%s): %w", g.ID, g.Flow, err)
	}
	if exists {
		delete(d.byKey, gateMapFor(old.Flow)+string(gateKey(old.Flow)))
	}
	d.gates[g.ID] = g
	d.byKey[k] = g.ID
	return nil
}

// classChain returns the chain of a DSCP class, queueing its creation in
// the current batch when it does not exist yet.
func (d *Dataplane) classChain(dscp uint8) (*nftables.Chain, bool) {
	if ch, ok := d.classes[dscp]; ok {
		return ch, false
	}
	ch := d.conn.AddChain(&nftables.Chain{Table: d.table, Name: classChainName(dscp)})
	d.classes[dscp] = ch
	return ch, true
}

// DeleteGate removes a gate and returns what it marked over its life. The
// flow stops being marked atomically (its map element goes first); the
// counter is read after that, so it is final, and then the gate's chain and
// counter are removed.
func (d *Dataplane) DeleteGate(id uint32) (Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.gates[id]
	if !ok {
		return Counters{}, fmt.Errorf("%w %d", ErrUnknownGate, id)
	}
	c := d.conn
	mapName := gateMapFor(g.Flow)
	if err := c.SetDeleteElements(d.maps[mapName], []nftables.SetElement{{Key: gateKey(g.Flow)}}); err != nil {
		return Counters{}, fmt.Errorf("router: gate %d: %w", id, err)
	}
	if err := c.Flush(); err != nil {
		return Counters{}, fmt.Errorf("router: delete gate %d: %w", id, err)
	}
	delete(d.gates, id)
	delete(d.byKey, mapName+string(gateKey(g.Flow)))

	cnt, readErr := d.counters(id)
	chain := &nftables.Chain{Table: d.table, Name: gateChainName(id)}
	c.FlushChain(chain)
	c.DelChain(chain)
	c.DeleteObject(&nftables.NamedObj{Table: d.table, Name: gateChainName(id), Type: nftables.ObjTypeCounter})
	if err := c.Flush(); err != nil {
		return cnt, errors.Join(readErr, fmt.Errorf("router: remove chain of gate %d: %w", id, err))
	}
	return cnt, readErr
}

// GateCounters returns what an installed gate has marked so far.
func (d *Dataplane) GateCounters(id uint32) (Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.gates[id]; !ok {
		return Counters{}, fmt.Errorf("%w %d", ErrUnknownGate, id)
	}
	return d.counters(id)
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

func (d *Dataplane) counters(id uint32) (Counters, error) {
	return d.readCounter(gateChainName(id))
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
	if cerr := d.conn.CloseLasting(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("router: close data plane: %w", err)
	}
	return nil
}
