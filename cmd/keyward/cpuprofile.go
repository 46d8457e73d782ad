package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startCPUProfile starts a CPU profile of this process into the file
// KEYWARD_CPU_PROFILE names, for measuring the node (keyward-bench
// --external sets it); it returns the function that ends it, and does
// nothing when the variable is unset.
func startCPUProfile() (stop func(), err error) {
	path := os.Getenv("KEYWARD_CPU_PROFILE")
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("KEYWARD_CPU_PROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("KEYWARD_CPU_PROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
