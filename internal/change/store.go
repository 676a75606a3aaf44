package change

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// StateFile and AbortFile are the store's files in the stack's state
// folder.
const (
	StateFile = "state.json"
	// AbortFile is where `rollback` asks the command running a release to
	// abort it: that command holds the stack's lock, and looks for the file
	// while it waits.
	AbortFile = "abort-release"
)

// State is what the state file holds.
type State struct {
	// Change is the change under way: one a command is making now, or one
	// a killed command left.
	Change *Change `json:"change,omitempty"`
	// Previous is the build a completed release replaced, which `rollback`
	// returns to.
	Previous *manifest.Build `json:"previous,omitempty"`
}

func (st State) empty() bool { return st.Change == nil && st.Previous == nil }

// Store keeps the state of a stack's changes in its state folder, written
// atomically, so that the next command sees one that was killed half-way.
// The manifest stays the operator's desired state and is never used as a
// progress log.
type Store struct{ dir string }

// NewStore is the store in the state folder dir.
func NewStore(dir string) *Store { return &Store{dir: dir} }

// Path is the state file's path.
func (s *Store) Path() string { return filepath.Join(s.dir, StateFile) }

// Load reads the state; none is an empty state.
func (s *Store) Load() (State, error) {
	var st State
	data, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w", s.Path(), err)
	}
	if st.Change == nil {
		st.Change, err = legacyChange(data)
	}
	return st, err
}

// Save writes st whole; an empty state removes the file.
func (s *Store) Save(st State) error {
	if st.empty() {
		return removeIfThere(s.Path())
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.Path(), append(data, '\n'), 0o644)
}

// Update changes the state with edit, keeping what it does not touch.
func (s *Store) Update(edit func(*State)) error {
	st, err := s.Load()
	if err != nil {
		return err
	}
	edit(&st)
	return s.Save(st)
}

// Set records the change under way (nil: none).
func (s *Store) Set(c *Change) error { return s.Update(func(st *State) { st.Change = c }) }

// Under returns the change under way, nil when none (or when the state
// cannot be read: the caller that must act on it reads it with Load).
func (s *Store) Under() *Change {
	st, err := s.Load()
	if err != nil {
		return nil
	}
	return st.Change
}

// RequestAbort asks the release under way to abort; by says who asks.
func (s *Store) RequestAbort(by string) error {
	return os.WriteFile(filepath.Join(s.dir, AbortFile), []byte(by+"\n"), 0o644)
}

// AbortRequested reports whether a rollback asked the release to abort.
func (s *Store) AbortRequested() bool {
	_, err := os.Stat(filepath.Join(s.dir, AbortFile))
	return err == nil
}

// ClearAbort forgets an abort request.
func (s *Store) ClearAbort() error { return removeIfThere(filepath.Join(s.dir, AbortFile)) }

// removeIfThere removes the file at path; one that is not there is fine.
func removeIfThere(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// legacyChange reads the change a SwiftDeploy before the change engine
// recorded, as a "switch" or a "release", so that one it left half-done is
// still finished or undone after an upgrade.
func legacyChange(data []byte) (*Change, error) {
	var old struct {
		Switch *struct {
			Action, From, To, Phase string
			FromVersion             string `json:"from_version"`
			ToVersion               string `json:"to_version"`
			PID                     int
			Started                 json.RawMessage
			Old, New                []string
		}
		Release *struct {
			Strategy            string
			From, To            manifest.Build
			Steps               []int
			Step, Weight        int
			Sticky              bool
			Phase               string
			PID                 int
			Started             json.RawMessage
			Stable, Canary, New []string
		}
	}
	if err := json.Unmarshal(data, &old); err != nil {
		return nil, err
	}
	var c *Change
	switch {
	case old.Release != nil:
		r := old.Release
		c = &Change{Action: Release, Strategy: manifest.StrategyCanary, From: Side{r.From, manifest.ModeStable}, To: Side{r.To, manifest.ModeStable},
			Phase: Phase(r.Phase), Steps: r.Steps, Step: r.Step, Weight: r.Weight, Sticky: r.Sticky, PID: r.PID, Old: r.Stable, Canary: r.Canary, New: r.New}
		_ = json.Unmarshal(r.Started, &c.Started)
	case old.Switch != nil:
		w := old.Switch
		c = &Change{Action: w.Action, Strategy: manifest.StrategySwitch, From: Side{manifest.Build{Version: w.FromVersion}, w.From},
			To: Side{manifest.Build{Version: w.ToVersion}, w.To}, Phase: Phase(w.Phase), PID: w.PID, Old: w.Old, New: w.New}
		_ = json.Unmarshal(w.Started, &c.Started)
	}
	return c, nil
}
