package service

import (
	"sync/atomic"

	"github.com/keyward/keyward/internal/secret"
)

// CountPasswordChecks counts the passwords checked from now on, until
// restore is called.
func CountPasswordChecks() (count func() int64, restore func()) {
	var n atomic.Int64
	checkPassword = func(hash, password string) (bool, bool, error) {
		n.Add(1)
		return secret.CheckPassword(hash, password)
	}
	return n.Load, func() { checkPassword = secret.CheckPassword }
}
