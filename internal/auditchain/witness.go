package auditchain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// WitnessHead is the newest checkpoint a node wrote for one chain, as kept
// outside the database: someone who can write the database but not this
// file cannot remove that checkpoint, or the checkpoints and entries
// after it, without verification noticing.
type WitnessHead struct {
	Number int64     `json:"number"`
	Seq    int64     `json:"seq"`
	Digest string    `json:"digest"`
	At     time.Time `json:"at"`
}

// FileWitness keeps each chain's WitnessHead in a JSON file, normally
// audit-head.json in the node's data directory beside master.key. It only
// ever moves forward: a head with a lower number than the one kept is
// ignored.
type FileWitness struct {
	Path string
	mu   sync.Mutex
}

// witnessFile is the file's content.
type witnessFile struct {
	Version int                    `json:"version"`
	Chains  map[string]WitnessHead `json:"chains"`
}

// Heads returns the kept heads by chain; nil when the file does not
// exist (yet, or any more).
func (w *FileWitness) Heads() (map[string]WitnessHead, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.read()
}

func (w *FileWitness) read() (map[string]WitnessHead, error) {
	b, err := os.ReadFile(w.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f witnessFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("audit witness %s is not readable: restore it from a copy, or move it away to start a new one", w.Path)
	}
	if f.Chains == nil {
		f.Chains = map[string]WitnessHead{}
	}
	return f.Chains, nil
}

// Record keeps heads whose number is above the one kept for their chain,
// replacing the file atomically.
func (w *FileWitness) Record(heads map[string]WitnessHead) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	kept, err := w.read()
	if err != nil {
		return err
	}
	if kept == nil {
		kept = map[string]WitnessHead{}
	}
	changed := false
	for chain, h := range heads {
		if h.Number > kept[chain].Number {
			kept[chain] = h
			changed = true
		}
	}
	if !changed {
		return nil
	}
	b, err := json.MarshalIndent(witnessFile{Version: 1, Chains: kept}, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(w.Path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(w.Path), ".audit-head-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), w.Path)
}
