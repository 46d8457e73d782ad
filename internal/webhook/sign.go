// Package webhook sends the events in keyward's outbox to the endpoints
// administrators set up: signed as Standard Webhooks specifies, at least
// once, retried on a schedule, by a dispatcher on every node.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// secretPrefix starts every signing secret; the rest is base64.
const secretPrefix = "whsec_"

// ErrSecret is returned for a signing secret that is not whsec_ followed
// by base64.
var ErrSecret = errors.New("webhook: a signing secret must be whsec_ followed by base64")

// Sign returns the webhook-signature header value for a message: "v1,"
// and the base64 HMAC-SHA256, keyed by each secret, of
// "id.timestamp.body", separated by spaces (one per secret, so that a
// receiver holding either secret during a roll's overlap accepts it).
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	var b strings.Builder
	unix := strconv.FormatInt(ts.Unix(), 10)
	for i, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, secretPrefix))
		if err != nil || !strings.HasPrefix(s, secretPrefix) || len(key) == 0 {
			return "", ErrSecret
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(unix))
		mac.Write([]byte{'.'})
		mac.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String(), nil
}
