package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

func TestBuiltin(t *testing.T) {
	c := Builtin()
	if c.Len() < 45 {
		t.Fatalf("Len() = %d, want at least 45", c.Len())
	}
	want := []string{"actions", "customers", "discounts", "events", "inventory", "jobs", "orders",
		"payments", "products", "store_information", "subscriptions", "webhooks"}
	if got := c.Resources(); !slices.Equal(got, want) {
		t.Errorf("Resources() = %v, want %v", got, want)
	}
	for _, r := range want {
		if !c.HasResource(r) {
			t.Errorf("HasResource(%q) = false", r)
		}
	}
	if c.HasResource("nope") {
		t.Error(`HasResource("nope") = true`)
	}
	for i, m := range c.Methods() {
		if m.Index != i {
			t.Errorf("%s: Index = %d, want %d", m.ID, m.Index, i)
		}
		if got, ok := c.Method(m.ID); !ok || got != m {
			t.Errorf("Method(%q) = %v, %v", m.ID, got, ok)
		}
		if m.ID == EventsSend {
			if m.Path != "/v1/events" || m.Resource != "events" || m.Access != keyward.LevelWrite || !m.AdminOnly || !m.Keyward {
				t.Errorf("events.send = %+v, want POST /v1/events needing events write, never a merchant's", m)
			}
			continue
		}
		if m.Keyward {
			t.Errorf("%s is marked as answered by keyward", m.ID)
		}
		if !strings.HasPrefix(m.Path, "/api/v5/") {
			t.Errorf("%s: path %q is not under /api/v5/", m.ID, m.Path)
		}
		if m.Resource == "customers" && m.Store.In != StoreNone {
			t.Errorf("%s: customers are shared across stores but the method names a store in %s", m.ID, m.Store.In)
		}
		merchantResource := m.Resource == "jobs" || m.Resource == "actions"
		if m.Merchant != merchantResource {
			t.Errorf("%s: Merchant = %v, want %v", m.ID, m.Merchant, merchantResource)
		}
		if m.Merchant && m.Owner.Kind == "" {
			t.Errorf("%s: merchant method without owner scope", m.ID)
		}
		if (m.Resource == "webhooks") != m.AdminOnly {
			t.Errorf("%s: AdminOnly = %v", m.ID, m.AdminOnly)
		}
	}
	if got := len(c.Events()); got < 4 {
		t.Errorf("Events() holds %d types, want the 4 the built-in catalog declares", got)
	}
	locations := map[string]int{}
	for _, m := range c.Methods() {
		locations[m.Store.In]++
	}
	for _, in := range []string{StoreNone, StoreQuery, StorePath, StoreHeader} {
		if locations[in] == 0 {
			t.Errorf("no builtin method names its store in %q", in)
		}
	}
	if _, ok := c.Method("orders.statuses.list"); !ok {
		t.Error("orders.statuses.list missing")
	}
}

func TestBlocks(t *testing.T) {
	c := Builtin()
	blocks := c.Blocks()
	if len(blocks) == 0 || blocks[0].Name != "Orders" {
		t.Fatalf("first block = %v, want Orders", blocks)
	}
	total := 0
	for _, b := range blocks {
		total += len(b.Methods)
		got, ok := c.Block(b.Name)
		if !ok || len(got.Methods) != len(b.Methods) {
			t.Errorf("Block(%q) = %d methods, %v; want %d", b.Name, len(got.Methods), ok, len(b.Methods))
		}
		for _, m := range b.Methods {
			if m.Block != b.Name {
				t.Errorf("method %s in block %q has Block %q", m.ID, b.Name, m.Block)
			}
		}
	}
	if total != c.Len() {
		t.Errorf("blocks hold %d methods, catalog %d", total, c.Len())
	}
	if _, ok := c.Block("Nope"); ok {
		t.Error(`Block("Nope") found`)
	}
	// Callers get copies: changing them leaves the catalog as it was.
	blocks[0].Methods[0] = nil
	c.Methods()[0] = nil
	if b, _ := c.Block("Orders"); b.Methods[0] == nil || c.Methods()[0] == nil {
		t.Error("catalog changed through a returned slice")
	}
}

func TestExpand(t *testing.T) {
	c := Builtin()
	orders, _ := c.Block("Orders")
	tests := []struct {
		name    string
		items   []string
		want    []string // method ids, in catalog order
		wantErr string
	}{
		{name: "nil", items: nil, want: nil},
		{name: "one id", items: []string{"orders.get"}, want: []string{"orders.get"}},
		{name: "ids in catalog order", items: []string{"payments.get", "orders.get"}, want: []string{"orders.get", "payments.get"}},
		{name: "block", items: []string{"Webhooks"}, want: []string{"webhooks.list", "webhooks.create", "webhooks.delete"}},
		{name: "block and id without duplicates", items: []string{"webhooks.list", "Webhooks", "webhooks.list"},
			want: []string{"webhooks.list", "webhooks.create", "webhooks.delete"}},
		{name: "unknown name", items: []string{"orders.get", "orders.explode"}, wantErr: `"orders.explode"`},
		{name: "block names are case-sensitive", items: []string{"orders"}, wantErr: `"orders"`},
		{name: "empty string", items: []string{""}, wantErr: `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Expand(tt.items)
			if tt.wantErr != "" {
				var e *keyward.Error
				if !errors.As(err, &e) || e.Code != keyward.EInvalid || e.Field != "methods" {
					t.Fatalf("err = %v, want invalid_argument on methods", err)
				}
				if !strings.Contains(e.Message, tt.wantErr) {
					t.Errorf("message %q does not name %s", e.Message, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range got {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("Expand(%q) = %v, want %v", tt.items, ids, tt.want)
			}
		})
	}
	all, err := c.Expand([]string{"Orders"})
	if err != nil || len(all) != len(orders.Methods) {
		t.Errorf(`Expand("Orders") = %d methods, %v; want %d`, len(all), err, len(orders.Methods))
	}
}
