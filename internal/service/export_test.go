package service

import "sync/atomic"

// CountPasswordChecks counts the passwords s checks at sign-in from now on.
func CountPasswordChecks(s *Service) (count func() int64) {
	var n atomic.Int64
	check := s.checkPassword
	s.checkPassword = func(hash, password string) (bool, bool, error) {
		n.Add(1)
		return check(hash, password)
	}
	return n.Load
}
