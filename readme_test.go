package keyward_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/keywardtest"
)

// executedPages are the pages TestDocsRunAsWritten runs, in this order, in
// one shell session against one node: later pages use what earlier ones
// exported.
var executedPages = []string{"README.md", "docs/tour.md", "docs/cli.md", "docs/configuration.md"}

// readmeAddrs are the loopback addresses the pages write; the test gives each
// a free port of its own and rewrites the pages' text to match.
var readmeAddrs = []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8090"}

// TestDocsRunAsWritten runs the shell blocks of the README and the pages it
// links, in order, in one bash session, against a real "keyward serve
// --demo" node, and checks every result the pages show. The conventions,
// also described in docs/tour.md's last section:
//
//   - Every ```sh block runs, unless the line before it is
//     <!-- not run: why --> (the reason is required).
//   - <!-- node: stop --> stops the node there, as a reader would press Ctrl-C.
//   - A block preceded by <!-- node --> holds the command starting the node
//     ("go run ./cmd/keyward serve --demo …"): the test (re)starts its built
//     keyward with those arguments, keeping the data directory.
//   - kwp_… in a command is the demo tenant's token and kwo_… the operator
//     token, as first printed; 127.0.0.1:8080, :8081, :8082 and :8090 are
//     rewritten to free ports.
//   - A comment starting with → shows a result, at the end of the command's
//     last line or on the lines right after it: "exit N" (otherwise the
//     command must succeed), an HTTP status (otherwise every curl of the
//     command must answer 2xx), then either a JSON fragment whose every
//     "field": value must appear in the answer (… matches anything) or words
//     that must each appear in the output ("quoted" ones with their quotes).
//     A ": " after them starts prose, which is not checked.
//   - A command goes on while its line ends with \ or the next one is
//     indented or starts with }.
func TestDocsRunAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keyward and runs the documentation against it")
	}
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the documentation's commands need %s: %v", tool, err)
		}
	}
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := newClone(t, repo)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "keyward"), "./cmd/keyward")
	build.Dir = repo
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	addrs := map[string]string{}
	for _, a := range readmeAddrs {
		addrs[a] = keywardtest.FreeAddr(t)
	}
	rewrite := func(s string) string {
		for from, to := range addrs {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}

	n := &docNode{t: t, dir: dir, addr: addrs["127.0.0.1:8080"], gateway: addrs["127.0.0.1:8081"]}
	t.Cleanup(n.stop)
	sh := startSession(t, dir)
	for _, page := range executedPages {
		text, err := os.ReadFile(filepath.Join(repo, page))
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseBlocks(page, string(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			switch {
			case b.skip != "":
				continue
			case b.node:
				n.start(rewrite(b.code))
				continue
			case b.stop:
				n.stop()
				continue
			}
			code := strings.NewReplacer("kwp_…", n.token, "kwo_…", n.operator).Replace(rewrite(b.code))
			res := sh.run(b, code)
			for _, c := range commandsOf(b) {
				c.expect = rewrite(c.expect)
				if msg := c.check(res); msg != "" {
					t.Errorf("%s:%d: %s\n  command: %s\n  output:\n%s", page, c.line, msg, c.text, indent(c.output(res)))
				}
			}
		}
	}
}

// newClone makes a directory that looks like a fresh clone to commands
// run in it (go build ./cmd/keyward, go run ./docs/examples/…) while the
// files they write stay out of the repository.
func newClone(t *testing.T, repo string) string {
	dir := t.TempDir()
	entries, err := os.ReadDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// A block is one ```sh block of a page.
type block struct {
	page  string
	line  int // the line of its first command, 1-based
	lines []string
	code  string
	skip  string // why it is not run
	node  bool
	stop  bool // <!-- node: stop -->
}

var (
	fenceRE  = regexp.MustCompile("^```(\\w*)\\s*$")
	notRunRE = regexp.MustCompile(`^<!--\s*not run:\s*(.*?)\s*-->$`)
	nodeRE   = regexp.MustCompile(`^<!--\s*node\s*-->$`)
	stopRE   = regexp.MustCompile(`^<!--\s*node:\s*stop\s*-->$`)
)

func parseBlocks(page, text string) ([]block, error) {
	lines := strings.Split(text, "\n")
	var out []block
	for i := 0; i < len(lines); i++ {
		if stopRE.MatchString(strings.TrimSpace(lines[i])) {
			out = append(out, block{page: page, line: i + 1, stop: true})
			continue
		}
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("%s:%d: a block that never ends", page, i+1)
		}
		if m[1] == "sh" || m[1] == "bash" || m[1] == "shell" {
			b := block{page: page, line: i + 2, lines: lines[i+1 : end]}
			b.code = strings.Join(b.lines, "\n") + "\n"
			prev := ""
			for j := i - 1; j >= 0; j-- {
				if s := strings.TrimSpace(lines[j]); s != "" {
					prev = s
					break
				}
			}
			if m := notRunRE.FindStringSubmatch(prev); m != nil {
				if m[1] == "" {
					return nil, fmt.Errorf("%s:%d: a block not run must say why", page, i+1)
				}
				b.skip = m[1]
			}
			b.node = nodeRE.MatchString(prev)
			out = append(out, b)
		}
		i = end
	}
	return out, nil
}

// A command is one command of a block with the result it shows.
type command struct {
	line, last int // first and last line, in the page
	text       string
	expect     string
	hasExpect  bool
}

var arrowRE = regexp.MustCompile(`(?:^|\s)#\s*→\s*(.*)$`)

func commandsOf(b block) []command {
	var cmds []command
	for i := 0; i < len(b.lines); i++ {
		l := b.lines[i]
		trim := strings.TrimSpace(l)
		if trim == "" {
			continue
		}
		if strings.HasPrefix(trim, "#") {
			// A shown result on its own line belongs to the command before.
			if m := arrowRE.FindStringSubmatch(l); m != nil && len(cmds) > 0 {
				c := &cmds[len(cmds)-1]
				c.expect, c.hasExpect = strings.TrimSpace(c.expect+" "+m[1]), true
				for i+1 < len(b.lines) && strings.HasPrefix(b.lines[i+1], "#  ") {
					i++
					c.expect += " " + strings.TrimSpace(strings.TrimPrefix(b.lines[i], "#"))
				}
			}
			continue
		}
		c := command{line: b.line + i}
		for {
			c.text += l + "\n"
			next := ""
			if i+1 < len(b.lines) {
				next = b.lines[i+1]
			}
			cont := strings.HasSuffix(strings.TrimRight(l, " "), "\\") ||
				(next != "" && (next[0] == ' ' || next[0] == '\t' || next[0] == '}'))
			if !cont || i+1 >= len(b.lines) {
				break
			}
			i++
			l = b.lines[i]
		}
		c.last = b.line + i
		if m := arrowRE.FindStringSubmatch(l); m != nil {
			c.expect, c.hasExpect = strings.TrimSpace(m[1]), true
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// A result is what a block printed, cut where each command began.
type result struct {
	chunks []chunk
	failed string // the session broke down
}

type chunk struct {
	line   int // the line bash was at when the command began
	exit   int // the status of the command before this chunk
	out    string
	status []int // HTTP statuses of its curl calls
}

func (c command) chunks(r result) []chunk {
	var out []chunk
	for _, ch := range r.chunks {
		if ch.line >= c.line && ch.line <= c.last {
			out = append(out, ch)
		}
	}
	return out
}

func (c command) output(r result) string {
	var b strings.Builder
	for _, ch := range c.chunks(r) {
		b.WriteString(ch.out)
	}
	return b.String()
}

// exitStatus is the status bash reported at the first chunk after the
// command.
func (c command) exitStatus(r result) int {
	for _, ch := range r.chunks {
		if ch.line > c.last {
			return ch.exit
		}
	}
	return 0
}

var statusRE = regexp.MustCompile(`^(?:exit (\d+)\s*)?(?:(\d{3})\b\s*)?`)

func (c command) check(r result) string {
	if r.failed != "" {
		return r.failed
	}
	if len(c.chunks(r)) == 0 {
		return "the command did not run"
	}
	m := statusRE.FindStringSubmatch(c.expect)
	rest := strings.TrimSpace(c.expect[len(m[0]):])
	wantExit := 0
	if m[1] != "" {
		wantExit, _ = strconv.Atoi(m[1])
	}
	if got := c.exitStatus(r); got != wantExit {
		return fmt.Sprintf("exit status %d, the page shows %d", got, wantExit)
	}
	var statuses []int
	for _, ch := range c.chunks(r) {
		statuses = append(statuses, ch.status...)
	}
	if m[2] != "" {
		want, _ := strconv.Atoi(m[2])
		if len(statuses) == 0 || statuses[len(statuses)-1] != want {
			return fmt.Sprintf("HTTP status %v, the page shows %d", statuses, want)
		}
	} else {
		for _, s := range statuses {
			if s < 200 || s > 299 {
				return fmt.Sprintf("HTTP status %d where the page shows no failure", s)
			}
		}
	}
	if rest == "" {
		return ""
	}
	out := c.output(r)
	if strings.HasPrefix(rest, "{") {
		return checkFragment(rest, out)
	}
	if i := strings.Index(rest, ": "); i >= 0 {
		rest = rest[:i]
	}
	for _, w := range strings.Fields(strings.TrimRight(rest, ":")) {
		w = strings.TrimRight(w, ",;")
		if w == "…" || w == "" {
			continue
		}
		if !regexp.MustCompile(wordPattern(w)).MatchString(out) {
			return fmt.Sprintf("the output lacks %s, which the page shows", w)
		}
	}
	return ""
}

// wordPattern matches a shown word in the output: whole, where it begins
// or ends with a letter, digit or _, with … standing for anything but
// space.
func wordPattern(w string) string {
	parts := strings.Split(w, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re := strings.Join(parts, `\S*`)
	isWord := regexp.MustCompile(`^\w`)
	if isWord.MatchString(w) {
		re = `(^|\W)` + re
	}
	if regexp.MustCompile(`\w$`).MatchString(w) {
		re += `(\W|$)`
	}
	return re
}

var pairRE = regexp.MustCompile(`"([^"]+)":\s*("(?:[^"\\]|\\.)*"|true|false|null|-?[0-9][0-9.]*)`)

// checkFragment reports what of a shown JSON fragment the output lacks:
// every "field": value in it must be a field of some object of the output.
func checkFragment(fragment, out string) string {
	var have [][2]string
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Sprintf("the page shows JSON but the output is not: %v", err)
		}
		have = appendPairs(have, v)
	}
	for _, p := range pairRE.FindAllStringSubmatch(fragment, -1) {
		want := p[2]
		if !slices.ContainsFunc(have, func(h [2]string) bool { return h[0] == p[1] && valueMatches(want, h[1]) }) {
			return fmt.Sprintf("the output lacks \"%s\": %s, which the page shows", p[1], want)
		}
	}
	return ""
}

func appendPairs(pairs [][2]string, v any) [][2]string {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			switch e.(type) {
			case map[string]any, []any:
				pairs = appendPairs(pairs, e)
			default:
				b, _ := json.Marshal(e)
				pairs = append(pairs, [2]string{k, string(b)})
			}
		}
	case []any:
		for _, e := range v {
			pairs = appendPairs(pairs, e)
		}
	}
	return pairs
}

// valueMatches compares a shown JSON value with one of the output; … in
// a shown string stands for anything.
func valueMatches(want, got string) bool {
	if !strings.Contains(want, "…") {
		var w, g any
		return json.Unmarshal([]byte(want), &w) == nil && json.Unmarshal([]byte(got), &g) == nil &&
			fmt.Sprint(w) == fmt.Sprint(g)
	}
	var s string
	if json.Unmarshal([]byte(got), &s) != nil {
		return false
	}
	parts := strings.Split(strings.Trim(want, `"`), "…")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// A session is one bash process the blocks are sourced into.
type session struct {
	t     *testing.T
	dir   string
	in    io.Writer
	lines chan string
	n     int
}

// sessionPrelude wraps curl to report each call's status and traps every
// top-level command of a sourced block to mark where its output begins.
// curl writes -w text a byte at a time, so a body another process (tee)
// writes at once could split the status line: the wrapper holds curl's
// stderr and writes it in one piece once curl is done.
const sessionPrelude = `curl() { local _w _s; { _w=$(command curl -w '%{stderr}\n@@status %{http_code}@@\n' "$@" 2>&1 >&3 3>&-); } 3>&1; _s=$?; printf '%s\n' "$_w" >&2; return $_s; }
set -T
trap 's=$?; if [[ $BASH_SUBSHELL == 0 && ${#FUNCNAME[@]} -le 1 && ${BASH_SOURCE[0]} == *.block ]]; then printf '\''\n@@cmd %d %d@@\n'\'' "$LINENO" "$s" >&2; fi' DEBUG
`

func startSession(t *testing.T, dir string) *session {
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	s := &session{t: t, dir: dir, in: in, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	io.WriteString(in, sessionPrelude)
	return s
}

// cleanEnv is the environment without KEYWARD_ settings of the machine
// running the tests, so the pages meet the defaults they describe.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KEYWARD_") {
			env = append(env, e)
		}
	}
	return env
}

var markRE = regexp.MustCompile(`^@@(cmd|status|done) ?(\d*) ?(\d*)@@$`)

// run sources one block, its lines at the page's line numbers so that the
// trap names them, and gathers its output.
func (s *session) run(b block, code string) result {
	s.n++
	file := filepath.Join(s.dir, fmt.Sprintf("%03d.block", s.n))
	if err := os.WriteFile(file, []byte(strings.Repeat("\n", b.line-1)+code), 0o600); err != nil {
		s.t.Fatal(err)
	}
	fmt.Fprintf(s.in, "source %q; printf '\\n@@done %%d@@\\n' \"$?\"\n", file)
	var r result
	var cur *chunk
	timeout := time.After(90 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				r.failed = "the shell ended"
				return r
			}
			m := markRE.FindStringSubmatch(l)
			switch {
			case m == nil:
				if cur != nil {
					cur.out += l + "\n"
				}
			case m[1] == "cmd":
				line, _ := strconv.Atoi(m[2])
				exit, _ := strconv.Atoi(m[3])
				r.chunks = append(r.chunks, chunk{line: line, exit: exit})
				cur = &r.chunks[len(r.chunks)-1]
			case m[1] == "status":
				code, _ := strconv.Atoi(m[2])
				if cur != nil {
					cur.status = append(cur.status, code)
				}
			case m[1] == "done":
				exit, _ := strconv.Atoi(m[2])
				r.chunks = append(r.chunks, chunk{line: 1 << 30, exit: exit})
				return r
			}
		case <-timeout:
			r.failed = "the block did not finish in 90 s"
			return r
		}
	}
}

// docNode is the keyward node the pages talk to.
type docNode struct {
	t               *testing.T
	dir             string
	addr, gateway   string
	token, operator string
	cmd             *exec.Cmd
	done            chan struct{}
	mu              sync.Mutex
	log             bytes.Buffer
}

var serveRE = regexp.MustCompile(`(?m)^(?:go run \./cmd/keyward|\./keyward|keyward) serve(.*)$`)

// start (re)starts the node with the arguments of a <!-- node --> block.
func (n *docNode) start(code string) {
	t := n.t
	m := serveRE.FindStringSubmatch(code)
	if m == nil {
		t.Fatalf("a <!-- node --> block starts no node:\n%s", code)
	}
	n.stop()
	args := append([]string{"serve"}, strings.Fields(m[1])...)
	args = append(args, "--addr", n.addr, "--gateway-addr", n.gateway)
	cmd := exec.Command(filepath.Join(n.dir, "keyward"), args...)
	cmd.Dir = n.dir
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	ready := make(chan struct{})
	var once sync.Once
	tokenRE := regexp.MustCompile(`^\s+token:\s+(kwp_\S+)`)
	opRE := regexp.MustCompile(`^Operator token \(shown once[^)]*\): (kwo_\S+)`)
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			n.mu.Lock()
			n.log.WriteString(l + "\n")
			if m := tokenRE.FindStringSubmatch(l); m != nil {
				n.token = m[1]
			}
			if m := opRE.FindStringSubmatch(l); m != nil {
				n.operator = m[1]
			}
			n.mu.Unlock()
			if strings.HasPrefix(l, "gateway listening on") {
				once.Do(func() { close(ready) })
			}
		}
		cmd.Wait()
	}()
	select {
	case <-ready:
	case <-n.done:
		t.Fatalf("the node stopped:\n%s", n.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("the node did not start:\n%s", n.output())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.token == "" || n.operator == "" {
		t.Fatalf("the node printed no demo token or operator token:\n%s", n.log.String())
	}
}

func (n *docNode) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

func (n *docNode) stop() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd = nil
}
