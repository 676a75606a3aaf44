package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// stateFile keeps a change to the stack while it is under way, so that the
// next command sees one that was killed half-way. The manifest stays the
// operator's desired state and is never used as a progress log.
var stateFile = filepath.Join(StateDir, "state.json")

// Phases of a switch, in order.
const (
	phaseStarting = "starting" // the new app may run, nginx still sends everything to the old one
	phaseMoved    = "moved"    // nginx sends everything to the new app; the old one may still run
)

// Switch is a promote or rollback under way.
type Switch struct {
	Action  string    `json:"action"` // promote or rollback
	From    string    `json:"from"`   // the mode before
	To      string    `json:"to"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Phase   string    `json:"phase"`
	// FromVersion and ToVersion say which builds a switch moves between,
	// when it changes the build (a release by switch, a rollback to the
	// previous build); empty for a change of mode.
	FromVersion string   `json:"from_version,omitempty"`
	ToVersion   string   `json:"to_version,omitempty"`
	Old         []string `json:"old"` // the instances serving before
	New         []string `json:"new"` // the instances it started
}

func (w Switch) String() string {
	return fmt.Sprintf("%s %s → %s (pid %d, started %s UTC, %s)", w.Action, w.From, w.To, w.PID, w.Started.UTC().Format("15:04:05"), w.Phase)
}

// State is what .swiftdeploy/state.json holds.
type State struct {
	Switch  *Switch  `json:"switch,omitempty"`
	Release *Release `json:"release,omitempty"`
	// Previous is the build a completed release replaced, which `rollback`
	// returns to.
	Previous *manifest.Build `json:"previous,omitempty"`
}

// empty reports whether st records nothing.
func (st State) empty() bool { return st.Switch == nil && st.Release == nil && st.Previous == nil }

func (s *Stack) loadState() (State, error) {
	var st State
	data, err := os.ReadFile(s.path(stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w", stateFile, err)
	}
	return st, nil
}

func (s *Stack) saveState(st State) error {
	if st.empty() {
		return removeIfThere(s.path(stateFile))
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(stateFile), append(data, '\n'), 0o644)
}

// updateState changes the state file with change, keeping what it does not
// touch.
func (s *Stack) updateState(change func(*State)) error {
	st, err := s.loadState()
	if err != nil {
		return err
	}
	change(&st)
	return s.saveState(st)
}

// setSwitch records the switch under way (nil: none).
func (s *Stack) setSwitch(sw *Switch) error {
	return s.updateState(func(st *State) { st.Switch = sw })
}
