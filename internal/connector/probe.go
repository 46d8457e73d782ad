package connector

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/outbound"
)

// maxProbeBody is the most of an answer a probe reads.
const maxProbeBody = 256 << 10

// prober runs one check.
type prober struct {
	ctx context.Context
	d   Doer
	c   *Creds
	t   *Type
	now time.Time
}

// answer is one response of the system, read whole (up to maxProbeBody).
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (a answer) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// html reports whether the body is an HTML page rather than the API's JSON.
func (a answer) html() bool {
	ct := strings.ToLower(a.header.Get("Content-Type"))
	if strings.Contains(ct, "html") {
		return true
	}
	b := bytes.ToLower(bytes.TrimSpace(a.body))
	return bytes.HasPrefix(b, []byte("<!doctype html")) || bytes.HasPrefix(b, []byte("<html"))
}

// decode reads the body as JSON into v; false for HTML or malformed bodies.
func (a answer) decode(v any) bool {
	if a.html() || len(a.body) == 0 {
		return false
	}
	return json.Unmarshal(a.body, v) == nil
}

// get sends a GET to path (relative to the API URL) with the type's
// credentials.
func (p *prober) get(path string) answer {
	return p.send(http.MethodGet, path, nil, nil, true)
}

// send sends a request to the API URL joined with path (an absolute URL
// is used as it is); auth adds the type's credentials; set may change the
// request further.
func (p *prober) send(method, path string, body []byte, set func(*http.Request), auth bool) answer {
	target := path
	if !strings.HasPrefix(path, "https://") && !strings.HasPrefix(path, "http://") {
		target = p.c.APIURL + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(p.ctx, method, target, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Accept", "application/json")
	if auth {
		p.t.Authorize(req, *p.c)
	}
	if set != nil {
		set(req)
	}
	resp, err := p.d.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil && !errors.Is(err, outbound.ErrResponseTooLarge) {
		return answer{status: resp.StatusCode, header: resp.Header, err: err}
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// result makes a result of an outcome and a sentence.
func result(o keyward.Outcome, status int, format string, args ...any) Result {
	return Result{Verification: keyward.Verification{Outcome: o, HTTPStatus: status, Message: fmt.Sprintf(format, args...)}}
}

// common classifies what every system answers alike: no answer, rate
// limiting, server errors, a missing page, and an HTML page where JSON was
// expected. It returns false when the type must decide.
func (p *prober) common(a answer) (Result, bool) {
	name := p.t.Name
	switch {
	case a.err != nil:
		return networkResult(name, a.err), true
	case a.status == http.StatusTooManyRequests:
		return p.rateLimited(a, retryAfter(a.header, p.now)), true
	case a.status >= 500:
		return result(keyward.OutcomeUpstreamError, a.status, "%s answered with an error of its own (HTTP %d). This is on %s's side; try again later.", name, a.status, name), true
	case a.status == http.StatusNotFound:
		return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not lead to a %s API: the address answered \"not found\". Check the API URL and the account details.", name), true
	case a.status >= 200 && a.status < 300 && a.html():
		return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL answers with a web page, not the %s API. Check that it is the API address, not the shop's storefront.", name), true
	case a.status >= 300 && a.status < 400:
		return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL redirects elsewhere (HTTP %d). Enter the address the redirect leads to, or check the API URL.", a.status), true
	}
	return Result{}, false
}

// rateLimited is the rate_limited result for a wait of secs seconds.
func (p *prober) rateLimited(a answer, secs int) Result {
	r := result(keyward.OutcomeRateLimited, a.status, "%s is limiting requests from these credentials right now. Try again in %d seconds.", p.t.Name, secs)
	r.RetryAfter = secs
	return r
}

// unexpected is the result for a status the type does not know.
func (p *prober) unexpected(a answer) Result {
	return result(keyward.OutcomeUpstreamError, a.status, "%s gave an answer keyward does not recognise (HTTP %d). Check the API URL, then try again later.", p.t.Name, a.status)
}

// networkResult classifies a request that got no answer.
func networkResult(name string, err error) Result {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, outbound.ErrForbiddenAddress) || errors.Is(err, outbound.ErrForbiddenURL):
		return result(keyward.OutcomeNotFoundOrWrongHost, 0, "keyward may not call this API URL: it leads to a private or reserved network address, or is not an https:// address. Enter the system's public API address.")
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return result(keyward.OutcomeNotFoundOrWrongHost, 0, "The API URL's host name does not exist. Check the API URL for typing errors.")
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr):
		return result(keyward.OutcomeNetworkError, 0, "The %s server's certificate could not be verified, so nothing was sent. Check the API URL; if it is right, the server's certificate is wrong.", name)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return result(keyward.OutcomeNetworkError, 0, "%s did not answer in time. Check the API URL, then try again.", name)
	}
	return result(keyward.OutcomeNetworkError, 0, "keyward could not reach %s at the API URL. Check the address, then try again.", name)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryAfter reads Retry-After (seconds, possibly fractional, or an HTTP
// date) as whole seconds from 1 to a day; 60 when it is absent or unreadable.
func retryAfter(h http.Header, now time.Time) int {
	return ParseRetryAfter(h.Get("Retry-After"), now)
}

// ParseRetryAfter reads a Retry-After value as whole seconds, rounded up,
// from 1 to 86400; 60 when it is empty or unreadable.
func ParseRetryAfter(v string, now time.Time) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 60
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return clampSeconds(math.Ceil(f))
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampSeconds(math.Ceil(t.Sub(now).Seconds()))
	}
	return 60
}

func clampSeconds(f float64) int {
	switch {
	case f < 1:
		return 1
	case f > 86400:
		return 86400
	}
	return int(f)
}

// defaultMessage is the sentence for an outcome a probe gave none for.
func defaultMessage(name string, o keyward.Outcome) string {
	switch o {
	case keyward.OutcomeOK:
		return "The credentials work: " + name + " accepted them."
	case keyward.OutcomeInvalidCredentials:
		return name + " refused the credentials: they are wrong, revoked or expired. Copy them again from " + name + "."
	case keyward.OutcomeInsufficientScope:
		return "The credentials work, but lack permissions this connection needs. Grant them in " + name + ", then verify again."
	case keyward.OutcomeAccountLocked:
		return "The " + name + " account is locked, closed or unpaid. Its owner must settle it with " + name + "."
	}
	return "The check of the connection failed."
}

// ParseAPIURL checks an API URL: absolute http or https, a host, no user
// information, query or fragment. It returns it without a trailing slash.
func ParseAPIURL(s string) (string, error) {
	if len(s) > 2000 {
		return "", errors.New("must be at most 2000 characters")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return "", errors.New("must be an absolute https:// address such as https://mystore.example.com")
	}
	if u.User != nil {
		return "", errors.New("must not hold a user name or password; enter credentials in their own fields")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", errors.New("must not hold a query (?…) or a fragment (#…)")
	}
	u.Host = strings.ToLower(u.Host)
	return strings.TrimRight(u.String(), "/"), nil
}

// printable refuses control characters and invalid UTF-8.
func printable(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("must be UTF-8 text")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("must not contain control characters such as line breaks")
		}
	}
	return nil
}

// URLChecker is what CheckURL needs of the outbound client.
type URLChecker interface {
	CheckURL(*url.URL) error
}

// CheckURL applies the outbound policy to an API URL when it is saved; the
// error's text is a reason fit for the person who typed it.
func CheckURL(c URLChecker, apiURL string) error {
	u, err := url.Parse(apiURL)
	if err != nil {
		return errors.New("it is not a URL")
	}
	if err := c.CheckURL(u); err != nil {
		var ue *outbound.URLError
		if errors.As(err, &ue) {
			return errors.New(ue.Reason)
		}
		return errors.New("keyward may not call this address")
	}
	return nil
}
