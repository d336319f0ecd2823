package topology

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// State is what a lab leaves in its run directory (lab.json): enough for
// `status`, `exec`, `down` and the verifier, from any later process.
type State struct {
	Lab        string         `json:"lab"`
	Spec       string         `json:"spec"`  // where the topology came from
	Phase      string         `json:"phase"` // PhaseBuilding, PhaseUp, PhaseKept
	Created    time.Time      `json:"created"`
	Downed     time.Time      `json:"downed,omitzero"` // when `down --keep` took it down
	Plan       *Plan          `json:"plan"`
	CapturePID int            `json:"capture_pid,omitempty"`
	NodePIDs   map[string]int `json:"node_pids,omitempty"`
}

const stateFile = "lab.json"

// Phases of a lab as lab.json records them.
const (
	PhaseBuilding = "building" // `up` is running (or crashed)
	PhaseUp       = "up"
	// PhaseKept: taken down with --keep. The run directory holds what
	// the lab left (captures, logs, usage records) and no namespace,
	// process or kernel object remains.
	PhaseKept = "down, kept"
)

func writeState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("topology: encode lab state: %w", err)
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("topology: write lab state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("topology: write lab state: %w", err)
	}
	return nil
}

// ReadState loads the state of a lab from its run directory.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("topology: lab state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("topology: lab state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}
