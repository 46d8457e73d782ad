package gateway

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// outbound is what one relayed request needs beyond its pooled forward
// and header map: the request sent upstream, its URL, the values of the
// headers the gateway sets and its 1xx hook, in one allocation. It is not
// pooled: after a timeout the Transport's read loop may still call the
// 1xx hook, and it keeps the request until the answer's body is read.
type outbound struct {
	req   http.Request
	url   url.URL
	vals  headerValues
	early early
}

// early passes the upstream's 1xx answers (100 Continue, 103 Early Hints)
// on to the client until the final answer has come.
type early struct {
	mu    sync.Mutex
	done  bool
	w     http.ResponseWriter
	trace httptrace.ClientTrace
}

func (e *early) got1xx(code int, h textproto.MIMEHeader) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return nil
	}
	// A 1xx answer carries its own headers alone; those set for the final
	// answer (its request id) wait for it.
	dst := e.w.Header()
	kept := maps.Clone(dst)
	clear(dst)
	copyEndToEnd(dst, http.Header(h))
	e.w.WriteHeader(code)
	clear(dst)
	maps.Copy(dst, kept)
	return nil
}

// finish stops 1xx answers reaching the client: the final one has come, or
// none will.
func (e *early) finish() {
	e.mu.Lock()
	e.done = true
	e.mu.Unlock()
}

// heldHeader is a pooled outbound header map. The Transport reads it in
// RoundTrip and while it writes the request, which may go on after the
// answer has come (an upstream may answer before reading the request) or
// after RoundTrip gave up (a response header timeout). So the map returns
// to the pool only when its last reader lets go: the relay, once the answer
// is passed on, and each write the Transport starts, from the connection
// it reports (httptrace GotConn, before the write) to the end of the write
// it reports (WroteRequest, whether it failed or not). A retry is a new
// connection and a new write. A write whose end is never reported keeps
// the map out of the pool for the collector to free. Only net/http's
// Transport is known to report both; with any other RoundTripper, which
// may keep the request, the map is not pooled (see pooledTransport).
type heldHeader struct {
	h       http.Header
	refs    atomic.Int32
	pool    *sync.Pool
	gotConn func(httptrace.GotConnInfo)
	wrote   func(httptrace.WroteRequestInfo)
}

// pooledHeaderSize is the room of a pooled outbound header map: requests
// needing more get a map of their own.
const pooledHeaderSize = 24

// pooledTransport reports whether t is net/http's Transport, possibly
// timed, whose outbound header maps can be pooled.
func pooledTransport(t http.RoundTripper) bool {
	if tt, ok := t.(timedTransport); ok {
		t = tt.next
	}
	_, ok := t.(*http.Transport)
	return ok
}

// heldHeader returns an empty pooled header map held once, by the caller.
func (p *Proxy) heldHeader() *heldHeader {
	hh, _ := p.headers.Get().(*heldHeader)
	if hh == nil {
		hh = &heldHeader{h: make(http.Header, pooledHeaderSize), pool: &p.headers}
		// Bound once, so that the hooks cost a request nothing.
		hh.gotConn = func(httptrace.GotConnInfo) { hh.refs.Add(1) }
		hh.wrote = func(httptrace.WroteRequestInfo) { hh.release() }
	}
	hh.refs.Store(1)
	return hh
}

// release lets go of the map; the last to let go returns it to the pool.
func (hh *heldHeader) release() {
	if hh.refs.Add(-1) == 0 {
		clear(hh.h)
		hh.pool.Put(hh)
	}
}

// relay carries in upstream and the answer back: what httputil.ReverseProxy
// does for a request that upgrades no connection, without copying the
// request twice or parsing the answer's media type. Upgrades go through
// ReverseProxy (see forward). TestGatewayKeepsHTTPSemantics holds both to
// the same behaviour: hop-by-hop headers, trailers, streaming, 1xx answers
// and cancellation.
func (f *forward) relay(w http.ResponseWriter, in *http.Request) {
	o := new(outbound)
	o.early.w = w
	o.early.trace.Got1xxResponse = o.early.got1xx
	var h http.Header
	if n := f.outboundSize(in.Header); f.p.poolHeaders && n <= pooledHeaderSize {
		hh := f.p.heldHeader()
		defer hh.release()
		// Set before WithClientTrace, which composes them with any
		// trace the context holds already.
		o.early.trace.GotConn, o.early.trace.WroteRequest = hh.gotConn, hh.wrote
		h = hh.h
	} else {
		h = make(http.Header, n)
	}
	o.req = *in.WithContext(httptrace.WithClientTrace(in.Context(), &o.early.trace))
	out := &o.req
	o.url = *in.URL
	o.url.RawQuery = cleanQuery(o.url.RawQuery)
	out.URL = &o.url
	out.RequestURI, out.Close = "", false
	if in.ContentLength == 0 {
		out.Body = nil // lets the Transport retry on a reused connection
	} else if out.Body != nil {
		// The Transport closes a body it could not send; the client's own
		// must stay open for the server.
		out.Body = noCloseBody{out.Body}
	}
	copyEndToEnd(h, in.Header)
	for _, name := range forwardingHeaders {
		delete(h, name)
	}
	if headerHasToken(in.Header["Te"], "trailers") {
		o.vals[vTE] = "trailers"
		h["Te"] = o.vals.one(vTE)
	}
	f.build(&httputil.ProxyRequest{In: in, Out: out}, h, &o.vals)

	res, err := f.p.transport.RoundTrip(out)
	o.early.finish()
	if err != nil {
		f.p.badGateway(w, out, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// Only ReverseProxy, for a request that asked, opens a tunnel.
		res.Body.Close()
		f.p.badGateway(w, out, errors.New("the upstream switched protocols on a request that asked for no upgrade"))
		return
	}
	if err := f.modifyResponse(res); err != nil {
		res.Body.Close()
		f.p.badGateway(w, out, err)
		return
	}
	dst := w.Header()
	copyEndToEnd(dst, res.Header)
	announced := len(res.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range res.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = append(dst["Trailer"], strings.Join(names, ", "))
	}
	w.WriteHeader(res.StatusCode)
	if err := f.copyAnswer(in.Context(), w, res); err != nil {
		res.Body.Close()
		// The client must not take a cut answer for a whole one.
		panic(http.ErrAbortHandler)
	}
	res.Body.Close() // fills res.Trailer
	if len(res.Trailer) == 0 {
		return
	}
	// Trailers need a chunked answer, even for a short body.
	http.NewResponseController(w).Flush()
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			dst[k] = append(dst[k], vv...)
		}
		return
	}
	for k, vv := range res.Trailer {
		dst[http.TrailerPrefix+k] = append(dst[http.TrailerPrefix+k], vv...)
	}
}

// copyAnswer copies the answer's body to w through a pooled buffer. A
// streamed answer (no length, or server-sent events) is flushed at once
// and after every write, so nothing waits in the gateway.
func (f *forward) copyAnswer(ctx context.Context, w http.ResponseWriter, res *http.Response) error {
	var rc *http.ResponseController
	if res.ContentLength == -1 || isEventStream(res.Header["Content-Type"]) {
		rc = http.NewResponseController(w)
		rc.Flush()
	}
	buf := f.p.bufs.Get()
	defer f.p.bufs.Put(buf)
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if rc != nil {
				rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if ctx.Err() == nil {
				f.p.log.Warn("upstream answer cut short", "err", rerr)
			}
			return rerr
		}
	}
}

// isEventStream reports whether a Content-Type is text/event-stream, with
// or without parameters.
func isEventStream(vals []string) bool {
	if len(vals) == 0 {
		return false
	}
	v := strings.TrimSpace(vals[0])
	const es = "text/event-stream"
	if len(v) < len(es) || !strings.EqualFold(v[:len(es)], es) {
		return false
	}
	rest := strings.TrimSpace(v[len(es):])
	return rest == "" || rest[0] == ';'
}

// hopByHop are the headers that belong to one connection (RFC 9110,
// section 7.6.1), as ReverseProxy removes them.
var hopByHop = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// forwardingHeaders are the client's claims about earlier hops, replaced by
// the gateway's own (setForwarded), and the other headers servers read a
// client's address from: the upstream learns the client from
// X-Forwarded-For alone, which the gateway builds behind --trusted-proxies.
var forwardingHeaders = [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
	"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Client-Ip", "X-Cluster-Client-Ip", "X-Originating-Ip"}

// copyEndToEnd adds the headers of src to dst but for the hop-by-hop ones
// and those src's Connection header names. Values of a name dst lacks are
// shared, not copied: neither header map is changed in place afterwards.
func copyEndToEnd(dst, src http.Header) {
	named := src["Connection"]
	for k, vv := range src {
		if isHopByHop(k) || (named != nil && headerHasToken(named, k)) {
			continue
		}
		if have, ok := dst[k]; ok {
			dst[k] = append(have, vv...)
		} else {
			dst[k] = vv
		}
	}
}

func isHopByHop(name string) bool {
	for _, h := range hopByHop {
		if name == h {
			return true
		}
	}
	return false
}

// cleanQuery drops the query parameters Go's url.ParseQuery cannot read
// (a ";" or a bad escape), as ReverseProxy does, so that the upstream and
// the signature see one reading of the query.
func cleanQuery(s string) string {
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencodeQuery(s)
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return reencodeQuery(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func reencodeQuery(s string) string {
	v, _ := url.ParseQuery(s)
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// noCloseBody keeps the Transport from closing the client's request body.
type noCloseBody struct{ io.Reader }

func (noCloseBody) Close() error { return nil }
