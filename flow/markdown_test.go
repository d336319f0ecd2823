package flow

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// docPath is docs/FLOW.md from this package's directory.
var docPath = filepath.Join("..", DocPath)

// checkDoc says how the file differs from what the tables render.
func checkDoc(file, want []byte) error {
	if bytes.Equal(file, want) {
		return nil
	}
	fl, wl := bytes.Split(file, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(fl) || i < len(wl); i++ {
		var f, w []byte
		if i < len(fl) {
			f = fl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if !bytes.Equal(f, w) {
			return fmt.Errorf("%s:%d is\n\t%s\nthe flow tables say\n\t%s\n(run go generate ./flow)", DocPath, i+1, f, w)
		}
	}
	return fmt.Errorf("%s differs from the flow tables (run go generate ./flow)", DocPath)
}

// docs/FLOW.md is what package flow renders.
func TestFLOWmdIsGenerated(t *testing.T) {
	file, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkDoc(file, Markdown()); err != nil {
		t.Fatal(err)
	}
}

// The check above cannot pass by accident: a step that changes in the
// tables (step 14 going to R1 instead of R2), an order or a variant's
// prose makes the file disagree.
func TestFLOWmdNoticesAChange(t *testing.T) {
	file, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	setup := fig5
	setup.Steps = append([]Step(nil), fig5.Steps...)
	setup.Steps[13].To = R1
	teardown := fig6
	teardown.Order = append([]Chain{{Steps: []int{4, 3}}}, fig6.Order...)
	vs := append([]variant(nil), variants...)
	vs[0].doc += " And more."
	for name, doc := range map[string][]byte{
		"step 14":          markdown(&setup, &fig6, variants),
		"teardown order":   markdown(&fig5, &teardown, variants),
		"a variant's text": markdown(&fig5, &fig6, vs),
	} {
		if checkDoc(file, doc) == nil {
			t.Errorf("docs/FLOW.md still agrees with the tables after a change of %s", name)
		}
	}
}
