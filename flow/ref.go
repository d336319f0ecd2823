package flow

// Ref names a message the way a node knows it where it sends or receives
// it: the phase, the kind (and for a decision the kind of REQ it
// answers), and the variants that number it. The zero Ref is a message of
// no table (a DRQ, a 100 Trying, an error response).
type Ref struct {
	Phase   Phase
	Kind    Kind
	Re      Kind
	Variant Variant
}

// InSetup names a message of the setup (FIG. 5).
func InSetup(k Kind) Ref { return Ref{Phase: Setup, Kind: k} }

// InTeardown names a message of the teardown (FIG. 6).
func InTeardown(k Kind) Ref { return Ref{Phase: Teardown, Kind: k} }

// In returns r in the variants v as well.
func (r Ref) In(v Variant) Ref {
	r.Variant |= v
	return r
}

// Answers returns r as a decision that answers a REQ of kind re: found
// by that REQ, whichever way it decides (Msg.Re).
func (r Ref) Answers(re Kind) Ref {
	r.Re = re
	return r
}

// StepAt returns the step of r when the role me sends it (sent) or
// receives it. The node names only itself: the tables make a message
// unique by one end, but for the clearinghouse's, which serves both sides.
// The media (step 29) runs both ways, so either UA finds it.
func (r Ref) StepAt(me string, sent bool) (Step, bool) {
	if r.Kind == "" {
		return Step{}, false
	}
	m := Msg{Kind: r.Kind, Re: r.Re}
	switch {
	case r.Kind == RTPMedia:
	case sent:
		m.From = me
	default:
		m.To = me
	}
	return Lookup(r.Phase, r.Variant, m)
}
