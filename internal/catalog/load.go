package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward"
)

// MaxParams is the largest number of parameters a path pattern may have.
const MaxParams = 4

type fileYAML struct {
	Version string       `yaml:"version"`
	Options optionsYAML  `yaml:"options"`
	Methods []methodYAML `yaml:"methods"`
	Events  []eventYAML  `yaml:"events"`
}

type eventYAML struct {
	Type    string         `yaml:"type"`
	Summary string         `yaml:"summary"`
	Schema  map[string]any `yaml:"schema"`
}

type optionsYAML struct {
	MethodOverride bool `yaml:"method_override"`
	PathParams     bool `yaml:"path_params"`
}

type methodYAML struct {
	ID         string          `yaml:"id"`
	Method     string          `yaml:"method"`
	Path       string          `yaml:"path"`
	Block      string          `yaml:"block"`
	Resource   string          `yaml:"resource"`
	Access     string          `yaml:"access"`
	Store      storeYAML       `yaml:"store"`
	Summary    string          `yaml:"summary"`
	Merchant   bool            `yaml:"merchant"`
	Owner      ownerYAML       `yaml:"owner"`
	AdminOnly  bool            `yaml:"admin_only"`
	Upgrade    string          `yaml:"upgrade"`
	References []referenceYAML `yaml:"references"`
}

type referenceYAML struct {
	Field    string `yaml:"field"`
	Resource string `yaml:"resource"`
}

type storeYAML struct {
	In   string `yaml:"in"`
	Name string `yaml:"name"`
}

type ownerYAML struct {
	Kind    string `yaml:"kind"`
	IDField string `yaml:"id_field"`
	Param   string `yaml:"param"`
	Filter  string `yaml:"filter"`
	Field   string `yaml:"field"`
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// LoadFile reads a catalog from a YAML file.
func LoadFile(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	defer f.Close()
	c, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Load reads and validates a catalog from YAML. Unknown fields are errors.
func Load(r io.Reader) (*Catalog, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var f fileYAML
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("catalog: empty document; expected a top-level methods list")
		}
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if len(f.Methods) == 0 {
		return nil, errors.New("catalog: no methods; expected a top-level methods list")
	}
	c := &Catalog{
		version: f.Version,
		options: Options{MethodOverride: f.Options.MethodOverride, PathParams: f.Options.PathParams},
		byID:    make(map[string]*Method, len(f.Methods)),
		byBlock: make(map[string]int),
		root:    &node{},
	}
	events, err := loadEvents(f.Events)
	if err != nil {
		return nil, err
	}
	c.events = events
	if len(events) > 0 {
		f.Methods = append(f.Methods, eventsSendYAML)
	}
	resources := map[string]bool{}
	for i, y := range f.Methods {
		m, err := buildMethod(i, y)
		if err != nil {
			return nil, err
		}
		m.Keyward = len(events) > 0 && i == len(f.Methods)-1 // the events.send appended above
		if prev, dup := c.byID[m.ID]; dup {
			return nil, fmt.Errorf("catalog: method %q: id: duplicate; methods %d and %d share it", m.ID, prev.Index+1, i+1)
		}
		if prev := c.root.insert(m); prev != nil {
			return nil, fmt.Errorf("catalog: method %q: path: %s %s is already used by %q", m.ID, m.HTTPMethod, m.Path, prev.ID)
		}
		c.methods = append(c.methods, m)
		c.byID[m.ID] = m
		bi, ok := c.byBlock[m.Block]
		if !ok {
			bi = len(c.blocks)
			c.byBlock[m.Block] = bi
			c.blocks = append(c.blocks, Block{Name: m.Block})
		}
		c.blocks[bi].Methods = append(c.blocks[bi].Methods, m)
		if !resources[m.Resource] {
			resources[m.Resource] = true
			c.resources = append(c.resources, m.Resource)
		}
	}
	for _, b := range c.blocks {
		if _, clash := c.byID[b.Name]; clash {
			return nil, fmt.Errorf("catalog: block %q: the name is also a method id, so an allowlist entry would be ambiguous", b.Name)
		}
	}
	for _, m := range c.methods {
		for _, ref := range m.References {
			if !resources[ref.Resource] {
				return nil, fmt.Errorf("catalog: method %q: references: %s names resource %q, which no method uses", m.ID, ref.Field, ref.Resource)
			}
		}
	}
	slices.Sort(c.resources)
	c.storeParams, c.ownerFilters, c.storeHeaders = meaningfulNames(c.methods)
	c.root.freeze()
	return c, nil
}

// meaningfulNames returns the query parameters and headers the methods
// give meaning to, each once: the store's parameter (in the query, and in
// the path, since frameworks merge path and query parameters into one
// map), the owner filter of lists and the store's header.
func meaningfulNames(methods []*Method) (stores, filters, headers []string) {
	for _, m := range methods {
		switch m.Store.In {
		case StoreQuery, StorePath:
			stores = append(stores, m.Store.Name)
		case StoreHeader:
			headers = append(headers, m.Store.Name)
		}
		if m.Owner.Kind == OwnerList {
			filters = append(filters, m.Owner.Filter)
		}
	}
	for _, l := range [...]*[]string{&stores, &filters, &headers} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	return stores, filters, headers
}

// EventsSend is the id of the method a key needs to send events to the
// tenant's webhook endpoints (POST /v1/events, answered by keyward
// itself); a catalog that declares events has it.
const EventsSend = "events.send"

var eventsSendYAML = methodYAML{
	ID: EventsSend, Method: "POST", Path: "/v1/events", Block: "Events", Resource: "events", Access: "write",
	Store:   storeYAML{In: StoreHeader, Name: "X-Store"},
	Summary: "Send an event to the tenant's webhook endpoints", AdminOnly: true,
}

var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

func loadEvents(ys []eventYAML) ([]Event, error) {
	var out []Event
	seen := map[string]bool{}
	for i, y := range ys {
		if !eventTypeRE.MatchString(y.Type) || len(y.Type) > 100 {
			return nil, fmt.Errorf("catalog: event #%d: type %q must be dotted lower-case words, e.g. job.created", i+1, y.Type)
		}
		if seen[y.Type] {
			return nil, fmt.Errorf("catalog: event %q: type: duplicate", y.Type)
		}
		seen[y.Type] = true
		schema := y.Schema
		if schema == nil {
			schema = map[string]any{"type": "object"}
		}
		raw, err := json.Marshal(schema)
		if err != nil {
			return nil, fmt.Errorf("catalog: event %q: schema: %v", y.Type, err)
		}
		out = append(out, Event{Type: y.Type, Summary: y.Summary, Schema: raw})
	}
	return out, nil
}

func buildMethod(i int, y methodYAML) (*Method, error) {
	name := y.ID
	if name == "" {
		name = fmt.Sprintf("#%d", i+1)
	}
	fail := func(field, format string, args ...any) error {
		return fmt.Errorf("catalog: method %q: %s: %s", name, field, fmt.Sprintf(format, args...))
	}
	if y.ID == "" {
		return nil, fail("id", "missing")
	}
	if strings.ContainsFunc(y.ID, isSpaceOrControl) {
		return nil, fail("id", "%q contains spaces or control characters", y.ID)
	}
	m := &Method{
		ID:         y.ID,
		HTTPMethod: strings.ToUpper(y.Method),
		Path:       y.Path,
		Block:      y.Block,
		Resource:   y.Resource,
		Access:     keyward.Level(y.Access),
		Store:      StoreLocation{In: y.Store.In, Name: y.Store.Name},
		Summary:    y.Summary,
		Merchant:   y.Merchant,
		Owner:      Owner{Kind: y.Owner.Kind, IDField: y.Owner.IDField, Param: y.Owner.Param, Filter: y.Owner.Filter, Field: y.Owner.Field},
		AdminOnly:  y.AdminOnly,
		Upgrade:    strings.ToLower(y.Upgrade),
		Index:      i,
	}
	if !slices.Contains(httpMethods, m.HTTPMethod) {
		return nil, fail("method", "unknown HTTP method %q; use one of %s", y.Method, strings.Join(httpMethods, ", "))
	}
	params, err := parsePattern(y.Path)
	if err != nil {
		return nil, fail("path", "%v", err)
	}
	m.params = params
	if len(m.Path) > 1 {
		m.Path = strings.TrimSuffix(m.Path, "/")
	}
	if strings.TrimSpace(y.Block) == "" {
		return nil, fail("block", "missing")
	}
	if !validName(y.Resource) {
		return nil, fail("resource", "%q is not a resource name of lower-case letters, digits and underscores", y.Resource)
	}
	if m.Access != keyward.LevelRead && m.Access != keyward.LevelWrite {
		return nil, fail("access", "unknown access %q; use read or write", y.Access)
	}
	switch m.Store.In {
	case StoreNone:
		if m.Store.Name != "" {
			return nil, fail("store", "name %q given without in (query, path or header)", m.Store.Name)
		}
	case StoreQuery:
		if m.Store.Name == "" {
			return nil, fail("store", "in query needs the parameter name")
		}
	case StorePath:
		if !slices.Contains(params, m.Store.Name) {
			return nil, fail("store", "path parameter %q is not in %s", m.Store.Name, y.Path)
		}
	case StoreHeader:
		if m.Store.Name == "" || strings.ContainsFunc(m.Store.Name, isSpaceOrControl) || strings.Contains(m.Store.Name, ":") {
			return nil, fail("store", "header name %q is not valid", m.Store.Name)
		}
		m.Store.Name = textproto.CanonicalMIMEHeaderKey(m.Store.Name)
	default:
		return nil, fail("store", "unknown location %q; use query, path or header", m.Store.In)
	}
	o := &m.Owner
	switch o.Kind {
	case "":
		if o.IDField != "" || o.Param != "" || o.Filter != "" || o.Field != "" {
			return nil, fail("owner", "fields given without kind (create, record or list)")
		}
	case OwnerCreate:
		if o.IDField == "" {
			o.IDField = "id"
		}
	case OwnerRecord:
		if o.Param == "" {
			o.Param = "id"
		}
		if !slices.Contains(params, o.Param) {
			return nil, fail("owner", "path parameter %q is not in %s", o.Param, y.Path)
		}
	case OwnerList:
		if o.Filter == "" {
			o.Filter = "merchant_id"
		}
	default:
		return nil, fail("owner", "unknown kind %q; use create, record or list", o.Kind)
	}
	if o.Kind != "" && o.Field == "" {
		o.Field = "merchant_id"
	}
	if m.Upgrade != "" && !validToken(m.Upgrade) {
		return nil, fail("upgrade", "%q is not a protocol name such as websocket", y.Upgrade)
	}
	for _, r := range y.References {
		if !validParam(r.Field) {
			return nil, fail("references", "field %q is not a JSON field name of letters, digits and underscores", r.Field)
		}
		if !validName(r.Resource) {
			return nil, fail("references", "resource %q of field %s is not a resource name", r.Resource, r.Field)
		}
		if m.Access != keyward.LevelWrite {
			return nil, fail("references", "only write methods carry bodies whose references are checked")
		}
		m.References = append(m.References, Reference{Field: r.Field, Resource: r.Resource})
	}
	if m.Merchant && m.AdminOnly {
		return nil, fail("merchant", "a method cannot be both merchant and admin_only")
	}
	return m, nil
}

// parsePattern checks a path pattern and returns its parameter names.
func parsePattern(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%q does not start with /", p)
	}
	if strings.ContainsAny(p, "?#") || strings.ContainsFunc(p, isSpaceOrControl) {
		return nil, fmt.Errorf("%q holds a query, fragment, space or control character", p)
	}
	rest := strings.TrimSuffix(p[1:], "/")
	if rest == "" {
		return nil, nil
	}
	var params []string
	for seg := range strings.SplitSeq(rest, "/") {
		switch {
		case seg == "":
			return nil, fmt.Errorf("%q has an empty segment", p)
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := seg[1 : len(seg)-1]
			if !validParam(name) {
				return nil, fmt.Errorf("%q has an invalid parameter name %q", p, name)
			}
			if slices.Contains(params, name) {
				return nil, fmt.Errorf("%q repeats parameter %q", p, name)
			}
			params = append(params, name)
		case strings.ContainsAny(seg, "{}"):
			return nil, fmt.Errorf("%q: segment %q mixes braces with text; a parameter is a whole segment", p, seg)
		}
	}
	if len(params) > MaxParams {
		return nil, fmt.Errorf("%q has %d parameters; at most %d are supported", p, len(params), MaxParams)
	}
	return params, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validParam(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validToken reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return s != ""
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }
