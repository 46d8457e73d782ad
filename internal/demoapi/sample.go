package demoapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/keyward/keyward/internal/catalog"
)

// Seed records Sample substitutes for path parameters.
var (
	seedIDs = map[string]string{
		"orders": "ord_1", "customers": "cus_1", "products": "prod_1", "discounts": "disc_1",
		"subscriptions": "sub_3", "payments": "pay_1", "jobs": "job_1", "actions": "act_1",
		"webhooks": "wh_1",
	}
	seedParams = map[string]string{
		"store": "main", "sku": "COF-ESP-250",
		"phone": "+49 30 1234 5678", "email": "emma.schneider@example.com",
	}
	// Valid bodies of the methods that take one, by catalog method id.
	bodies = map[string]string{
		"orders.create":        `{"customer_id":"cus_2","items":[{"sku":"COF-ESP-250","quantity":2,"price":8.9}]}`,
		"orders.update":        `{"status":"delivered"}`,
		"customers.create":     `{"first_name":"Mia","email":"mia@example.com","phone":"+49 89 555 0101"}`,
		"customers.update":     `{"city":"Potsdam"}`,
		"products.create":      `{"sku":"TEA-GRN-100","name":"Green tea, 100 g","price":6.5}`,
		"products.update":      `{"price":9.5}`,
		"inventory.update":     `{"quantity":40}`,
		"discounts.create":     `{"code":"AUTUMN5","percent_off":5}`,
		"subscriptions.create": `{"customer_id":"cus_4","plan":"Monthly beans","price":14.9}`,
		"subscriptions.update": `{"status":"paused"}`,
		"payments.create":      `{"order_id":"ord_4"}`,
		"payments.refund":      `{"amount":5}`,
		"jobs.create":          `{"merchant_id":"merchant_1","title":"Deliver order ord_8"}`,
		"jobs.update":          `{"status":"done"}`,
		"actions.create":       `{"merchant_id":"merchant_1","job_id":"job_1","type":"call"}`,
		"actions.update":       `{"note":"Left with the neighbour"}`,
		"webhooks.create":      `{"url":"https://example.com/hook","events":["order.created"]}`,
	}
)

// Sample builds a valid request for a catalog method of the built-in
// commerce catalog against the seed data, naming store where the method
// names a store. Access tests use it to call every method.
func Sample(m *catalog.Method, store string) (*http.Request, error) {
	segs := strings.Split(m.Path, "/")
	for i, s := range segs {
		name, ok := strings.CutPrefix(s, "{")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, "}")
		v, ok := seedParams[name]
		if name == "store" {
			v = store
		}
		if name == "id" {
			v, ok = seedIDs[m.Resource]
		}
		if !ok {
			return nil, fmt.Errorf("%s: no seed value for path parameter %q", m.ID, name)
		}
		segs[i] = url.PathEscape(v)
	}
	target := strings.Join(segs, "/")
	if m.Store.In == catalog.StoreQuery {
		target += "?" + m.Store.Name + "=" + url.QueryEscape(store)
	}
	var body io.Reader
	if m.HTTPMethod == http.MethodPost || m.HTTPMethod == http.MethodPut || m.HTTPMethod == http.MethodPatch {
		b, ok := bodies[m.ID]
		if !ok && !strings.HasSuffix(m.ID, ".cancel") {
			return nil, fmt.Errorf("%s: no body for %s", m.ID, m.HTTPMethod)
		}
		body = strings.NewReader(b)
	}
	req := httptest.NewRequest(m.HTTPMethod, target, body)
	if m.Store.In == catalog.StoreHeader {
		req.Header.Set(m.Store.Name, store)
	}
	return req, nil
}
