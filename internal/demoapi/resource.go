package demoapi

import (
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
)

// collection holds the records of one kind in creation order, with ids made
// of a prefix and a sequence number ("job_12").
type collection struct {
	prefix string
	seq    int
	order  []string
	byID   map[string]record
}

func newCollection(prefix string) *collection {
	return &collection{prefix: prefix, byID: map[string]record{}}
}

// add stores rec under a new id, which it also sets in rec.
func (c *collection) add(rec record) record {
	c.seq++
	id := c.prefix + "_" + strconv.Itoa(c.seq)
	rec["id"] = id
	c.byID[id] = rec
	c.order = append(c.order, id)
	return rec
}

func (c *collection) get(id string) (record, bool) {
	rec, ok := c.byID[id]
	return rec, ok
}

func (c *collection) put(rec record) { c.byID[str(rec, "id")] = rec }

func (c *collection) remove(id string) {
	delete(c.byID, id)
	c.order = slices.DeleteFunc(c.order, func(s string) bool { return s == id })
}

// filter returns the records keep accepts, in creation order.
func (c *collection) filter(keep func(record) bool) []record {
	var out []record
	for _, id := range c.order {
		if rec := c.byID[id]; keep(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// resource serves the list, search, get, create, update and delete methods
// of one collection.
type resource struct {
	api  *API
	name string // singular, for messages
	c    *collection
	// stored records belong to the store named by the "store" query
	// parameter.
	stored bool
	// readOnly fields cannot be changed by an update, besides id, store and
	// created_at.
	readOnly []string
	// check validates and completes a record about to be stored; old is nil
	// on create.
	check func(rec, old record) error
	// saved runs after a record is stored; old is nil on create.
	saved func(rec, old record)
	// removed runs after a record is deleted.
	removed func(rec record)
}

// queryStore returns the store named by the "store" query parameter, ""
// when none is named.
func (a *API) queryStore(r *http.Request) (string, error) {
	st := r.URL.Query().Get("store")
	if st != "" && a.store(st) == nil {
		return "", notFound("no store %q; the stores are main and online", st)
	}
	return st, nil
}

// find returns the record named by the path parameter id, 404 when it does
// not exist or belongs to a store other than the one the query names.
func (res *resource) find(r *http.Request) (record, error) {
	id := r.PathValue("id")
	rec, ok := res.c.get(id)
	if ok && res.stored {
		st, err := res.api.queryStore(r)
		if err != nil {
			return nil, err
		}
		ok = st == "" || str(rec, "store") == st
	}
	if !ok {
		return nil, notFound("no %s %q", res.name, id)
	}
	return rec, nil
}

// list answers the records of the named store, if any, whose fields equal
// the given query parameters (merchant_id, for instance). A search also
// takes q, matched against every text field.
func (res *resource) list(search bool, filters ...string) handler {
	return func(r *http.Request, _ record) (any, error) {
		st := ""
		if res.stored {
			var err error
			if st, err = res.api.queryStore(r); err != nil {
				return nil, err
			}
		}
		query := r.URL.Query()
		want := map[string]string{}
		for _, f := range filters {
			if v := query.Get(f); v != "" {
				want[f] = v
			}
		}
		q := ""
		if search {
			q = query.Get("q")
			for name, vals := range query {
				if name != "q" && name != "store" && len(vals) > 0 && vals[0] != "" {
					want[name] = vals[0]
				}
			}
		}
		return list(res.c.filter(func(rec record) bool {
			if st != "" && str(rec, "store") != st {
				return false
			}
			for f, v := range want {
				if fieldString(rec[f]) != v {
					return false
				}
			}
			return q == "" || containsFold(rec, q)
		})), nil
	}
}

// fieldString is the text form of a field as a query parameter writes it.
func fieldString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func (res *resource) get(r *http.Request, _ record) (any, error) {
	return res.find(r)
}

func (res *resource) create(r *http.Request, in record) (any, error) {
	rec := maps.Clone(in)
	delete(rec, "id")
	if res.stored {
		st, err := res.api.queryStore(r)
		if err != nil {
			return nil, err
		}
		if st == "" {
			return nil, badRequest("the store query parameter is required")
		}
		// The gateway checks the store of the query, so the body may not
		// name another one.
		if s, ok := rec["store"]; ok && s != st {
			return nil, badRequest("the body names store %v but the query names %q", s, st)
		}
		rec["store"] = st
	}
	rec["created_at"] = now()
	if res.check != nil {
		if err := res.check(rec, nil); err != nil {
			return nil, err
		}
	}
	res.c.add(rec)
	if res.saved != nil {
		res.saved(rec, nil)
	}
	return created{rec}, nil
}

func (res *resource) update(r *http.Request, in record) (any, error) {
	old, err := res.find(r)
	if err != nil {
		return nil, err
	}
	for _, f := range append([]string{"id", "store", "created_at"}, res.readOnly...) {
		if v, ok := in[f]; ok && !reflect.DeepEqual(v, old[f]) {
			return nil, badRequest("%s cannot be changed", f)
		}
	}
	rec := maps.Clone(old)
	maps.Copy(rec, in)
	rec["updated_at"] = now()
	if res.check != nil {
		if err := res.check(rec, old); err != nil {
			return nil, err
		}
	}
	res.c.put(rec)
	if res.saved != nil {
		res.saved(rec, old)
	}
	return rec, nil
}

func (res *resource) delete(r *http.Request, _ record) (any, error) {
	rec, err := res.find(r)
	if err != nil {
		return nil, err
	}
	res.c.remove(str(rec, "id"))
	if res.removed != nil {
		res.removed(rec)
	}
	return record{"id": rec["id"], "deleted": true}, nil
}
