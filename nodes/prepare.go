package nodes

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qoslab/qoslab/protocol/osp"
)

// PKIDir is where a lab keeps the material its nodes share: the lab CA and
// a certificate per node.
func PKIDir(labDir string) string { return filepath.Join(labDir, "pki") }

// PrepareLab writes what nodes share before any of them starts: the lab
// PKI (a CA, and a certificate per node, marked with its role and naming
// its address, for OSP token signing and mutual TLS), in PKIDir. The
// launcher calls it (topology.Options.Prepare).
func PrepareLab(labDir string, lab map[string]NodeInfo) error {
	pki := make([]osp.PKINode, 0, len(lab))
	for name, n := range lab {
		pn := osp.PKINode{Name: name, Role: n.Role}
		if n.Addr.IsValid() {
			pn.Addrs = []netip.Addr{n.Addr}
		}
		pki = append(pki, pn)
	}
	slices.SortFunc(pki, func(a, b osp.PKINode) int { return strings.Compare(a.Name, b.Name) })
	return osp.WriteLabPKI(PKIDir(labDir), pki)
}
