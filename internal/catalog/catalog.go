package catalog

import (
	_ "embed"
	"encoding/json"
	"strings"

	"github.com/keyward/keyward"
)

// Store locations: where a request names the store it acts on.
const (
	StoreNone   = ""
	StoreQuery  = "query"
	StorePath   = "path"
	StoreHeader = "header"
)

// Owner kinds of owner-scoped methods.
const (
	OwnerCreate = "create"
	OwnerRecord = "record"
	OwnerList   = "list"
)

// StoreLocation tells where a request names its store: In is StoreQuery,
// StorePath, StoreHeader or StoreNone, and Name is the query parameter, path
// parameter or header name.
type StoreLocation struct {
	In   string `json:"in"`
	Name string `json:"name"`
}

// Owner describes how a method is scoped to the merchant that owns a record.
type Owner struct {
	// Kind is OwnerCreate, OwnerRecord, OwnerList or "" when the method is
	// not owner-scoped.
	Kind string
	// IDField is the field of the upstream JSON answer holding the id of a
	// created record (OwnerCreate; default "id").
	IDField string
	// Param is the path parameter holding the record id (OwnerRecord;
	// default "id").
	Param string
	// Filter is the query parameter forced to the owner (OwnerList; default
	// "merchant_id").
	Filter string
	// Field is the field of the record, in request and answer bodies, that
	// names its merchant (default "merchant_id"): set on create, and checked
	// in every answer about the record.
	Field string
}

// Reference is a field of a request body naming a record of another
// resource, such as an action's job_id naming a job. A merchant may name
// only records it owns.
type Reference struct {
	Field    string
	Resource string
}

// Method is one method of the platform API.
type Method struct {
	ID         string // e.g. "orders.statuses.list"
	HTTPMethod string // "GET", "POST", …
	Path       string // pattern such as "/api/v5/orders/{id}"
	Block      string // display group, e.g. "Orders"
	Resource   string // permission resource, e.g. "orders"
	Access     keyward.Level
	Store      StoreLocation
	Summary    string
	// Merchant reports whether merchant credentials may call the method.
	Merchant bool
	Owner    Owner
	// AdminOnly methods are never callable by merchant credentials.
	AdminOnly bool
	// Upgrade is the protocol a request may switch the connection to
	// (Upgrade: websocket, for instance); "" refuses every upgrade.
	Upgrade string
	// References lists the body fields naming records of other resources.
	References []Reference
	// Keyward marks a method keyward answers itself (events.send): the
	// gateway never forwards it and forward-auth never allows it upstream.
	Keyward bool
	// Index is the position of the method in its catalog.
	Index int

	params []string // path parameter names in order
}

// Block is a named group of methods, shown together and selectable as one.
type Block struct {
	Name    string
	Methods []*Method
}

// Catalog is a loaded, validated set of methods. It is immutable and safe for
// concurrent use.
type Catalog struct {
	version   string
	options   Options
	methods   []*Method
	byID      map[string]*Method
	blocks    []Block
	byBlock   map[string]int
	resources []string
	root      *node
	events    []Event
	// What StoreParams, OwnerFilters and StoreHeaders return.
	storeParams, ownerFilters, storeHeaders []string
}

// Event is a type of event the platform sends through keyward to the
// tenant's webhook endpoints, with the JSON schema of its data.
type Event struct {
	Type    string
	Summary string
	Schema  json.RawMessage
}

// Events returns the event types the catalog declares.
func (c *Catalog) Events() []Event { return append([]Event(nil), c.events...) }

//go:embed commerce.yaml
var commerceYAML string

var builtin = func() *Catalog {
	c, err := Load(strings.NewReader(commerceYAML))
	if err != nil {
		panic("catalog: built-in commerce catalog: " + err.Error())
	}
	return c
}()

// Builtin returns the built-in commerce catalog.
func Builtin() *Catalog { return builtin }

// Options are catalog-wide choices about requests the gateway would
// otherwise refuse as ambiguous.
type Options struct {
	// MethodOverride lets a POST name the method the platform acts on in
	// X-HTTP-Method-Override (or X-HTTP-Method, X-Method-Override, or a
	// _method parameter); the request is then checked as that method.
	MethodOverride bool
	// PathParams accepts ";name=value" parameters in path segments, as
	// servlet containers read them; a segment is matched without them.
	PathParams bool
}

// Options returns the catalog's options.
func (c *Catalog) Options() Options { return c.options }

// StoreParams returns, sorted, the names of the store parameters of query
// and path stores: frameworks merge path and query parameters, so the
// gateway reads both names in the query. The slice must not be changed.
func (c *Catalog) StoreParams() []string { return c.storeParams }

// OwnerFilters returns, sorted, the query parameters lists are filtered to
// their owner by. The slice must not be changed.
func (c *Catalog) OwnerFilters() []string { return c.ownerFilters }

// StoreHeaders returns, sorted, the headers some method reads its store
// from. The slice must not be changed.
func (c *Catalog) StoreHeaders() []string { return c.storeHeaders }

// Version returns the catalog's optional version label.
func (c *Catalog) Version() string { return c.version }

// Methods returns every method in catalog order.
func (c *Catalog) Methods() []*Method {
	return append([]*Method(nil), c.methods...)
}

// At returns the method at index i, or nil when i is out of range. Unlike
// Methods it does not copy, so hot paths can use it.
func (c *Catalog) At(i int) *Method {
	if i < 0 || i >= len(c.methods) {
		return nil
	}
	return c.methods[i]
}

// Len returns the number of methods.
func (c *Catalog) Len() int { return len(c.methods) }

// Method returns the method with the given id.
func (c *Catalog) Method(id string) (*Method, bool) {
	m, ok := c.byID[id]
	return m, ok
}

// Blocks returns the blocks in the order they first appear.
func (c *Catalog) Blocks() []Block {
	out := make([]Block, len(c.blocks))
	for i, b := range c.blocks {
		out[i] = Block{Name: b.Name, Methods: append([]*Method(nil), b.Methods...)}
	}
	return out
}

// Block returns the block with the given name.
func (c *Catalog) Block(name string) (Block, bool) {
	i, ok := c.byBlock[name]
	if !ok {
		return Block{}, false
	}
	b := c.blocks[i]
	return Block{Name: b.Name, Methods: append([]*Method(nil), b.Methods...)}, true
}

// Resources returns the resources the methods use, sorted.
func (c *Catalog) Resources() []string {
	return append([]string(nil), c.resources...)
}

// HasResource reports whether some method uses the resource.
func (c *Catalog) HasResource(name string) bool {
	for _, r := range c.resources {
		if r == name {
			return true
		}
	}
	return false
}

// Expand resolves method ids and block names to methods, in catalog order and
// without duplicates. A block stands for all its methods.
func (c *Catalog) Expand(items []string) ([]*Method, error) {
	seen := make([]bool, len(c.methods))
	for _, it := range items {
		if m, ok := c.byID[it]; ok {
			seen[m.Index] = true
			continue
		}
		i, ok := c.byBlock[it]
		if !ok {
			return nil, keyward.Invalid("methods",
				"unknown method or block %q; name a method id such as %q or one of the blocks %s",
				it, c.methods[0].ID, strings.Join(c.blockNames(), ", "))
		}
		for _, m := range c.blocks[i].Methods {
			seen[m.Index] = true
		}
	}
	out := []*Method{}
	for i, ok := range seen {
		if ok {
			out = append(out, c.methods[i])
		}
	}
	return out, nil
}

func (c *Catalog) blockNames() []string {
	names := make([]string, len(c.blocks))
	for i, b := range c.blocks {
		names[i] = b.Name
	}
	return names
}
