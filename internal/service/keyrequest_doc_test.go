package service_test

import (
	"os"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/service"
)

// The worked example in docs/handover.md is what keyward signs: its
// canonical text, its sig and its link, from its secret and fields.
func TestHandoverDocWorkedExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/handover.md")
	if err != nil {
		t.Fatal(err)
	}
	ex := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && (k == "secret" || k == "canonical" || k == "sig" || k == "link") {
			ex[k] = strings.TrimSpace(v)
		}
	}
	if len(ex) != 4 {
		t.Fatalf("the worked example has %d of its 4 lines", len(ex))
	}
	_, query, _ := strings.Cut(ex["link"], "?")
	fields := map[string]string{}
	for _, part := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(part, "=")
		if k != "sig" {
			fields[k] = strings.NewReplacer("+", " ", "%3A", ":", "%2C", ",").Replace(v)
		}
	}
	if got := service.CanonicalLink(fields); got != ex["canonical"] {
		t.Fatalf("canonical text:\n%s\nwant the page's\n%s", got, ex["canonical"])
	}
	sig, err := service.SignLink(ex["secret"], fields)
	if err != nil || sig != ex["sig"] {
		t.Fatalf("sig %s (%v), the page says %s", sig, err, ex["sig"])
	}
	if got := service.LinkQuery(fields, sig); got != query {
		t.Fatalf("link query:\n%s\nwant the page's\n%s", got, query)
	}
}
