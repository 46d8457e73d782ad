package demoapi

import (
	"encoding/json"
	"net/http"
	"time"
)

// storeInfo is what the API knows of one store.
type storeInfo struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // shop or online
	Address  address `json:"address"`
	Phone    string  `json:"phone"`
	Email    string  `json:"email"`
	Currency string  `json:"currency"`
	Timezone string  `json:"timezone"`
	hours    []openingHours
}

type address struct {
	Street   string `json:"street"`
	City     string `json:"city"`
	Postcode string `json:"postcode"`
	Country  string `json:"country"`
}

type openingHours struct {
	Day    string `json:"day"`
	Open   string `json:"open,omitempty"`
	Close  string `json:"close,omitempty"`
	Closed bool   `json:"closed,omitempty"`
}

func (a *API) store(id string) *storeInfo {
	for i := range a.stores {
		if a.stores[i].ID == id {
			return &a.stores[i]
		}
	}
	return nil
}

// pathStore returns the store named by the path parameter store.
func (a *API) pathStore(r *http.Request) (*storeInfo, error) {
	id := r.PathValue("store")
	s := a.store(id)
	if s == nil {
		return nil, notFound("no store %q; the stores are main and online", id)
	}
	return s, nil
}

func week(from, to, satFrom, satTo string, sunday bool) []openingHours {
	var out []openingHours
	for _, d := range []string{"monday", "tuesday", "wednesday", "thursday", "friday"} {
		out = append(out, openingHours{Day: d, Open: from, Close: to})
	}
	out = append(out, openingHours{Day: "saturday", Open: satFrom, Close: satTo})
	if sunday {
		return append(out, openingHours{Day: "sunday", Open: satFrom, Close: satTo})
	}
	return append(out, openingHours{Day: "sunday", Closed: true})
}

// norm gives a Go literal the types JSON decoding gives (float64 numbers,
// []any lists), so seeded and posted records compare alike.
func norm(v record) record {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out record
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	return out
}

type line struct {
	sku   string
	qty   int
	price float64
}

// seed fills the API with the demo tenant's data, dated relative to now.
func (a *API) seed(now time.Time) {
	ago := func(days, hours int) string {
		return timestamp(now.Add(-time.Duration(days*24+hours) * time.Hour))
	}
	a.stores = []storeInfo{
		{
			ID: "main", Name: "Main Street Shop", Kind: "shop",
			Address: address{Street: "12 Main Street", City: "Springfield", Postcode: "10115", Country: "DE"},
			Phone:   "+49 30 5550 1200", Email: "main@demo-retail.example", Currency: "EUR", Timezone: "Europe/Berlin",
			hours: week("09:00", "19:00", "10:00", "17:00", false),
		},
		{
			ID: "online", Name: "Online Store", Kind: "online",
			Address: address{Street: "4 Warehouse Road", City: "Springfield", Postcode: "10117", Country: "DE"},
			Phone:   "+49 30 5550 1300", Email: "shop@demo-retail.example", Currency: "EUR", Timezone: "Europe/Berlin",
			// Customer service hours; the shop itself never closes.
			hours: week("08:00", "20:00", "09:00", "14:00", true),
		},
	}

	for _, c := range []record{
		{"first_name": "Emma", "last_name": "Schneider", "email": "emma.schneider@example.com", "phone": "+49 30 1234 5678", "city": "Berlin"},
		{"first_name": "Lukas", "last_name": "Weber", "email": "lukas.weber@example.com", "phone": "+49 40 9876 5432", "city": "Hamburg"},
		{"first_name": "Sofia", "last_name": "Rossi", "email": "sofia.rossi@example.com", "phone": "+39 02 1234 5678", "city": "Milan"},
		{"first_name": "James", "last_name": "Carter", "email": "j.carter@example.com", "phone": "+44 20 7946 0012", "city": "London"},
		{"first_name": "Ana", "last_name": "Costa", "email": "ana.costa@example.com", "phone": "+351 21 123 4567", "city": "Lisbon"},
	} {
		c["created_at"] = ago(200-10*len(a.customers.order), 0)
		a.customers.add(norm(c))
	}

	products := []struct {
		sku, name string
		price     float64
		main      int // stock at main; -1 when main does not sell it
		online    int
	}{
		{"COF-ESP-250", "Espresso beans, 250 g", 8.90, 34, 120},
		{"COF-FIL-500", "Filter coffee, 500 g", 12.50, 18, 75},
		{"MUG-CER-WHT", "Ceramic mug, white", 9.90, 22, 40},
		{"GRN-HND-01", "Hand grinder", 39.00, 3, 12},
		{"KTL-GOOSE-1", "Gooseneck kettle", 54.00, 0, 9},
		{"GFT-CARD-25", "Gift card, 25 EUR", 25.00, -1, 1000},
	}
	prices := map[string]float64{}
	for _, st := range []string{"main", "online"} {
		for _, p := range products {
			qty := p.online
			if st == "main" {
				qty = p.main
			}
			if qty < 0 {
				continue
			}
			prices[p.sku] = p.price
			a.products.add(norm(record{"store": st, "sku": p.sku, "name": p.name, "price": p.price, "currency": "EUR", "active": true, "created_at": ago(300, 0)}))
			a.inventory[invKey{st, p.sku}] = norm(record{"store": st, "sku": p.sku, "quantity": qty, "updated_at": ago(1, 3)})
		}
	}

	statusPath := []string{"new", "paid", "shipped", "delivered"}
	for _, o := range []struct {
		store, customer, status string
		days                    int
		lines                   []line
	}{
		{"main", "cus_1", "delivered", 21, []line{{"COF-ESP-250", 2, 0}, {"MUG-CER-WHT", 1, 0}}},
		{"main", "cus_2", "paid", 2, []line{{"GRN-HND-01", 1, 0}}},
		{"main", "cus_4", "cancelled", 9, []line{{"KTL-GOOSE-1", 1, 0}}},
		{"main", "cus_3", "new", 0, []line{{"COF-FIL-500", 3, 0}}},
		{"online", "cus_1", "shipped", 4, []line{{"COF-FIL-500", 2, 0}, {"GFT-CARD-25", 1, 0}}},
		{"online", "cus_5", "delivered", 30, []line{{"KTL-GOOSE-1", 1, 0}, {"COF-ESP-250", 4, 0}}},
		{"online", "cus_3", "paid", 1, []line{{"MUG-CER-WHT", 6, 0}}},
		{"online", "cus_2", "new", 0, []line{{"COF-ESP-250", 1, 0}}},
	} {
		var items []record
		total := 0.0
		for _, l := range o.lines {
			price := prices[l.sku]
			items = append(items, record{"sku": l.sku, "quantity": l.qty, "price": price})
			total += float64(l.qty) * price
		}
		order := a.orders.add(norm(record{
			"store": o.store, "customer_id": o.customer, "status": o.status, "items": items,
			"total": cents(total), "currency": "EUR", "created_at": ago(o.days, 5),
		}))
		var hist []record
		prev := ""
		for i, s := range statusPath {
			if o.status == "cancelled" && i == 2 {
				s = "cancelled"
			}
			entry := record{"at": ago(max(o.days-i, 0), 5-i), "status": s}
			if prev != "" {
				entry["previous"] = prev
			}
			hist, prev = append(hist, entry), s
			if s == o.status {
				break
			}
		}
		a.history[str(order, "id")] = hist
		if i := len(hist) - 1; i > 0 {
			order["updated_at"] = hist[i]["at"]
		}
	}

	for _, d := range []record{
		{"store": "main", "code": "WELCOME10", "description": "10% off a first visit", "percent_off": 10, "active": true, "ends_at": ago(-60, 0)},
		{"store": "online", "code": "SUMMER15", "description": "15% off all coffee", "percent_off": 15, "active": true, "ends_at": ago(-30, 0)},
		{"store": "online", "code": "BEANS20", "description": "20% off beans, spring sale", "percent_off": 20, "active": false, "ends_at": ago(40, 0)},
	} {
		d["created_at"] = ago(90, 0)
		a.discounts.add(norm(d))
	}

	for _, s := range []record{
		{"store": "online", "customer_id": "cus_1", "plan": "Monthly beans", "price": 14.90, "interval": "month", "status": "active", "started_at": ago(120, 0), "next_billing_at": ago(-12, 0)},
		{"store": "online", "customer_id": "cus_5", "plan": "Fortnightly filter coffee", "price": 11.50, "interval": "2 weeks", "status": "paused", "started_at": ago(60, 0), "next_billing_at": nil},
		{"store": "main", "customer_id": "cus_2", "plan": "Office coffee", "price": 49.00, "interval": "month", "status": "active", "started_at": ago(45, 0), "next_billing_at": ago(-15, 0)},
	} {
		s["created_at"] = s["started_at"]
		a.subscriptions.add(norm(s))
	}

	for _, id := range []string{"ord_1", "ord_2", "ord_3", "ord_5", "ord_6", "ord_7"} {
		o := a.orders.byID[id]
		p := record{
			"store": o["store"], "order_id": id, "amount": o["total"], "currency": "EUR", "method": "card",
			"status": "captured", "refunded": 0, "created_at": a.history[id][1]["at"],
		}
		if o["status"] == "cancelled" {
			p["status"], p["refunded"] = "refunded", o["total"]
			p["refunds"] = []record{{"amount": o["total"], "at": o["updated_at"], "reason": "order cancelled"}}
		}
		a.payments.add(norm(p))
	}

	for _, j := range []record{
		{"merchant_id": "merchant_1", "title": "Deliver order ord_5", "type": "delivery", "status": "in_progress", "order_id": "ord_5", "due_at": ago(-1, 0)},
		{"merchant_id": "merchant_1", "title": "Collect the return of order ord_3", "type": "pickup", "status": "open", "order_id": "ord_3", "due_at": ago(-2, 0)},
		{"merchant_id": "merchant_2", "title": "Restock espresso beans at Main Street", "type": "restock", "status": "open", "due_at": ago(-3, 0)},
		{"merchant_id": "merchant_2", "title": "Roast a batch for the online store", "type": "production", "status": "done", "due_at": ago(5, 0)},
	} {
		j["created_at"] = ago(6, 0)
		a.jobs.add(norm(j))
	}
	for _, x := range []record{
		{"merchant_id": "merchant_1", "job_id": "job_1", "type": "pickup", "note": "Parcel collected from the warehouse", "at": ago(1, 6)},
		{"merchant_id": "merchant_1", "job_id": "job_1", "type": "call", "note": "Customer asked for delivery after 18:00", "at": ago(1, 2)},
		{"merchant_id": "merchant_2", "job_id": "job_4", "type": "note", "note": "40 kg roasted, packed in 250 g bags", "at": ago(5, 1)},
	} {
		x["created_at"] = x["at"]
		a.actions.add(norm(x))
	}

	for _, h := range []record{
		{"url": "https://hooks.demo-retail.example/orders", "events": []string{"order.created", "order.updated"}, "active": true},
		{"url": "https://hooks.demo-retail.example/stock", "events": []string{"inventory.updated"}, "active": true},
	} {
		h["created_at"] = ago(150, 0)
		a.webhooks.add(norm(h))
	}
}
