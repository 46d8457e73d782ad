package web

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/keyward/keyward"
)

// auditPage is one page of the audit log, newest first.
type auditPage struct {
	page
	Entries  []auditRow
	OlderURL string
	Paged    bool // not the newest page, so it links back to it
}

type auditRow struct {
	Entry   *keyward.AuditEntry
	Changes []auditChange
}

// auditChange is one changed field, its value written as JSON.
type auditChange struct {
	Field string
	Value string
}

// maxChangeText bounds how much of one value the page shows.
const maxChangeText = 300

// auditPageSize is how many entries one page shows.
const auditPageSize = 50

func (w *Web) listAudit(rw http.ResponseWriter, r *http.Request) error {
	var before int64
	if s := r.URL.Query().Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return keyward.Invalid("before", "The page link is not valid; start again from the newest entries.")
		}
		before = n
	}
	pg, err := w.svc.ListAudit(r.Context(), before, auditPageSize)
	if err != nil {
		return err
	}
	p := &auditPage{page: page{Title: "Audit log"}, Paged: before > 0}
	for _, e := range pg.Data {
		row := auditRow{Entry: e}
		for _, field := range slices.Sorted(maps.Keys(e.Changes)) {
			b, _ := json.Marshal(e.Changes[field])
			v := string(b)
			if len(v) > maxChangeText {
				v = v[:maxChangeText] + "…"
			}
			row.Changes = append(row.Changes, auditChange{Field: field, Value: v})
		}
		p.Entries = append(p.Entries, row)
	}
	if pg.NextCursor != "" {
		p.OlderURL = pathAudit + "?before=" + pg.NextCursor
	}
	w.render(rw, r, http.StatusOK, "audit", p)
	return nil
}
