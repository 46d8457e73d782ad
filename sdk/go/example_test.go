package keyward_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward/sdk/go"
)

// The README's Go snippet, run against a real node: TestMain starts one and
// exports KW and TOKEN as the README's quick start does.
// TestREADMEShowsTheExample keeps the README's text the same as this body.
func ExampleNewClient() {
	ctx := context.Background()
	client, err := keyward.NewClient(os.Getenv("KW"), keyward.WithToken(os.Getenv("TOKEN"))) // as the quick start exports them
	if err != nil {
		log.Fatal(err)
	}
	key, err := client.Keys.Create(ctx, keyward.KeyCreate{
		Name: "THQ", Permissions: &keyward.Permissions{"orders": "read"},
	}) // sent with an Idempotency-Key, so a retry after a timeout makes one key
	if errors.Is(err, keyward.ErrConflict) { // or keyward.IsCode(err, "conflict")
		log.Fatal("a key of that name exists")
	} else if err != nil {
		log.Fatal(err) // a *keyward.ProblemError: status, code, detail, field
	}
	secret := *key.Secrets[0].Secret

	v, err := client.Verify.Method(ctx, secret, "orders.list", "main")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Code)

	for k, err := range client.Keys.List(ctx, nil) { // every page, following next_cursor
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(k.DisplayName)
	}

	// Disable the key and remove its allowlist (null), only if no one changed it since it was read.
	var etag string
	if _, err := client.Keys.Get(ctx, key.Id, keyward.ETagInto(&etag)); err != nil {
		log.Fatal(err)
	}
	key, err = client.Keys.Update(ctx, key.Id, keyward.KeyUpdate{
		Enabled: keyward.Bool(false), Methods: keyward.Null[[]string](),
	}, keyward.WithIfMatch(etag)) // errors.Is(err, keyward.ErrPreconditionFailed) if someone did
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Enabled)
	// Unordered output:
	// VALID
	// demo-Reporting
	// demo-Storefront
	// demo-THQ
	// false
}

// TestREADMEShowsTheExample: the README's Go snippet is ExampleNewClient's
// body, apart from its import lines and output, so what it shows is what
// runs.
func TestREADMEShowsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README has no Go snippet")
	}
	var shown []string
	inImport := false
	for _, l := range strings.Split(string(m[1]), "\n") {
		switch {
		case strings.HasPrefix(l, "import ("):
			inImport = true
		case inImport:
			inImport = l != ")"
		case strings.HasPrefix(l, "import "):
		default:
			shown = append(shown, l)
		}
	}

	fset := token.NewFileSet()
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(fset, "example_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var body string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "ExampleNewClient" {
			body = string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
		}
	}
	body, _, _ = strings.Cut(body, "\t// Unordered output:")
	var ran []string
	for _, l := range strings.Split(body, "\n") {
		ran = append(ran, strings.TrimPrefix(l, "\t"))
	}
	if got, want := strings.TrimSpace(strings.Join(shown, "\n")), strings.TrimSpace(strings.Join(ran, "\n")); got != want {
		t.Errorf("the README's Go snippet is not ExampleNewClient's body.\nREADME:\n%s\n\nExampleNewClient:\n%s", got, want)
	}
}

// TestMain starts a demo node for ExampleNewClient, unless -run leaves the
// examples out, and exports its address and token as KW and TOKEN.
func TestMain(m *testing.M) {
	flag.Parse()
	run := flag.Lookup("test.run").Value.String()
	if run == "" || regexp.MustCompile(run).MatchString("ExampleNewClient") {
		dir, err := os.MkdirTemp("", "keyward-example")
		if err != nil {
			log.Fatal(err)
		}
		url, token, _, stop, err := runDemoNode(dir)
		if err != nil {
			os.RemoveAll(dir)
			log.Fatal(err)
		}
		os.Setenv("KW", url)
		os.Setenv("TOKEN", token)
		code := m.Run()
		stop()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// runDemoNode builds keyward from this repository into dir and runs
// "keyward serve --demo" there on loopback ports, with args added; it
// returns the node's URL, the demo tenant's token and the operator token,
// as the README's first steps print them.
func runDemoNode(dir string, args ...string) (url, token, operator string, stop func(), err error) {
	bin := filepath.Join(dir, "keyward")
	build := exec.Command("go", "build", "-o", bin, "./cmd/keyward")
	build.Dir = "../.."
	if b, err := build.CombinedOutput(); err != nil {
		return "", "", "", nil, fmt.Errorf("go build: %v\n%s", err, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--demo", "--data", filepath.Join(dir, "data"),
		"--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--log-level", "error"}, args...)...)
	cmd.Env = append(os.Environ(), "KEYWARD_OPERATOR_TOKEN=", "KEYWARD_DATABASE_URL=", "KEYWARD_MASTER_KEY=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return "", "", "", nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		return "", "", "", nil, err
	}
	stop = func() { cancel(); cmd.Wait() }
	lines := bufio.NewScanner(out)
	tokenRE := regexp.MustCompile(`token:\s+(kwp_\S+)`)
	listenRE := regexp.MustCompile(`listening on (http://\S+)`)
	operatorRE := regexp.MustCompile(`Operator token \(shown once; keep it safe\): (kwo_\S+)`)
	var seen strings.Builder
	for lines.Scan() && (url == "" || token == "" || operator == "") {
		seen.WriteString(lines.Text() + "\n")
		if m := tokenRE.FindStringSubmatch(lines.Text()); m != nil {
			token = m[1]
		}
		if m := listenRE.FindStringSubmatch(lines.Text()); m != nil {
			url = m[1]
		}
		if m := operatorRE.FindStringSubmatch(lines.Text()); m != nil {
			operator = m[1]
		}
	}
	if url == "" || token == "" || operator == "" {
		stop()
		return "", "", "", nil, fmt.Errorf("the node printed no URL, token or operator token:\n%s", seen.String())
	}
	go io.Copy(io.Discard, out)
	return url, token, operator, stop, nil
}
