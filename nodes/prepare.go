package nodes

import (
	"path/filepath"

	"github.com/qoslab/qoslab/protocol/osp"
)

// PKIDir is where a lab keeps the material its nodes share: the lab CA and
// a certificate per node.
func PKIDir(labDir string) string { return filepath.Join(labDir, "pki") }

// PrepareLab writes what nodes share before any of them starts: the lab
// PKI (a CA, and a certificate per node for OSP token signing and mutual
// TLS), in PKIDir. The launcher calls it (topology.Options.Prepare).
func PrepareLab(labDir string, names []string) error {
	return osp.WriteLabPKI(PKIDir(labDir), names)
}
