package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	read  = keyward.LevelRead
	write = keyward.LevelWrite
)

// recharge is the permission set a subscriptions app asks for.
var recharge = keyward.Permissions{
	"orders": write, "discounts": write, "subscriptions": write, "customers": write,
	"payments": read, "store_information": read,
}

func ptr[T any](v T) *T { return &v }

func compile(t testing.TB, s Spec) *Policy {
	t.Helper()
	p, err := Compile(catalog.Builtin(), s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func method(t testing.TB, id string) *catalog.Method {
	t.Helper()
	m, ok := catalog.Builtin().Method(id)
	if !ok {
		t.Fatalf("no method %s", id)
	}
	return m
}

func TestDecide(t *testing.T) {
	allStores := func(perms keyward.Permissions) Spec { return Spec{Permissions: perms, AllStores: true} }
	selected := Spec{Permissions: keyward.Permissions{"orders": write, "customers": read, "store_information": read, "inventory": write},
		Stores: []string{"s1", "PARIS"}}
	many := Spec{Permissions: recharge, Stores: []string{"s9", "s8", "s7", "s6", "s5", "s4", "s3", "s2", "s1", "s0", "s1"}}
	tests := []struct {
		name     string
		spec     Spec
		method   string
		store    string
		at       time.Time // zero: now
		code     string
		resource string
		level    keyward.Level
	}{
		{name: "recharge refused payment write", spec: allStores(recharge), method: "payments.create", store: "s1",
			code: keyward.CodeInsufficientPermission, resource: "payments", level: write},
		{name: "recharge refused refund", spec: allStores(recharge), method: "payments.refund", store: "s1",
			code: keyward.CodeInsufficientPermission, resource: "payments", level: write},
		{name: "recharge allowed payment read", spec: allStores(recharge), method: "payments.get", store: "s1", code: keyward.CodeValid},
		{name: "recharge allowed order write", spec: allStores(recharge), method: "orders.create", store: "s1", code: keyward.CodeValid},
		{name: "recharge allowed customer write", spec: allStores(recharge), method: "customers.update", code: keyward.CodeValid},
		{name: "recharge refused products", spec: allStores(recharge), method: "products.list", store: "s1",
			code: keyward.CodeInsufficientPermission, resource: "products", level: read},
		{name: "write implies read", spec: allStores(keyward.Permissions{"orders": write}), method: "orders.get", store: "s1", code: keyward.CodeValid},
		{name: "read does not imply write", spec: allStores(keyward.Permissions{"orders": read}), method: "orders.update", store: "s1",
			code: keyward.CodeInsufficientPermission, resource: "orders", level: write},
		{name: "explicit none", spec: allStores(keyward.Permissions{"orders": keyward.LevelNone}), method: "orders.get", store: "s1",
			code: keyward.CodeInsufficientPermission, resource: "orders", level: read},

		{name: "allowlist block allows", spec: Spec{Permissions: recharge, AllStores: true, Methods: []string{"Orders"}},
			method: "orders.history", store: "s1", code: keyward.CodeValid},
		{name: "allowlist block refuses outside", spec: Spec{Permissions: recharge, AllStores: true, Methods: []string{"Orders"}},
			method: "payments.get", store: "s1", code: keyward.CodeMethodNotAllowed},
		{name: "allowlisted without permission", spec: Spec{Permissions: keyward.Permissions{"orders": read}, AllStores: true, Methods: []string{"payments.get"}},
			method: "payments.get", store: "s1", code: keyward.CodeInsufficientPermission, resource: "payments", level: read},
		{name: "allowlist checked before permission", spec: Spec{AllStores: true, Methods: []string{"orders.get"}},
			method: "payments.get", store: "s1", code: keyward.CodeMethodNotAllowed},
		{name: "empty allowlist refuses", spec: Spec{Permissions: recharge, AllStores: true, Methods: []string{}},
			method: "orders.get", store: "s1", code: keyward.CodeMethodNotAllowed},

		{name: "selected store by id", spec: selected, method: "orders.list", store: "s1", code: keyward.CodeValid},
		{name: "selected store by code", spec: selected, method: "orders.list", store: "PARIS", code: keyward.CodeValid},
		{name: "store match is exact", spec: selected, method: "orders.list", store: "paris", code: keyward.CodeStoreNotAllowed},
		{name: "other store", spec: selected, method: "orders.list", store: "s2", code: keyward.CodeStoreNotAllowed},
		{name: "store required", spec: selected, method: "orders.list", store: "", code: keyward.CodeStoreRequired},
		{name: "store in path", spec: selected, method: "store_information.get", store: "s1", code: keyward.CodeValid},
		{name: "store in path refused", spec: selected, method: "store_information.get", store: "s9", code: keyward.CodeStoreNotAllowed},
		{name: "store in header refused", spec: selected, method: "inventory.update", store: "s9", code: keyward.CodeStoreNotAllowed},
		{name: "method without store location", spec: selected, method: "customers.list", store: "", code: keyward.CodeValid},
		{name: "stores list names no store", spec: selected, method: "stores.list", code: keyward.CodeValid},
		{name: "permission checked before store", spec: selected, method: "payments.get", store: "s9",
			code: keyward.CodeInsufficientPermission, resource: "payments", level: read},
		{name: "many stores, first", spec: many, method: "orders.list", store: "s0", code: keyward.CodeValid},
		{name: "many stores, last", spec: many, method: "orders.list", store: "s9", code: keyward.CodeValid},
		{name: "many stores, outside", spec: many, method: "orders.list", store: "s10", code: keyward.CodeStoreNotAllowed},
		{name: "all stores any store", spec: allStores(recharge), method: "orders.list", store: "anywhere", code: keyward.CodeValid},
		{name: "all stores without store", spec: allStores(recharge), method: "orders.list", store: "", code: keyward.CodeValid},
		{name: "no store selected", spec: Spec{Permissions: recharge}, method: "orders.list", store: "s1", code: keyward.CodeStoreNotAllowed},
		{name: "no store selected, storeless method", spec: Spec{Permissions: recharge}, method: "customers.get", code: keyward.CodeValid},

		{name: "before expiry", spec: Spec{Permissions: recharge, AllStores: true, ExpiresAt: ptr(now.Add(time.Hour))},
			method: "orders.get", store: "s1", code: keyward.CodeValid},
		{name: "at expiry", spec: Spec{Permissions: recharge, AllStores: true, ExpiresAt: ptr(now.Add(time.Hour))},
			method: "orders.get", store: "s1", at: now.Add(time.Hour), code: keyward.CodeExpired},
		{name: "after expiry", spec: Spec{Permissions: recharge, AllStores: true, ExpiresAt: ptr(now.Add(-time.Second))},
			method: "orders.get", store: "s1", code: keyward.CodeExpired},
		{name: "expiry checked first", spec: Spec{ExpiresAt: ptr(now.Add(-time.Second)), Methods: []string{}},
			method: "orders.get", code: keyward.CodeExpired},
		{name: "far future expiry", spec: Spec{Permissions: recharge, AllStores: true, ExpiresAt: ptr(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))},
			method: "orders.get", store: "s1", code: keyward.CodeValid},

		{name: "merchant job", spec: Spec{Merchant: true, Permissions: keyward.Permissions{"jobs": write}, AllStores: true},
			method: "jobs.update", code: keyward.CodeValid},
		{name: "merchant order", spec: Spec{Merchant: true, Permissions: recharge, AllStores: true},
			method: "orders.get", store: "s1", code: keyward.CodeMerchantMethodNotAllowed},
		{name: "merchant restriction before allowlist", spec: Spec{Merchant: true, Permissions: recharge, AllStores: true, Methods: []string{"orders.get"}},
			method: "orders.get", store: "s1", code: keyward.CodeMerchantMethodNotAllowed},
		{name: "merchant still needs permission", spec: Spec{Merchant: true, Permissions: keyward.Permissions{"actions": read}},
			method: "actions.create", code: keyward.CodeInsufficientPermission, resource: "actions", level: write},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compile(t, tt.spec)
			at := tt.at
			if at.IsZero() {
				at = now
			}
			m := method(t, tt.method)
			d := p.Decide(m, tt.store, at)
			if d.Code != tt.code || d.Resource != tt.resource || d.Level != tt.level {
				t.Errorf("Decide(%s, %q) = %s %q %q, want %s %q %q", tt.method, tt.store,
					d.Code, d.Resource, d.Level, tt.code, tt.resource, tt.level)
			}
			if d.Method != m {
				t.Errorf("Method = %v, want %s", d.Method, m.ID)
			}
			if d.Allowed() != (tt.code == keyward.CodeValid) {
				t.Errorf("Allowed() = %v for %s", d.Allowed(), d.Code)
			}
		})
	}
}

func TestStatusesOnlyKey(t *testing.T) {
	cat := catalog.Builtin()
	p := compile(t, Spec{
		Permissions: keyward.Permissions{"orders": read},
		Stores:      []string{"s1"},
		Methods:     []string{"orders.statuses.list"},
	})
	for _, m := range cat.Methods() {
		d := p.Decide(m, "s1", now)
		if m.ID == "orders.statuses.list" {
			if !d.Allowed() {
				t.Errorf("%s on s1: %s, want VALID", m.ID, d.Code)
			}
			continue
		}
		if d.Code != keyward.CodeMethodNotAllowed {
			t.Errorf("%s: %s, want METHOD_NOT_ALLOWED", m.ID, d.Code)
		}
	}
	statuses := method(t, "orders.statuses.list")
	if d := p.Decide(statuses, "s2", now); d.Code != keyward.CodeStoreNotAllowed || d.Store != "s2" {
		t.Errorf("on s2: %s %q, want STORE_NOT_ALLOWED", d.Code, d.Store)
	}
	if d := p.Decide(statuses, "", now); d.Code != keyward.CodeStoreRequired {
		t.Errorf("without store: %s, want STORE_REQUIRED", d.Code)
	}
	if got := p.AllowedMethods(cat); len(got) != 1 || got[0] != statuses {
		t.Errorf("AllowedMethods = %v, want [orders.statuses.list]", got)
	}
}

func TestEmptyPermissionsRefuseEverything(t *testing.T) {
	for _, perms := range []keyward.Permissions{nil, {}} {
		p := compile(t, Spec{Permissions: perms, AllStores: true})
		for _, m := range catalog.Builtin().Methods() {
			d := p.Decide(m, "s1", now)
			if d.Code != keyward.CodeInsufficientPermission || d.Resource != m.Resource || d.Level != m.Access {
				t.Errorf("%s: %s %q %q, want INSUFFICIENT_PERMISSION %s %s", m.ID, d.Code, d.Resource, d.Level, m.Resource, m.Access)
			}
		}
		if got := p.AllowedMethods(catalog.Builtin()); len(got) != 0 {
			t.Errorf("AllowedMethods = %d methods, want none", len(got))
		}
	}
}

func TestMerchantOnlyJobsAndActions(t *testing.T) {
	cat := catalog.Builtin()
	all := keyward.Permissions{}
	for _, r := range cat.Resources() {
		all[r] = write
	}
	p := compile(t, Spec{Merchant: true, Permissions: all, AllStores: true})
	allowed := 0
	for _, m := range cat.Methods() {
		d := p.Decide(m, "s1", now)
		want := m.Resource == "jobs" || m.Resource == "actions"
		if d.Allowed() != want {
			t.Errorf("%s: %s, want allowed = %v", m.ID, d.Code, want)
		}
		if !want && (d.Code != keyward.CodeMerchantMethodNotAllowed || !d.Merchant) {
			t.Errorf("%s: %s merchant=%v, want MERCHANT_METHOD_NOT_ALLOWED", m.ID, d.Code, d.Merchant)
		}
		if m.Resource == "webhooks" && d.Allowed() {
			t.Errorf("merchant key may call %s", m.ID)
		}
		if want {
			allowed++
		}
	}
	if got := p.AllowedMethods(cat); len(got) != allowed {
		t.Errorf("AllowedMethods = %d methods, want %d", len(got), allowed)
	}
	// The same permissions without the merchant flag reach webhooks.
	admin := compile(t, Spec{Permissions: all, AllStores: true})
	if d := admin.Decide(method(t, "webhooks.create"), "", now); !d.Allowed() {
		t.Errorf("non-merchant webhooks.create: %s", d.Code)
	}
}

func TestUnknownMethod(t *testing.T) {
	p := compile(t, Spec{Permissions: recharge, AllStores: true})
	other, err := catalog.Load(strings.NewReader("methods:\n  - {id: orders.get, method: GET, path: /o, block: B, resource: orders, access: read}\n"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Method("orders.get")
	for name, m := range map[string]*catalog.Method{"nil": nil, "other catalog": foreign} {
		if d := p.Decide(m, "", now); d.Code != keyward.CodeUnknownMethod {
			t.Errorf("%s: %s, want UNKNOWN_METHOD", name, d.Code)
		}
	}
	if got := p.AllowedMethods(other); len(got) != 0 {
		t.Errorf("AllowedMethods(other catalog) = %v", got)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		spec  Spec
		field string
		want  []string
	}{
		{name: "unknown resource", spec: Spec{Permissions: keyward.Permissions{"refunds": read}},
			field: "permissions", want: []string{`"refunds"`, "orders", "webhooks"}},
		{name: "unknown level", spec: Spec{Permissions: keyward.Permissions{"orders": "admin"}},
			field: "permissions", want: []string{`"admin"`, "orders"}},
		{name: "unknown method", spec: Spec{Methods: []string{"orders.get", "orders.purge"}},
			field: "methods", want: []string{`"orders.purge"`}},
		{name: "unknown block", spec: Spec{Methods: []string{"Refunds"}},
			field: "methods", want: []string{`"Refunds"`}},
		{name: "empty store id", spec: Spec{Stores: []string{"s1", ""}},
			field: "stores", want: []string{"empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(catalog.Builtin(), tt.spec)
			var e *keyward.Error
			if !errors.As(err, &e) || e.Code != keyward.EInvalid || e.Field != tt.field {
				t.Fatalf("err = %v, want invalid_argument on %s", err, tt.field)
			}
			for _, w := range tt.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not contain %q", e.Message, w)
				}
			}
		})
	}
}

func TestMessage(t *testing.T) {
	ordersGet := method(t, "orders.get")
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{name: "missing write", d: Decision{Code: keyward.CodeInsufficientPermission, Resource: "payments", Level: write},
			want: "This key lacks write access to payments; ask the tenant's administrator to grant payments: read-write."},
		{name: "missing read", d: Decision{Code: keyward.CodeInsufficientPermission, Resource: "orders", Level: read},
			want: "This key lacks read access to orders; ask the tenant's administrator to grant orders: read."},
		{name: "allowlist", d: Decision{Code: keyward.CodeMethodNotAllowed, Method: ordersGet},
			want: "This key may not call orders.get; its method allowlist does not include it."},
		{name: "merchant", d: Decision{Code: keyward.CodeMerchantMethodNotAllowed, Method: ordersGet, Merchant: true},
			want: "merchants may only create, read, update, delete and search"},
		{name: "store required names the location", d: Decision{Code: keyward.CodeStoreRequired, Method: ordersGet},
			want: "query parameter store"},
		{name: "store not allowed names the store", d: Decision{Code: keyward.CodeStoreNotAllowed, Method: ordersGet, Store: "s2"},
			want: `store "s2"`},
		{name: "expired", d: Decision{Code: keyward.CodeExpired}, want: "expired"},
		{name: "valid", d: Decision{Code: keyward.CodeValid, Method: ordersGet}, want: "may call orders.get"},
		{name: "unknown", d: Decision{Code: keyward.CodeUnknownMethod}, want: "no method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Message(); !strings.Contains(got, tt.want) {
				t.Errorf("Message() = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestExpiresAt(t *testing.T) {
	if _, ok := compile(t, Spec{}).ExpiresAt(); ok {
		t.Error("key without expiry reports one")
	}
	exp := now.Add(24 * time.Hour)
	if got, ok := compile(t, Spec{ExpiresAt: &exp}).ExpiresAt(); !ok || !got.Equal(exp) {
		t.Errorf("ExpiresAt() = %v, %v; want %v", got, ok, exp)
	}
}

func TestDecideAllocs(t *testing.T) {
	p := compile(t, Spec{Permissions: recharge, Stores: []string{"s1", "s2"}, ExpiresAt: ptr(now.Add(time.Hour))})
	ok, refused := method(t, "orders.get"), method(t, "payments.create")
	allocs := testing.AllocsPerRun(1000, func() {
		p.Decide(ok, "s2", now)
		p.Decide(ok, "s3", now)
		p.Decide(refused, "s1", now)
	})
	if allocs != 0 {
		t.Errorf("Decide allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkDecide(b *testing.B) {
	stores := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("store-%03d", i)
		}
		return s
	}
	cases := []struct {
		name  string
		spec  Spec
		id    string
		store string
	}{
		{"all_stores", Spec{Permissions: recharge, AllStores: true}, "orders.get", "s1"},
		{"allowlist_expiry", Spec{Permissions: recharge, AllStores: true, Methods: []string{"Orders"}, ExpiresAt: ptr(now.Add(time.Hour))}, "orders.get", "s1"},
		{"4_stores", Spec{Permissions: recharge, Stores: stores(4)}, "orders.get", "store-003"},
		{"64_stores", Spec{Permissions: recharge, Stores: stores(64)}, "orders.get", "store-063"},
		{"refused", Spec{Permissions: recharge, AllStores: true}, "payments.create", "s1"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := compile(b, c.spec)
			m := method(b, c.id)
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(m, c.store, now)
			}
		})
	}
}
