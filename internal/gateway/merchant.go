package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/strictjson"
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

// ownership is what the gateway does about record owners for one request
// to an owner-scoped method.
type ownership struct {
	// merchantID is the calling merchant; "" for an API key, whose
	// requests are not scoped but whose answers still teach the gateway
	// who owns a record.
	merchantID string
	kind       string // the method's owner kind
	recordID   string // OwnerRecord: the record the path names
	filter     string // OwnerList: the query parameter forced to the merchant
}

func notFound() *refusal {
	return &refusal{status: http.StatusNotFound, code: string(keyward.ENotFound), detail: "No such record."}
}

// owned applies the catalog's ownership rules to a merchant request that
// the policy allowed. It answers and returns false when the request must
// not go upstream: a record the merchant does not own is answered 404, as
// if it did not exist.
func (p *Proxy) owned(w http.ResponseWriter, res *replica.Result, m *catalog.Method, params catalog.Params) (*ownership, bool) {
	mid := res.Cred.MerchantID()
	switch m.Owner.Kind {
	case catalog.OwnerRecord:
		id := params.Get(m.Owner.Param)
		if owner, ok := p.rep.OwnerOf(res.Tenant.ID, m.Resource, id); !ok || owner != mid {
			p.answer(w, notFound())
			return nil, false
		}
		return &ownership{merchantID: mid, kind: catalog.OwnerRecord, recordID: id}, true
	case catalog.OwnerList:
		return &ownership{merchantID: mid, kind: catalog.OwnerList, filter: m.Owner.Filter}, true
	case catalog.OwnerCreate:
		return &ownership{merchantID: mid, kind: catalog.OwnerCreate}, true
	}
	// A merchant method without ownership rules is refused rather than
	// forwarded unscoped.
	p.problem(w, http.StatusForbidden, keyward.CodeMethodNotAllowed, "This method is not available to merchant credentials.", nil)
	return nil, false
}

func (p *Proxy) answer(w http.ResponseWriter, ref *refusal) {
	p.problem(w, ref.status, ref.code, ref.detail, nil)
}

// scopeBody applies a merchant's ownership to a JSON request body: the
// owner field of a created or updated record is set to the merchant, and
// every reference must name a record the merchant owns.
func (p *Proxy) scopeBody(body []byte, ten *replica.Tenant, m *catalog.Method, own *ownership) ([]byte, *refusal) {
	setOwner := own.kind == catalog.OwnerCreate || own.kind == catalog.OwnerRecord && m.Access == keyward.LevelWrite && len(bytes.TrimSpace(body)) > 0
	if !setOwner && len(m.References) == 0 {
		return body, nil
	}
	obj := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		// The body keyward checks is the body the upstream reads: one
		// that readers could take differently is refused.
		if err := strictjson.Check(body); err != nil {
			return nil, &refusal{status: httpx.Status(keyward.ErrorCode(err)), code: string(keyward.ErrorCode(err)), detail: keyward.ErrorMessage(err)}
		}
		if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
			return nil, invalidBody("The request body must be a JSON object.")
		}
	}
	for _, ref := range m.References {
		raw, present := obj[ref.Field]
		if !present || string(raw) == "null" {
			continue
		}
		id, ok := recordID(raw)
		if !ok {
			return nil, &refusal{status: http.StatusUnprocessableEntity, code: keyward.CodeReferenceNotFound,
				detail: ref.Field + " must name one record by its id."}
		}
		if owner, _ := p.rep.OwnerOf(ten.ID, ref.Resource, id); owner != own.merchantID {
			return nil, &refusal{status: http.StatusUnprocessableEntity, code: keyward.CodeReferenceNotFound,
				detail: ref.Field + " " + strconv.Quote(id) + " does not name one of your " + ref.Resource + "."}
		}
	}
	if !setOwner {
		return body, nil
	}
	v, _ := json.Marshal(own.merchantID)
	obj[m.Owner.Field] = v
	out, _ := json.Marshal(obj)
	return out, nil
}

func invalidBody(detail string) *refusal {
	return &refusal{status: http.StatusBadRequest, code: string(keyward.EInvalid), detail: detail}
}

// recordID reads a record id written as a JSON string or number.
func recordID(raw json.RawMessage) (string, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, v != ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// forceQuery sets name to value in a raw query, removing every value the
// client sent under any name a server could read as name, so a client's
// own filter cannot widen the merchant's.
func forceQuery(raw, name, value string) string {
	var b strings.Builder
	for _, pair := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(pair, "=")
		if same, _ := sameParam(k, name); same {
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

// confirmOwner asks the upstream whose a record is before a merchant
// writes to it: the upstream may have reused the id since the gateway
// recorded its owner. It reads the record with the catalog's method for
// reading it, signed as the merchant, and answers 404, returning false,
// when the upstream has no such record or names another merchant.
func (p *Proxy) confirmOwner(w http.ResponseWriter, r *http.Request, res *replica.Result, rt *route, own *ownership) bool {
	get := p.readers[rt.m]
	if get == nil || !res.Cred.Policy.Decide(get, rt.store, time.Now()).Allowed() {
		return true
	}
	f := p.forwards.Get().(*forward)
	defer func() {
		f.keyID, f.stores, f.merchantID, f.ten, f.m = "", "", "", nil, nil
		p.forwards.Put(f)
	}()
	f.keyID, f.stores, f.merchantID, f.ten, f.m = res.Cred.KeyID, storesValue(&res.Cred), own.merchantID, res.Tenant, get
	u := *r.URL
	u.RawQuery, _ = stripQuery(u.RawQuery)
	out := (&http.Request{Method: http.MethodGet, URL: &u, Header: make(http.Header, 12), Host: r.Host}).WithContext(r.Context())
	(&httputil.ProxyRequest{In: r, Out: out}).SetURL(p.upstream)
	f.identify(out.Header, out, new(headerValues))
	ans, err := p.transport.RoundTrip(out)
	if err != nil {
		p.badGateway(w, r, err)
		return false
	}
	defer ans.Body.Close()
	switch {
	case ans.StatusCode == http.StatusNotFound:
		f.setOwner(r.Context(), own.recordID, "")
		p.answer(w, notFound())
		return false
	case ans.StatusCode < 200 || ans.StatusCode > 299:
		p.problem(w, http.StatusBadGateway, codeBadGateway, "The upstream service could not confirm the record's owner; try again shortly.", nil)
		return false
	}
	var obj map[string]json.RawMessage
	b, err := io.ReadAll(io.LimitReader(ans.Body, maxOwnedBody))
	if err != nil || json.Unmarshal(b, &obj) != nil {
		p.problem(w, http.StatusBadGateway, codeBadGateway, "The upstream service's answer about the record could not be read.", nil)
		return false
	}
	raw, named := obj[rt.m.Owner.Field]
	if !named {
		return true // the upstream does not say; the recorded owner stands
	}
	var owner string
	json.Unmarshal(raw, &owner)
	if owner == own.merchantID {
		return true
	}
	if err := f.setOwner(r.Context(), own.recordID, owner); err != nil {
		p.log.Warn("gateway: recording a record's owner failed", "method", rt.m.ID, "err", err)
	}
	p.answer(w, notFound())
	return false
}

// checkOwner reads the upstream's answer about an owner-scoped record and
// keeps the recorded owner equal to the merchant the answer names. A
// merchant is never handed an answer naming another merchant: it gets 404
// instead.
func (f *forward) checkOwner(res *http.Response) error {
	own, m := f.own, f.m
	ctx := res.Request.Context()
	if own.kind == catalog.OwnerRecord && res.StatusCode == http.StatusNotFound {
		// The upstream no longer has the record.
		return f.setOwner(ctx, own.recordID, "")
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil
	}
	if res.Request.Method == http.MethodDelete && own.kind == catalog.OwnerRecord {
		return f.setOwner(ctx, own.recordID, "")
	}
	if own.kind != catalog.OwnerCreate && own.kind != catalog.OwnerRecord {
		return nil
	}
	if ce := res.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// Asked for none it cannot decode, the upstream used one anyway.
		if own.merchantID == "" {
			return nil
		}
		return fmt.Errorf("the answer about an owner-scoped record is in a content coding the gateway cannot read (%q)", ce)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxOwnedBody+1))
	res.Body.Close()
	if err != nil {
		return err
	}
	if len(b) > maxOwnedBody {
		return errors.New("the answer about an owner-scoped record is too large to check its owner")
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	res.ContentLength = int64(len(b))
	res.Header.Set("Content-Length", strconv.Itoa(len(b)))
	var obj map[string]json.RawMessage
	if len(bytes.TrimSpace(b)) == 0 && own.kind == catalog.OwnerRecord {
		return nil // an empty answer names no owner
	}
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		if own.merchantID == "" {
			return nil // an API key's answer that names no owner
		}
		return fmt.Errorf("the answer about an owner-scoped record is not a JSON object: %v", err)
	}
	id := own.recordID
	if own.kind == catalog.OwnerCreate {
		raw, ok := obj[m.Owner.IDField]
		if id, ok = recordID(raw); !ok {
			return fmt.Errorf("the created record's answer has no %q", m.Owner.IDField)
		}
	}
	raw, named := obj[m.Owner.Field]
	if !named {
		if own.kind == catalog.OwnerCreate {
			// The gateway set the owner field in the body it forwarded.
			return f.setOwner(ctx, id, own.merchantID)
		}
		return nil
	}
	var owner string
	if string(raw) != "null" {
		if err := json.Unmarshal(raw, &owner); err != nil {
			return fmt.Errorf("the answer's %q is not a merchant id", m.Owner.Field)
		}
	}
	if err := f.setOwner(ctx, id, owner); err != nil {
		return err
	}
	if own.merchantID != "" && owner != own.merchantID {
		f.p.log.Warn("gateway: the upstream's answer names another merchant; answered 404",
			"method", m.ID, "record", id, "merchant", own.merchantID)
		replaceAnswer(res, http.StatusNotFound, string(keyward.ENotFound), "No such record.")
	}
	return nil
}

// setOwner records the owner of a record unless the replica already holds
// exactly that.
func (f *forward) setOwner(ctx context.Context, recordID, merchantID string) error {
	if recordID == "" {
		return nil
	}
	if cur, _ := f.p.rep.OwnerOf(f.ten.ID, f.m.Resource, recordID); cur == merchantID {
		return nil
	}
	return f.p.rep.SetOwner(ctx, f.ten.ID, f.m.Resource, recordID, merchantID)
}

// replaceAnswer turns an upstream answer into a problem of the gateway's,
// keeping nothing of the upstream's headers or body.
func replaceAnswer(res *http.Response, status int, code, detail string) {
	b, _ := json.Marshal(httpx.Problem{
		Type: problemType + strings.ToLower(code), Title: http.StatusText(status), Status: status, Detail: detail, Code: code,
	})
	res.StatusCode, res.Status = status, strconv.Itoa(status)+" "+http.StatusText(status)
	res.Header = http.Header{"Content-Type": {"application/problem+json"}, "Content-Length": {strconv.Itoa(len(b))}}
	res.Body = io.NopCloser(bytes.NewReader(b))
	res.ContentLength = int64(len(b))
}
