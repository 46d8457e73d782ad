package main

import (
	"context"
	"fmt"
	"io"
)

func runKeysCLI(ctx context.Context, cmd string, args []string, out io.Writer) error {
	fmt.Fprint(out, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
