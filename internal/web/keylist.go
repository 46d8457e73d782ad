package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

// The key list's orders, chosen with ?sort=: by name (the default), newest
// first, or most recently used first.
const (
	keySortName     = "name"
	keySortNewest   = "newest"
	keySortLastUsed = "last_used"
)

// keyListPage is how many keys one page of the list shows.
const keyListPage = 50

// sortLink is one order the list offers.
type sortLink struct {
	Label   string
	URL     string
	Current bool
}

// keySortLinks returns the orders with links keeping the filters, and the
// order chosen.
func keySortLinks(q url.Values) (string, []sortLink) {
	order := q.Get("sort")
	if order != keySortNewest && order != keySortLastUsed {
		order = keySortName
	}
	var out []sortLink
	for _, o := range []struct{ value, label string }{{keySortName, "Name"}, {keySortNewest, "Newest first"}, {keySortLastUsed, "Last used"}} {
		v := url.Values{}
		for k, vs := range q {
			if k != "sort" && k != "page" && k != "after" {
				v[k] = vs
			}
		}
		if o.value != keySortName {
			v.Set("sort", o.value)
		}
		u := pathKeys
		if len(v) > 0 {
			u += "?" + v.Encode()
		}
		out = append(out, sortLink{Label: o.label, URL: u, Current: o.value == order})
	}
	return order, out
}

// lastUsed is when any secret of k was last used; zero when never.
func lastUsed(k *keyward.Key) time.Time {
	var t time.Time
	for _, s := range k.Secrets {
		if s.LastUsedAt != nil && s.LastUsedAt.After(t) {
			t = *s.LastUsedAt
		}
	}
	return t
}

// sortedKeys lists the keys f selects in the order the request asks for
// (see keySortLinks) and returns one page of them; the page's cursor is
// the offset of the next page, passed back as ?page=.
func (w *Web) sortedKeys(r *http.Request, f keyward.KeyFilter, p *keysPage) (*service.Page[*keyward.Key], error) {
	q := r.URL.Query()
	p.Sort, p.Sorts = keySortLinks(q)
	offset, _ := strconv.Atoi(q.Get("page"))
	offset = max(offset, 0)
	var all []*keyward.Key
	f.After, f.Limit = "", 500
	for {
		pg, err := w.svc.ListKeys(r.Context(), f)
		if err != nil {
			return nil, err
		}
		all = append(all, pg.Data...)
		if pg.NextCursor == "" {
			break
		}
		f.After = pg.NextCursor
	}
	byName := func(a, b *keyward.Key) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	}
	switch p.Sort {
	case keySortNewest:
		slices.SortStableFunc(all, func(a, b *keyward.Key) int { return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), byName(a, b)) })
	case keySortLastUsed:
		slices.SortStableFunc(all, func(a, b *keyward.Key) int { return cmp.Or(lastUsed(b).Compare(lastUsed(a)), byName(a, b)) })
	default:
		slices.SortStableFunc(all, byName)
	}
	out := &service.Page[*keyward.Key]{Data: []*keyward.Key{}}
	if offset < len(all) {
		out.Data = all[offset:min(offset+keyListPage, len(all))]
	}
	if offset+keyListPage < len(all) {
		out.NextCursor = strconv.Itoa(offset + keyListPage)
	}
	return out, nil
}
