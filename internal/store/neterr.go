package store

import (
	"errors"
	"io"
	"net"
	"syscall"
)

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// errUnreachable marks a database that did not answer when opened.
type errUnreachable struct{ error }

func (e errUnreachable) Unwrap() error { return e.error }

// IsUnreachable reports whether err says the database did not answer when
// opened, so that trying again later may succeed.
func IsUnreachable(err error) bool {
	var u errUnreachable
	return errors.As(err, &u)
}
