package catalog

import (
	"strings"
)

// Params holds the path parameters of a match. Values are substrings of the
// matched path; no allocation is needed to fill it.
type Params struct {
	n      int
	names  [MaxParams]string
	values [MaxParams]string
}

// Get returns the value of the named parameter, or "".
func (p Params) Get(name string) string {
	for i := 0; i < p.n; i++ {
		if p.names[i] == name {
			return p.values[i]
		}
	}
	return ""
}

// Len returns the number of parameters.
func (p Params) Len() int { return p.n }

// At returns the name and value of the i-th parameter in path order.
func (p Params) At(i int) (name, value string) { return p.names[i], p.values[i] }

// litMapMin is the number of literal children from which a node switches
// from a linear scan to a map.
const litMapMin = 8

type node struct {
	seg     string
	lits    []*node
	litMap  map[string]*node
	param   *node
	methods []*Method // by HTTP method, at the end of a pattern
}

// insert adds m under its path and returns the method already registered
// for the same HTTP method and pattern, if any.
func (n *node) insert(m *Method) *Method {
	rest := strings.TrimSuffix(m.Path[1:], "/")
	for rest != "" {
		seg := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if strings.HasPrefix(seg, "{") {
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			continue
		}
		var next *node
		for _, c := range n.lits {
			if c.seg == seg {
				next = c
				break
			}
		}
		if next == nil {
			next = &node{seg: seg}
			n.lits = append(n.lits, next)
		}
		n = next
	}
	for _, prev := range n.methods {
		if prev.HTTPMethod == m.HTTPMethod {
			return prev
		}
	}
	n.methods = append(n.methods, m)
	return nil
}

// freeze indexes wide nodes by map once the trie is complete.
func (n *node) freeze() {
	if len(n.lits) >= litMapMin {
		n.litMap = make(map[string]*node, len(n.lits))
		for _, c := range n.lits {
			n.litMap[c.seg] = c
		}
	}
	for _, c := range n.lits {
		c.freeze()
	}
	if n.param != nil {
		n.param.freeze()
	}
}

func (n *node) child(seg string) *node {
	if n.litMap != nil {
		return n.litMap[seg]
	}
	for _, c := range n.lits {
		if c.seg == seg {
			return c
		}
	}
	return nil
}

// match walks path, which is empty or starts with '/', collecting parameter
// values into vals from position k. A literal child is tried before the
// parameter child, so the most specific pattern wins and a dead end on the
// literal branch falls back to the parameter.
func (n *node) match(verb, path string, vals *[MaxParams]string, k int) *Method {
	if path == "" {
		for _, m := range n.methods {
			if m.HTTPMethod == verb {
				return m
			}
		}
		return nil
	}
	seg, rest := path[1:], ""
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, rest = seg[:i], seg[i:]
	}
	if c := n.child(seg); c != nil {
		if m := c.match(verb, rest, vals, k); m != nil {
			return m
		}
	}
	if n.param != nil && seg != "" && k < MaxParams {
		vals[k] = seg
		if m := n.param.match(verb, rest, vals, k+1); m != nil {
			return m
		}
	}
	return nil
}

// Match finds the method for an HTTP method and URL path (without query).
// A trailing slash is ignored.
func (c *Catalog) Match(httpMethod, path string) (m *Method, params Params, ok bool) {
	if path == "" || path[0] != '/' {
		return nil, params, false
	}
	if path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	m = c.root.match(httpMethod, path, &params.values, 0)
	if m == nil {
		return nil, Params{}, false
	}
	params.n = len(m.params)
	copy(params.names[:], m.params)
	return m, params, true
}
