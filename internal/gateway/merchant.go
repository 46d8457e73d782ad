package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/secret"
)

// Merchant credential headers, the alternative to HTTP Basic.
const (
	HeaderAccountID = "X-Account-Id"
	HeaderAuthKey   = "X-Auth-Key"
)

// maxOwnedBody bounds the request and answer bodies the gateway reads to
// set and record a record's owner.
const maxOwnedBody = 1 << 20

// merchantCredential returns merchant credentials from HTTP Basic (account
// id as user name, auth key as password) or the X-Account-Id and
// X-Auth-Key headers. Only a merchant key (kwm_…) counts, so a Basic
// header meant for the upstream passes untouched.
func merchantCredential(r *http.Request) (accountID, authKey string, ok bool) {
	if id, key, ok := r.BasicAuth(); ok && strings.HasPrefix(key, secret.KindMerchantKey.Prefix()) {
		return id, key, true
	}
	id, key := r.Header.Get(HeaderAccountID), r.Header.Get(HeaderAuthKey)
	return id, key, id != "" && key != ""
}

// stripMerchantHeaders removes merchant credentials from an outbound request.
func stripMerchantHeaders(h http.Header) {
	for name, vals := range h {
		switch {
		case equalHeader(name, "x-auth-key"), equalHeader(name, "x-account-id"):
			delete(h, name)
		case name == "Authorization":
			for _, v := range vals {
				if isMerchantBasic(v) {
					delete(h, name)
					break
				}
			}
		}
	}
}

// isMerchantBasic reports whether an Authorization value is HTTP Basic
// carrying a merchant key.
func isMerchantBasic(v string) bool {
	if len(v) <= 6 || !strings.EqualFold(v[:6], "basic ") {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[6:]))
	if err != nil {
		return false
	}
	_, pw, _ := strings.Cut(string(b), ":")
	return strings.HasPrefix(pw, secret.KindMerchantKey.Prefix())
}

// ownership is what the gateway does for a merchant's request to an
// owner-scoped method.
type ownership struct {
	merchantID string
	filter     string // list: the query parameter forced to the merchant
	create     bool   // create: record the new record's owner from the answer
}

// owned applies the catalog's ownership rules to a merchant request that
// the policy allowed. It answers and returns false when the request must
// not go upstream: a record the merchant does not own is answered 404, as
// if it did not exist.
func (p *Proxy) owned(w http.ResponseWriter, r *http.Request, res *replica.Result, m *catalog.Method, params catalog.Params) (*ownership, bool) {
	mid := res.Cred.MerchantID()
	switch m.Owner.Kind {
	case catalog.OwnerRecord:
		param := m.Owner.Param
		if param == "" {
			param = "id"
		}
		owner, ok := p.rep.OwnerOf(res.Tenant.ID, m.Resource, params.Get(param))
		if !ok || owner != mid {
			p.problem(w, http.StatusNotFound, string(keyward.ENotFound), "No such record.", nil)
			return nil, false
		}
		return nil, true
	case catalog.OwnerList:
		f := m.Owner.Filter
		if f == "" {
			f = "merchant_id"
		}
		return &ownership{merchantID: mid, filter: f}, true
	case catalog.OwnerCreate:
		if err := setOwnerInBody(r, ownerField(m), mid); err != nil {
			p.problem(w, http.StatusBadRequest, string(keyward.EInvalid), err.Error(), nil)
			return nil, false
		}
		return &ownership{merchantID: mid, create: true}, true
	}
	// A merchant method without ownership rules is refused rather than
	// forwarded unscoped.
	p.problem(w, http.StatusForbidden, keyward.CodeMethodNotAllowed, "This method is not available to merchant credentials.", nil)
	return nil, false
}

func ownerField(m *catalog.Method) string {
	if m.Owner.Filter != "" {
		return m.Owner.Filter
	}
	return "merchant_id"
}

// setOwnerInBody sets the owner field of a JSON object body, replacing
// whatever the client sent.
func setOwnerInBody(r *http.Request, field, merchantID string) error {
	obj := map[string]json.RawMessage{}
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxOwnedBody+1))
		r.Body.Close()
		if err != nil {
			return errors.New("The request body could not be read.")
		}
		if len(b) > maxOwnedBody {
			return errors.New("The request body is larger than 1 MiB.")
		}
		if len(bytes.TrimSpace(b)) > 0 {
			if err := json.Unmarshal(b, &obj); err != nil {
				return errors.New("The request body must be a JSON object.")
			}
		}
	}
	v, _ := json.Marshal(merchantID)
	obj[field] = v
	b, _ := json.Marshal(obj)
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Del("Content-Encoding")
	return nil
}

// forceQuery sets name to value in a raw query, removing every value the
// client sent, so a client's own filter cannot widen the merchant's.
func forceQuery(raw, name, value string) string {
	var b strings.Builder
	for _, pair := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		b.WriteString(pair)
		b.WriteByte('&')
	}
	b.WriteString(url.QueryEscape(name))
	b.WriteByte('=')
	b.WriteString(url.QueryEscape(value))
	return b.String()
}

// recordOwner reads the id of a record a merchant created from the
// upstream's answer and records the merchant as its owner before the
// answer goes back.
func (f *forward) recordOwner(res *http.Response) error {
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxOwnedBody+1))
	res.Body.Close()
	if err != nil {
		return err
	}
	if len(b) > maxOwnedBody {
		return errors.New("created record's answer is too large to read its id")
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	res.ContentLength = int64(len(b))
	res.Header.Set("Content-Length", strconv.Itoa(len(b)))
	field := f.m.Owner.IDField
	if field == "" {
		field = "id"
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("created record's answer is not a JSON object: %w", err)
	}
	var id string
	switch v := obj[field].(type) {
	case string:
		id = v
	case float64:
		id = strconv.FormatFloat(v, 'f', -1, 64)
	}
	if id == "" {
		return fmt.Errorf("created record's answer has no %q", field)
	}
	return f.p.rep.RecordOwner(res.Request.Context(), f.ten.ID, f.m.Resource, id, f.own.merchantID)
}
