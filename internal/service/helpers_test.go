package service_test

import (
	"errors"

	"github.com/keyward/keyward"
)

func asError(err error, e **keyward.Error) bool { return errors.As(err, e) }
