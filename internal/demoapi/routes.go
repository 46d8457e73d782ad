package demoapi

import (
	"cmp"
	"math"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
)

// orderStatuses are the statuses an order can have, in their usual order.
var orderStatuses = []struct{ Code, Name string }{
	{"new", "New"},
	{"paid", "Paid"},
	{"shipped", "Shipped"},
	{"delivered", "Delivered"},
	{"cancelled", "Cancelled"},
}

func (a *API) routes() http.Handler {
	mux := http.NewServeMux()
	res := func(name string, c *collection, stored bool) *resource {
		return &resource{api: a, name: name, c: c, stored: stored}
	}

	orders := res("order", a.orders, true)
	orders.readOnly = []string{"total"}
	orders.check = a.checkOrder
	orders.saved = a.orderSaved
	a.handle(mux, "GET /api/v5/orders", noBody, orders.list(false, "status", "customer_id"))
	a.handle(mux, "GET /api/v5/orders/statuses", noBody, a.orderStatuses)
	a.handle(mux, "GET /api/v5/orders/{id}", noBody, orders.get)
	a.handle(mux, "GET /api/v5/orders/{id}/history", noBody, func(r *http.Request, _ record) (any, error) {
		rec, err := orders.find(r)
		if err != nil {
			return nil, err
		}
		return list(a.history[str(rec, "id")]), nil
	})
	a.handle(mux, "POST /api/v5/orders", needBody, orders.create)
	a.handle(mux, "PUT /api/v5/orders/{id}", needBody, orders.update)

	customers := res("customer", a.customers, false)
	customers.check = a.checkCustomer
	a.handle(mux, "GET /api/v5/customers", noBody, customers.list(false))
	a.handle(mux, "GET /api/v5/customers/{id}", noBody, customers.get)
	a.handle(mux, "GET /api/v5/customers/by-phone/{phone}", noBody, func(r *http.Request, _ record) (any, error) {
		want := digits(r.PathValue("phone"))
		return list(a.customers.filter(func(c record) bool {
			return want != "" && digits(str(c, "phone")) == want
		})), nil
	})
	a.handle(mux, "GET /api/v5/customers/by-email/{email}", noBody, func(r *http.Request, _ record) (any, error) {
		want := r.PathValue("email")
		return list(a.customers.filter(func(c record) bool {
			return strings.EqualFold(str(c, "email"), want)
		})), nil
	})
	a.handle(mux, "POST /api/v5/customers", needBody, customers.create)
	a.handle(mux, "PUT /api/v5/customers/{id}", needBody, customers.update)

	products := res("product", a.products, true)
	products.readOnly = []string{"sku"}
	products.check = a.checkProduct
	products.saved = a.productSaved
	products.removed = func(p record) { delete(a.inventory, invKey{str(p, "store"), str(p, "sku")}) }
	a.handle(mux, "GET /api/v5/products", noBody, products.list(false, "sku"))
	a.handle(mux, "GET /api/v5/products/{id}", noBody, products.get)
	a.handle(mux, "POST /api/v5/products", needBody, products.create)
	a.handle(mux, "PUT /api/v5/products/{id}", needBody, products.update)
	a.handle(mux, "DELETE /api/v5/products/{id}", noBody, products.delete)

	a.handle(mux, "GET /api/v5/inventory", noBody, a.listInventory)
	a.handle(mux, "GET /api/v5/stores/{store}/inventory/{sku}", noBody, a.getInventory)
	a.handle(mux, "PUT /api/v5/inventory/{sku}", needBody, a.setInventory)

	discounts := res("discount", a.discounts, true)
	discounts.check = checkDiscount
	a.handle(mux, "GET /api/v5/discounts", noBody, discounts.list(false, "code"))
	a.handle(mux, "GET /api/v5/discounts/{id}", noBody, discounts.get)
	a.handle(mux, "POST /api/v5/discounts", needBody, discounts.create)
	a.handle(mux, "DELETE /api/v5/discounts/{id}", noBody, discounts.delete)

	subs := res("subscription", a.subscriptions, true)
	subs.readOnly = []string{"customer_id", "cancelled_at"}
	subs.check = a.checkSubscription
	a.handle(mux, "GET /api/v5/subscriptions", noBody, subs.list(false, "status", "customer_id"))
	a.handle(mux, "GET /api/v5/subscriptions/{id}", noBody, subs.get)
	a.handle(mux, "POST /api/v5/subscriptions", needBody, subs.create)
	a.handle(mux, "PUT /api/v5/subscriptions/{id}", needBody, subs.update)
	a.handle(mux, "POST /api/v5/subscriptions/{id}/cancel", optionalBody, func(r *http.Request, _ record) (any, error) {
		rec, err := subs.find(r)
		if err != nil {
			return nil, err
		}
		if str(rec, "status") == "cancelled" {
			return nil, errorf(http.StatusConflict, "subscription %s is already cancelled", rec["id"])
		}
		rec["status"] = "cancelled"
		rec["cancelled_at"] = now()
		rec["next_billing_at"] = nil
		return rec, nil
	})

	payments := res("payment", a.payments, true)
	payments.check = a.checkPayment
	a.handle(mux, "GET /api/v5/payments", noBody, payments.list(false, "status", "order_id"))
	a.handle(mux, "GET /api/v5/payments/{id}", noBody, payments.get)
	a.handle(mux, "POST /api/v5/payments", needBody, payments.create)
	a.handle(mux, "POST /api/v5/payments/{id}/refund", optionalBody, func(r *http.Request, in record) (any, error) {
		rec, err := payments.find(r)
		if err != nil {
			return nil, err
		}
		return refund(rec, in)
	})

	a.handle(mux, "GET /api/v5/stores", noBody, func(*http.Request, record) (any, error) {
		out := make([]record, len(a.stores))
		for i, s := range a.stores {
			out[i] = record{"id": s.ID, "name": s.Name, "kind": s.Kind}
		}
		return list(out), nil
	})
	a.handle(mux, "GET /api/v5/stores/{store}/information", noBody, func(r *http.Request, _ record) (any, error) {
		s, err := a.pathStore(r)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
	a.handle(mux, "GET /api/v5/stores/{store}/opening-hours", noBody, func(r *http.Request, _ record) (any, error) {
		s, err := a.pathStore(r)
		if err != nil {
			return nil, err
		}
		return record{"store": s.ID, "timezone": s.Timezone, "hours": s.hours}, nil
	})

	for _, m := range []struct {
		path, name string
		c          *collection
		filters    []string
	}{
		{"/api/v5/jobs", "job", a.jobs, []string{"merchant_id", "status"}},
		{"/api/v5/actions", "action", a.actions, []string{"merchant_id", "job_id"}},
	} {
		owned := res(m.name, m.c, false)
		// The gateway records who owns a record when it is created.
		owned.readOnly = []string{"merchant_id"}
		a.handle(mux, "GET "+m.path, noBody, owned.list(false, m.filters...))
		a.handle(mux, "GET "+m.path+"/search", noBody, owned.list(true))
		a.handle(mux, "GET "+m.path+"/{id}", noBody, owned.get)
		a.handle(mux, "POST "+m.path, needBody, owned.create)
		a.handle(mux, "PUT "+m.path+"/{id}", needBody, owned.update)
		a.handle(mux, "DELETE "+m.path+"/{id}", noBody, owned.delete)
	}

	webhooks := res("webhook", a.webhooks, false)
	webhooks.check = checkWebhook
	a.handle(mux, "GET /api/v5/webhooks", noBody, webhooks.list(false))
	a.handle(mux, "POST /api/v5/webhooks", needBody, webhooks.create)
	a.handle(mux, "DELETE /api/v5/webhooks/{id}", noBody, webhooks.delete)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, record{"error": "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func (a *API) orderStatuses(r *http.Request, _ record) (any, error) {
	st, err := a.queryStore(r)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, o := range a.orders.byID {
		if st == "" || str(o, "store") == st {
			counts[str(o, "status")]++
		}
	}
	out := make([]record, len(orderStatuses))
	for i, s := range orderStatuses {
		out[i] = record{"code": s.Code, "name": s.Name, "orders": counts[s.Code]}
	}
	return list(out), nil
}

// checkOrder validates an order and totals its lines.
func (a *API) checkOrder(o, old record) error {
	if old == nil && o["status"] == nil {
		o["status"] = "new"
	}
	if !validStatus(str(o, "status")) {
		return badRequest("status must be one of new, paid, shipped, delivered, cancelled")
	}
	if id, ok := o["customer_id"]; ok {
		if s, _ := id.(string); a.customers.byID[s] == nil {
			return badRequest("no customer %v", id)
		}
	}
	items, _ := o["items"].([]any)
	if len(items) == 0 {
		return badRequest("an order needs a list of items")
	}
	total := 0.0
	for i, it := range items {
		line, _ := it.(record)
		qty, _, err := number(line, "quantity")
		price, _, err2 := number(line, "price")
		if str(line, "sku") == "" || err != nil || err2 != nil || qty <= 0 || price < 0 {
			return badRequest("items[%d] needs a sku, a positive quantity and a price of at least 0", i)
		}
		total += qty * price
	}
	o["total"] = cents(total)
	if o["currency"] == nil {
		o["currency"] = "EUR"
	}
	return nil
}

// orderSaved records a new order or a change of its status in its history.
func (a *API) orderSaved(o, old record) {
	entry := record{"at": o["created_at"], "status": o["status"]}
	if old != nil {
		if o["status"] == old["status"] {
			return
		}
		entry = record{"at": o["updated_at"], "status": o["status"], "previous": old["status"]}
	}
	id := str(o, "id")
	a.history[id] = append(a.history[id], entry)
}

func validStatus(s string) bool {
	for _, st := range orderStatuses {
		if st.Code == s {
			return true
		}
	}
	return false
}

func cents(v float64) float64 { return math.Round(v*100) / 100 }

// digits keeps the digits of a phone number, so that "+44 20 7946 0012"
// and "442079460012" are the same number.
func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func (a *API) checkCustomer(c, old record) error {
	email, phone := str(c, "email"), str(c, "phone")
	if email == "" && phone == "" {
		return badRequest("a customer needs an email or a phone")
	}
	if email != "" {
		if _, err := mail.ParseAddress(email); err != nil {
			return badRequest("email %q is not an address", email)
		}
		for _, other := range a.customers.byID {
			if other["id"] != c["id"] && strings.EqualFold(str(other, "email"), email) {
				return errorf(http.StatusConflict, "customer %s already has email %s", other["id"], email)
			}
		}
	}
	return nil
}

func (a *API) checkProduct(p, old record) error {
	if str(p, "sku") == "" || str(p, "name") == "" {
		return badRequest("a product needs a sku and a name")
	}
	if price, _, err := number(p, "price"); err != nil || price < 0 {
		return badRequest("price must be a number of at least 0")
	}
	key := invKey{str(p, "store"), str(p, "sku")}
	if _, ok := a.inventory[key]; ok && old == nil {
		return errorf(http.StatusConflict, "store %s already has a product with sku %s", key.store, key.sku)
	}
	return nil
}

// productSaved gives a new product an empty stock level.
func (a *API) productSaved(p, old record) {
	if old == nil {
		key := invKey{str(p, "store"), str(p, "sku")}
		a.inventory[key] = record{"store": key.store, "sku": key.sku, "quantity": 0.0, "updated_at": p["created_at"]}
	}
}

func checkDiscount(d, _ record) error {
	if str(d, "code") == "" {
		return badRequest("a discount needs a code")
	}
	pct, ok, err := number(d, "percent_off")
	if err != nil || ok && (pct <= 0 || pct > 100) {
		return badRequest("percent_off must be a number above 0 and at most 100")
	}
	if d["active"] == nil {
		d["active"] = true
	}
	return nil
}

func (a *API) checkSubscription(s, old record) error {
	if old == nil {
		if c := str(s, "customer_id"); c == "" || a.customers.byID[c] == nil {
			return badRequest("a subscription needs the id of an existing customer in customer_id")
		}
		if str(s, "plan") == "" {
			return badRequest("a subscription needs a plan")
		}
		s["status"] = "active"
		s["started_at"] = s["created_at"]
		return nil
	}
	if str(old, "status") == "cancelled" {
		return errorf(http.StatusConflict, "subscription %s is cancelled", old["id"])
	}
	if st := str(s, "status"); st != "active" && st != "paused" {
		return badRequest("status must be active or paused; cancel with POST /api/v5/subscriptions/%s/cancel", old["id"])
	}
	return nil
}

func (a *API) checkPayment(p, _ record) error {
	o := a.orders.byID[str(p, "order_id")]
	if o == nil || str(o, "store") != str(p, "store") {
		return badRequest("a payment needs the id of an order of store %s in order_id", str(p, "store"))
	}
	amount, ok, err := number(p, "amount")
	if err != nil || ok && amount <= 0 {
		return badRequest("amount must be a positive number")
	}
	if !ok {
		amount, _ = o["total"].(float64)
	}
	p["amount"] = cents(amount)
	p["refunded"] = 0.0
	p["status"] = "captured"
	if p["currency"] == nil {
		p["currency"] = o["currency"]
	}
	if p["method"] == nil {
		p["method"] = "card"
	}
	return nil
}

// refund refunds in["amount"] of a payment, or all that is left of it.
func refund(p, in record) (any, error) {
	total, _ := p["amount"].(float64)
	done, _ := p["refunded"].(float64)
	left := cents(total - done)
	if left <= 0 {
		return nil, errorf(http.StatusConflict, "payment %s is already fully refunded", p["id"])
	}
	amount, ok, err := number(in, "amount")
	if err != nil {
		return nil, err
	}
	if !ok {
		amount = left
	}
	amount = cents(amount)
	if amount <= 0 || amount > left {
		return nil, badRequest("amount must be above 0 and at most %.2f, what is left to refund", left)
	}
	refunds, _ := p["refunds"].([]any)
	p["refunds"] = append(refunds, record{"amount": amount, "at": now(), "reason": str(in, "reason")})
	p["refunded"] = cents(done + amount)
	p["status"] = "partially_refunded"
	if amount == left {
		p["status"] = "refunded"
	}
	return p, nil
}

func checkWebhook(h, _ record) error {
	u, err := url.Parse(str(h, "url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badRequest("a webhook needs an absolute http or https url")
	}
	if h["events"] == nil {
		h["events"] = []any{"*"}
	}
	if h["active"] == nil {
		h["active"] = true
	}
	return nil
}

// invKey names the stock of one SKU in one store.
type invKey struct{ store, sku string }

func (a *API) listInventory(r *http.Request, _ record) (any, error) {
	st, err := a.queryStore(r)
	if err != nil {
		return nil, err
	}
	sku := r.URL.Query().Get("sku")
	var out []record
	for k, v := range a.inventory {
		if (st == "" || k.store == st) && (sku == "" || k.sku == sku) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(x, y record) int {
		return cmp.Or(cmp.Compare(str(x, "store"), str(y, "store")), cmp.Compare(str(x, "sku"), str(y, "sku")))
	})
	return list(out), nil
}

func (a *API) getInventory(r *http.Request, _ record) (any, error) {
	s, err := a.pathStore(r)
	if err != nil {
		return nil, err
	}
	sku := r.PathValue("sku")
	v, ok := a.inventory[invKey{s.ID, sku}]
	if !ok {
		return nil, notFound("store %s has no sku %q", s.ID, sku)
	}
	return v, nil
}

func (a *API) setInventory(r *http.Request, in record) (any, error) {
	st := r.Header.Get("X-Store")
	if st == "" {
		return nil, badRequest("the X-Store header is required")
	}
	if a.store(st) == nil {
		return nil, notFound("no store %q; the stores are main and online", st)
	}
	sku := r.PathValue("sku")
	if _, ok := a.inventory[invKey{st, sku}]; !ok {
		return nil, notFound("store %s has no sku %q", st, sku)
	}
	qty, has, err := number(in, "quantity")
	if err != nil || !has || qty < 0 || qty != math.Trunc(qty) {
		return nil, badRequest("quantity must be a whole number of at least 0")
	}
	v := record{"store": st, "sku": sku, "quantity": qty, "updated_at": now()}
	a.inventory[invKey{st, sku}] = v
	return v, nil
}
