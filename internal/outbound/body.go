package outbound

import (
	"errors"
	"io"
)

// ErrResponseTooLarge is returned by a response body read past
// Config.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("outbound: response body larger than allowed")

// limitedBody yields at most left bytes of rc, then ErrResponseTooLarge.
type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	tooLarge bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, ErrResponseTooLarge
	}
	// Ask for one byte more than allowed, to tell a body of exactly the
	// limit from a longer one.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n = int(b.left)
	b.left = 0
	b.tooLarge = true
	return n, ErrResponseTooLarge
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// drainLimit is how much of an unread body is read and thrown away before
// closing it, so that a short remainder lets the connection be reused and
// a long one is not waited for.
const drainLimit = 64 << 10

// ReadExcerpt reads at most n bytes of body, for a delivery log or an error
// message, then drains a little of the rest and closes body. truncated is
// true when the body held more than n bytes. err is a read error other
// than the end of the body; the bytes read before it are returned.
func ReadExcerpt(body io.ReadCloser, n int64) (excerpt []byte, truncated bool, err error) {
	defer body.Close()
	excerpt, err = io.ReadAll(io.LimitReader(body, n))
	if err != nil {
		if errors.Is(err, ErrResponseTooLarge) {
			return excerpt, true, nil
		}
		return excerpt, false, err
	}
	var one [1]byte
	if k, err := io.ReadFull(body, one[:]); k > 0 || errors.Is(err, ErrResponseTooLarge) {
		truncated = true
	}
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	return excerpt, truncated, nil
}
