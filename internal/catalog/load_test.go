package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// valid is a one-method catalog; tests replace a line to break it.
const valid = `version: "1"
methods:
  - id: things.get
    method: GET
    path: /api/v5/things/{id}
    block: Things
    resource: things
    access: read
    store: {in: query, name: store}
    summary: Get a thing
`

func TestLoad(t *testing.T) {
	c, err := Load(strings.NewReader(valid + `
  - id: things.create
    method: post
    path: /api/v5/things/
    block: Things
    resource: things
    access: write
    store: {in: header, name: x-store}
    merchant: true
    owner: {kind: create}
  - id: things.delete
    method: DELETE
    path: /api/v5/things/{thing}
    block: Other
    resource: other
    access: write
    merchant: true
    owner: {kind: record, param: thing}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != "1" || c.Len() != 3 {
		t.Fatalf("Version, Len = %q, %d", c.Version(), c.Len())
	}
	m, _ := c.Method("things.create")
	if m.HTTPMethod != "POST" || m.Path != "/api/v5/things" || m.Store.Name != "X-Store" || m.Owner.IDField != "id" || m.Index != 1 {
		t.Errorf("things.create = %+v", m)
	}
	if got, _, ok := c.Match("POST", "/api/v5/things"); !ok || got != m {
		t.Errorf("Match = %v", got)
	}
	d, _ := c.Method("things.delete")
	if got, p, ok := c.Match("DELETE", "/api/v5/things/9"); !ok || got != d || p.Get("thing") != "9" {
		t.Errorf("Match = %v, %v", got, p)
	}
}

func TestLoadErrors(t *testing.T) {
	method := func(extra string) string {
		return "methods:\n  - id: a.b\n    method: GET\n    path: /x/{id}\n    block: B\n    resource: r\n    access: read\n" + extra
	}
	tests := []struct {
		name string
		yaml string
		want []string // substrings the error must hold
	}{
		{name: "empty", yaml: "", want: []string{"empty"}},
		{name: "no methods", yaml: "version: 1\n", want: []string{"no methods"}},
		{name: "not yaml", yaml: "methods: [", want: []string{"catalog:"}},
		{name: "unknown top-level field", yaml: "colour: red\n" + method(""), want: []string{"colour"}},
		{name: "unknown method field", yaml: method("    verb: GET\n"), want: []string{"verb"}},
		{name: "unknown store field", yaml: method("    store: {in: query, name: s, where: x}\n"), want: []string{"where"}},
		{name: "missing id", yaml: strings.Replace(method(""), "id: a.b", "id: ''", 1), want: []string{`"#1"`, "id"}},
		{name: "duplicate id", yaml: method("") + "  - {id: a.b, method: PUT, path: /y, block: B, resource: r, access: write}\n",
			want: []string{`"a.b"`, "duplicate"}},
		{name: "duplicate method and path", yaml: method("") + "  - {id: c.d, method: GET, path: '/x/{other}/', block: B, resource: r, access: read}\n",
			want: []string{`"c.d"`, "GET /x/{other}", `"a.b"`}},
		{name: "unknown access", yaml: strings.Replace(method(""), "access: read", "access: admin", 1), want: []string{`"a.b"`, "access", `"admin"`}},
		{name: "missing access", yaml: strings.Replace(method(""), "    access: read\n", "", 1), want: []string{`"a.b"`, "access"}},
		{name: "unknown HTTP method", yaml: strings.Replace(method(""), "method: GET", "method: FETCH", 1), want: []string{`"a.b"`, "method", `"FETCH"`}},
		{name: "relative path", yaml: strings.Replace(method(""), "path: /x/{id}", "path: x/{id}", 1), want: []string{`"a.b"`, "path", `"x/{id}"`}},
		{name: "empty path segment", yaml: strings.Replace(method(""), "path: /x/{id}", "path: /x//{id}", 1), want: []string{`"a.b"`, "path", "empty segment"}},
		{name: "path with query", yaml: strings.Replace(method(""), "path: /x/{id}", "path: /x?a=1", 1), want: []string{`"a.b"`, "path"}},
		{name: "partial parameter", yaml: strings.Replace(method(""), "path: /x/{id}", "path: /x/id-{id}", 1), want: []string{`"a.b"`, "path", `"id-{id}"`}},
		{name: "repeated parameter", yaml: strings.Replace(method(""), "path: /x/{id}", "path: /x/{id}/{id}", 1), want: []string{`"a.b"`, "repeats", `"id"`}},
		{name: "too many parameters", yaml: strings.Replace(method(""), "path: /x/{id}", "path: /{a}/{b}/{c}/{d}/{e}", 1), want: []string{`"a.b"`, "at most 4"}},
		{name: "missing block", yaml: strings.Replace(method(""), "block: B", "block: ''", 1), want: []string{`"a.b"`, "block"}},
		{name: "bad resource", yaml: strings.Replace(method(""), "resource: r", "resource: Store Info", 1), want: []string{`"a.b"`, "resource", `"Store Info"`}},
		{name: "unknown store location", yaml: method("    store: {in: cookie, name: s}\n"), want: []string{`"a.b"`, "store", `"cookie"`}},
		{name: "store name without location", yaml: method("    store: {name: s}\n"), want: []string{`"a.b"`, "store", `"s"`}},
		{name: "query store without name", yaml: method("    store: {in: query}\n"), want: []string{`"a.b"`, "store", "name"}},
		{name: "path store not in path", yaml: method("    store: {in: path, name: store}\n"), want: []string{`"a.b"`, "store", `"store"`}},
		{name: "bad header name", yaml: method("    store: {in: header, name: 'X Store'}\n"), want: []string{`"a.b"`, "store", `"X Store"`}},
		{name: "unknown owner kind", yaml: method("    owner: {kind: tenant}\n"), want: []string{`"a.b"`, "owner", `"tenant"`}},
		{name: "owner fields without kind", yaml: method("    owner: {param: id}\n"), want: []string{`"a.b"`, "owner", "kind"}},
		{name: "owner param not in path", yaml: method("    owner: {kind: record, param: job}\n"), want: []string{`"a.b"`, "owner", `"job"`}},
		{name: "bad upgrade protocol", yaml: method("    upgrade: 'web socket'\n"), want: []string{`"a.b"`, "upgrade"}},
		{name: "reference to an unknown resource", yaml: strings.Replace(method("    references: [{field: job_id, resource: jobs}]\n"), "access: read", "access: write", 1), want: []string{`"a.b"`, "references", `"jobs"`}},
		{name: "reference on a read method", yaml: method("    references: [{field: job_id, resource: r}]\n"), want: []string{`"a.b"`, "references", "write"}},
		{name: "reference field not a name", yaml: strings.Replace(method("    references: [{field: 'job id', resource: r}]\n"), "access: read", "access: write", 1), want: []string{`"a.b"`, "references", `"job id"`}},
		{name: "unknown option", yaml: "options: {lenient: true}\n" + method(""), want: []string{"lenient"}},
		{name: "merchant and admin only", yaml: method("    merchant: true\n    admin_only: true\n"), want: []string{`"a.b"`, "admin_only"}},
		{name: "block named like a method", yaml: method("") + "  - {id: c.d, method: GET, path: /z, block: a.b, resource: r, access: read}\n",
			want: []string{`"a.b"`, "block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(strings.NewReader(tt.yaml))
			if err == nil {
				t.Fatalf("Load succeeded with %d methods, want an error", c.Len())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadFile(good); err != nil || c.Len() != 1 {
		t.Fatalf("LoadFile = %v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(valid, "access: read", "access: all", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), `"all"`) {
		t.Errorf("LoadFile(bad) error = %v, want one naming the file and the value", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("LoadFile(missing) succeeded")
	}
}

func TestBuiltinFileMatchesEmbedded(t *testing.T) {
	c, err := LoadFile("commerce.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != Builtin().Len() {
		t.Errorf("commerce.yaml has %d methods, Builtin %d", c.Len(), Builtin().Len())
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(valid)
	f.Add(commerceYAML)
	f.Add("")
	f.Add("methods: []")
	f.Add("methods:\n  - {id: a, method: GET, path: /, block: B, resource: r, access: read}\n")
	f.Add("methods:\n  - &a {id: a}\n  - *a\n")
	f.Add("methods: [{id: x, path: '/{a}/{b}/{c}/{d}/{e}'}]")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Load(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range c.Methods() {
			got, _, ok := c.Match(m.HTTPMethod, m.Path)
			if !ok || got != m {
				t.Fatalf("method %s: its own pattern %s %s matches %v", m.ID, m.HTTPMethod, m.Path, got)
			}
		}
	})
}

func TestLoadOptionsUpgradeReferences(t *testing.T) {
	c, err := Load(strings.NewReader("options: {method_override: true, path_params: true}\n" + valid + `
  - id: things.feed
    method: GET
    path: /api/v5/things/feed
    block: Things
    resource: things
    access: read
    upgrade: WebSocket
  - id: things.link
    method: POST
    path: /api/v5/links
    block: Things
    resource: things
    access: write
    merchant: true
    owner: {kind: create, field: owner}
    references: [{field: thing_id, resource: things}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Options(); !o.MethodOverride || !o.PathParams {
		t.Errorf("options %+v", o)
	}
	feed, _ := c.Method("things.feed")
	link, _ := c.Method("things.link")
	if feed.Upgrade != "websocket" || link.Upgrade != "" {
		t.Errorf("upgrade %q %q", feed.Upgrade, link.Upgrade)
	}
	if len(link.References) != 1 || link.References[0] != (Reference{Field: "thing_id", Resource: "things"}) || link.Owner.Field != "owner" {
		t.Errorf("link %+v", link)
	}
	if b := Builtin().Options(); b.MethodOverride || b.PathParams {
		t.Errorf("the built-in catalog allows %+v", b)
	}
	if jobs, _ := Builtin().Method("jobs.get"); jobs.Owner.Field != "merchant_id" {
		t.Errorf("default owner field %q", jobs.Owner.Field)
	}
}

func TestLoadEvents(t *testing.T) {
	const base = "methods:\n  - {id: a.list, method: GET, path: /a, block: A, resource: a, access: read}\n"
	c, err := Load(strings.NewReader(base + "events:\n  - {type: job.created, summary: A job, schema: {type: object, required: [id]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ev := c.Events()
	if len(ev) != 1 || ev[0].Type != "job.created" || string(ev[0].Schema) != `{"required":["id"],"type":"object"}` {
		t.Errorf("Events() = %+v", ev)
	}
	if m, ok := c.Method(EventsSend); !ok || !c.HasResource("events") || m.HTTPMethod != "POST" || m.Path != "/v1/events" {
		t.Errorf("a catalog declaring events lacks %s: %v %v", EventsSend, m, ok)
	}
	c, err = Load(strings.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Method(EventsSend); ok || c.HasResource("events") {
		t.Error("a catalog declaring no events has events.send")
	}
	for _, bad := range []string{"Job.Created", "job", "job..created", "job.created\n  - {type: job.created}"} {
		if _, err := Load(strings.NewReader(base + "events:\n  - {type: " + bad + "}\n")); err == nil {
			t.Errorf("event type %q accepted", bad)
		}
	}
}
