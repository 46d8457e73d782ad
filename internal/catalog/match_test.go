package catalog

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	c := Builtin()
	tests := []struct {
		name       string
		verb, path string
		want       string // method id, "" for no match
		params     map[string]string
	}{
		{name: "literal beats parameter", verb: "GET", path: "/api/v5/orders/statuses", want: "orders.statuses.list"},
		{name: "parameter", verb: "GET", path: "/api/v5/orders/1042", want: "orders.get", params: map[string]string{"id": "1042"}},
		{name: "literal beats parameter with trailing slash", verb: "GET", path: "/api/v5/orders/statuses/", want: "orders.statuses.list"},
		{name: "trailing slash", verb: "GET", path: "/api/v5/orders/", want: "orders.list"},
		{name: "nested after parameter", verb: "GET", path: "/api/v5/orders/7/history", want: "orders.history", params: map[string]string{"id": "7"}},
		{name: "literal dead end falls back to parameter", verb: "GET", path: "/api/v5/orders/statuses/history", want: "orders.history", params: map[string]string{"id": "statuses"}},
		{name: "same path, other verb", verb: "PUT", path: "/api/v5/orders/7", want: "orders.update", params: map[string]string{"id": "7"}},
		{name: "literal path, verb only on parameter", verb: "PUT", path: "/api/v5/orders/statuses", want: "orders.update", params: map[string]string{"id": "statuses"}},
		{name: "collection create", verb: "POST", path: "/api/v5/orders", want: "orders.create"},
		{name: "two parameters", verb: "GET", path: "/api/v5/stores/s-1/inventory/SKU-9", want: "inventory.get", params: map[string]string{"store": "s-1", "sku": "SKU-9"}},
		{name: "store in path", verb: "GET", path: "/api/v5/stores/paris/information", want: "store_information.get", params: map[string]string{"store": "paris"}},
		{name: "search literal beats id", verb: "GET", path: "/api/v5/jobs/search", want: "jobs.search"},
		{name: "job by id", verb: "DELETE", path: "/api/v5/jobs/j1", want: "jobs.delete", params: map[string]string{"id": "j1"}},
		{name: "wrong HTTP method", verb: "DELETE", path: "/api/v5/orders"},
		{name: "lower-case HTTP method", verb: "get", path: "/api/v5/orders"},
		{name: "unknown path", verb: "GET", path: "/api/v5/unicorns"},
		{name: "other version", verb: "GET", path: "/api/v4/orders"},
		{name: "too deep", verb: "GET", path: "/api/v5/orders/7/history/extra"},
		{name: "empty parameter", verb: "GET", path: "/api/v5/orders//history"},
		{name: "double trailing slash", verb: "GET", path: "/api/v5/orders//"},
		{name: "root", verb: "GET", path: "/"},
		{name: "empty", verb: "GET", path: ""},
		{name: "relative", verb: "GET", path: "api/v5/orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, p, ok := c.Match(tt.verb, tt.path)
			if tt.want == "" {
				if ok || m != nil {
					t.Fatalf("Match(%s %s) = %s, want no match", tt.verb, tt.path, m.ID)
				}
				return
			}
			if !ok || m == nil {
				t.Fatalf("Match(%s %s) found nothing, want %s", tt.verb, tt.path, tt.want)
			}
			if m.ID != tt.want {
				t.Errorf("Match(%s %s) = %s, want %s", tt.verb, tt.path, m.ID, tt.want)
			}
			if p.Len() != len(tt.params) {
				t.Errorf("Len() = %d, want %d", p.Len(), len(tt.params))
			}
			for k, v := range tt.params {
				if got := p.Get(k); got != v {
					t.Errorf("Get(%q) = %q, want %q", k, got, v)
				}
			}
			if got := p.Get("nope"); got != "" {
				t.Errorf(`Get("nope") = %q`, got)
			}
		})
	}
}

func TestMatchEveryMethod(t *testing.T) {
	c := Builtin()
	for _, m := range c.Methods() {
		path := strings.NewReplacer("{id}", "x1", "{store}", "s1", "{sku}", "k1", "{phone}", "555", "{email}", "a@b.c").Replace(m.Path)
		got, _, ok := c.Match(m.HTTPMethod, path)
		if !ok || got != m {
			t.Errorf("Match(%s %s) = %v, want %s", m.HTTPMethod, path, got, m.ID)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	c := Builtin()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, p, ok := c.Match("GET", "/api/v5/stores/s-1/inventory/SKU-9"); !ok || p.Get("sku") != "SKU-9" {
			t.Fatal("no match")
		}
		if _, _, ok := c.Match("GET", "/api/v5/orders/statuses/"); !ok {
			t.Fatal("no match")
		}
		c.Match("GET", "/api/v5/unicorns")
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	c := Builtin()
	paths := []struct{ verb, path string }{
		{"GET", "/api/v5/orders/statuses"},
		{"GET", "/api/v5/orders/1042"},
		{"GET", "/api/v5/stores/s-1/inventory/SKU-9"},
		{"POST", "/api/v5/payments/p_1/refund"},
		{"GET", "/api/v5/unicorns/1"},
	}
	for _, p := range paths {
		b.Run(strings.ReplaceAll(p.path[len("/api/v5/"):], "/", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Match(p.verb, p.path)
			}
		})
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range []struct{ verb, path string }{
		{"GET", "/api/v5/orders/statuses"},
		{"GET", "/api/v5/orders/1/history/"},
		{"PUT", "/api/v5/inventory/a"},
		{"DELETE", "/api/v5/jobs/j"},
		{"GET", "/"},
		{"GET", ""},
		{"POST", "//api//v5"},
		{"GET", "/api/v5/stores/{store}/inventory/{sku}"},
	} {
		f.Add(s.verb, s.path)
	}
	c := Builtin()
	f.Fuzz(func(t *testing.T, verb, path string) {
		m, p, ok := c.Match(verb, path)
		if ok != (m != nil) {
			t.Fatalf("ok = %v with method %v", ok, m)
		}
		if !ok {
			return
		}
		if m.HTTPMethod != verb {
			t.Fatalf("Match(%q, %q) = %s with HTTP method %s", verb, path, m.ID, m.HTTPMethod)
		}
		for i := 0; i < p.Len(); i++ {
			if _, v := p.At(i); v == "" || strings.Contains(v, "/") || !strings.Contains(path, v) {
				t.Fatalf("parameter %d = %q is not a segment of %q", i, v, path)
			}
		}
	})
}
