package conventions

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Every check below is a function from a loaded module to a list of
// violations. The Test functions run them over this repository and expect
// none; TestChecksCatchViolations runs them over small modules built to
// break each rule and expects the violations, so a check that silently
// stopped checking would fail too.

// forbiddenPackageNames are grab-bag names: a package is named for what it
// provides.
var forbiddenPackageNames = []string{"util", "utils", "common", "helpers", "misc"}

// importRules say which packages may not import what, directly.
var importRules = []importRule{
	{
		name:     "keys uses crypto/rand only",
		packages: []string{"keys/..."},
		banned:   []string{"math/rand", "math/rand/v2"},
		tests:    true,
	},
}

// depRules say which packages may not depend on what, transitively, in
// their non-test code (go list -deps).
var depRules = []depRule{
	{
		name:     "the agency binary does not carry the matcher",
		packages: []string{"cmd/agency"},
		banned:   []string{"matcher/..."},
	},
	{
		name:     "the matcher binary never normalises or holds identities",
		packages: []string{"cmd/matcher"},
		banned:   []string{"agency/...", "synth/..."},
	},
	{
		name:     "no node trusts a party named in metadata, or logs to memory",
		packages: []string{"cmd/..."},
		banned:   []string{"internal/partytest", "audit/audittest"},
	},
	{
		name: "protobuf types stay at the network edge",
		packages: []string{
			"matcher/linkage/...", "matcher/rules/...", "matcher/store/...", "matcher/ingest/...",
			"agency/mapping/...", "agency/normalize/...", "agency/derive/...", "keys/...",
		},
		banned: []string{"proto/..."},
	},
}

// secretRule: no code built into the matcher binary, and no package under
// matcher/, names the programme secret. The matcher never holds the
// programme key (DESIGN.md, threat model 1 and 3).
var secretRule = identRule{
	name:     "the matcher never reads a programme secret",
	binaries: []string{"cmd/matcher"},
	packages: []string{"matcher/..."},
	except:   []string{"keys"}, // the package that defines it
	ident:    "ProgrammeSecret",
}

// knownMissingDocs are packages known to break the doc rule, with the
// reason; each is reported in the test log until fixed. An entry whose
// package has since gained its doc comment fails the test, so that the
// list shrinks.
var knownMissingDocs = map[string]string{}

func TestPackageDocs(t *testing.T) {
	m := loadRepo(t)
	found := map[string]bool{}
	for _, v := range missingDocs(m) {
		if why, ok := knownMissingDocs[v.pkg]; ok {
			found[v.pkg] = true
			t.Logf("known violation, still to fix: %s (%s)", v, why)
			continue
		}
		t.Error(v)
	}
	for p := range knownMissingDocs {
		if !found[p] {
			t.Errorf("%s is listed in knownMissingDocs but now has a good doc comment (or is gone): remove the entry", p)
		}
	}
}

func TestPackageNames(t *testing.T) {
	for _, v := range badNames(loadRepo(t), forbiddenPackageNames) {
		t.Error(v)
	}
}

func TestImports(t *testing.T) {
	m := loadRepo(t)
	for _, r := range importRules {
		t.Run(r.name, func(t *testing.T) {
			if len(m.match(r.packages)) == 0 {
				t.Fatalf("rule matches no package: %v", r.packages)
			}
			for _, v := range bannedImports(m, r) {
				t.Error(v)
			}
		})
	}
}

func TestDependencies(t *testing.T) {
	m := loadRepo(t)
	for _, r := range depRules {
		t.Run(r.name, func(t *testing.T) {
			if len(m.match(r.packages)) == 0 {
				t.Fatalf("rule matches no package: %v", r.packages)
			}
			vs, err := bannedDeps(m, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				t.Error(v)
			}
		})
	}
}

func TestMatcherHoldsNoProgrammeSecret(t *testing.T) {
	m := loadRepo(t)
	vs, err := identUses(m, secretRule)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Error(v)
	}
}

// TestChecksCatchViolations builds small modules that break one rule each
// and checks that the check reports exactly the planted violations.
func TestChecksCatchViolations(t *testing.T) {
	// good is a module that keeps every rule.
	good := map[string]string{
		"go.mod":                    "module tfmatch\n\ngo 1.22\n",
		"keys/keys.go":              "// Package keys holds secrets.\npackage keys\n\nimport _ \"crypto/rand\"\n\ntype ProgrammeSecret [32]byte\n",
		"matcher/linkage/l.go":      "// Package linkage links.\npackage linkage\n",
		"matcher/m.go":              "// Package matcher matches.\npackage matcher\n\nimport _ \"tfmatch/matcher/linkage\"\n",
		"agency/a.go":               "// Package agency is the agency node.\npackage agency\n\nimport _ \"tfmatch/keys\"\n",
		"proto/v1/pb.go":            "// Package v1 is the wire contract.\npackage v1\n",
		"cmd/agency/main.go":        "// Command agency is the agency node.\npackage main\n\nimport (\n\t_ \"tfmatch/agency\"\n\t_ \"tfmatch/proto/v1\"\n)\n\nfunc main() {}\n",
		"cmd/matcher/main.go":       "// Command matcher is the matcher.\npackage main\n\nimport _ \"tfmatch/matcher\"\n\nfunc main() {}\n",
		"e2e/doc.go":                "// Package e2e holds tests.\npackage e2e\n",
		"e2e/e2e_test.go":           "package e2e\n",
		"synth/s.go":                "// Package synth makes data.\npackage synth\n\nimport _ \"math/rand/v2\"\n",
		"ignored/x.go":              "//go:build ignore\n\npackage main\n",
		"testdata/x/bad.go":         "package util\n",
		".hidden/bad.go":            "package util\n",
		"nested/go.mod":             "module nested\n",
		"nested/util/bad.go":        "package util\n",
		"matcher/linkage/l_test.go": "package linkage\n\nimport \"tfmatch/keys\"\n\nvar _ keys.ProgrammeSecret\n",
	}
	with := func(changes map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range good {
			out[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	docs := func(m *module) ([]string, error) { return strs(missingDocs(m)), nil }
	names := func(m *module) ([]string, error) { return badNames(m, forbiddenPackageNames), nil }
	imports := func(m *module) ([]string, error) { return bannedImports(m, importRules[0]), nil }
	deps := func(m *module) ([]string, error) {
		var all []string
		for _, r := range depRules {
			vs, err := bannedDeps(m, r)
			if err != nil {
				return nil, err
			}
			all = append(all, vs...)
		}
		return all, nil
	}
	secret := func(m *module) ([]string, error) { return identUses(m, secretRule) }

	tests := []struct {
		name  string
		check func(*module) ([]string, error)
		files map[string]string
		want  []string // one substring per expected violation
	}{
		{"docs/clean", docs, good, nil},
		{"docs/missing", docs, with(map[string]string{"matcher/linkage/l.go": "package linkage\n"}), []string{"matcher/linkage: no package doc comment"}},
		{"docs/only in a test file", docs, with(map[string]string{
			"matcher/linkage/l.go":      "package linkage\n",
			"matcher/linkage/l_test.go": "// Package linkage links.\npackage linkage\n",
		}), []string{"matcher/linkage: no package doc comment"}},
		{"docs/test-only package", docs, with(map[string]string{"e2e/doc.go": ""}), []string{"e2e: test-only package"}},
		{"docs/command", docs, with(map[string]string{"cmd/matcher/main.go": "package main\n\nfunc main() {}\n"}), []string{"cmd/matcher: no package doc comment"}},
		{"docs/generated header is no doc", docs, with(map[string]string{"proto/v1/pb.go": "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage v1\n"}), []string{`proto/v1: package doc comment should start "Package v1 "`}},
		{"names/clean", names, good, nil},
		{"names/util", names, with(map[string]string{"internal/util/u.go": "// Package util is a grab-bag.\npackage util\n"}), []string{"internal/util: package util"}},
		{"names/dir only", names, with(map[string]string{"common/c.go": "// Package shared is a grab-bag.\npackage shared\n"}), []string{"common: directory common"}},
		{"imports/clean", imports, good, nil},
		{"imports/math rand", imports, with(map[string]string{"keys/r.go": "package keys\n\nimport _ \"math/rand\"\n"}), []string{`keys/r.go: imports "math/rand"`}},
		{"imports/math rand v2 in a subpackage test", imports, with(map[string]string{"keys/sub/r_test.go": "package sub\n\nimport _ \"math/rand/v2\"\n"}), []string{`keys/sub/r_test.go: imports "math/rand/v2"`}},
		{"deps/clean", deps, good, nil},
		{"deps/agency binary carries the matcher", deps, with(map[string]string{"agency/b.go": "package agency\n\nimport _ \"tfmatch/matcher\"\n"}), []string{"tfmatch/cmd/agency depends on tfmatch/matcher (tfmatch/cmd/agency -> tfmatch/agency -> tfmatch/matcher)", "tfmatch/cmd/agency depends on tfmatch/matcher/linkage"}},
		{"deps/matcher binary carries synth", deps, with(map[string]string{"matcher/s.go": "package matcher\n\nimport _ \"tfmatch/synth\"\n"}), []string{"tfmatch/cmd/matcher depends on tfmatch/synth"}},
		{"deps/matcher binary carries agency", deps, with(map[string]string{"cmd/matcher/a.go": "package main\n\nimport _ \"tfmatch/agency\"\n"}), []string{"tfmatch/cmd/matcher depends on tfmatch/agency"}},
		{"deps/pb in linkage", deps, with(map[string]string{"matcher/linkage/p.go": "package linkage\n\nimport _ \"tfmatch/proto/v1\"\n"}), []string{"tfmatch/matcher/linkage depends on tfmatch/proto/v1"}},
		{"deps/pb in keys through another package", deps, with(map[string]string{
			"keys/w.go":      "package keys\n\nimport _ \"tfmatch/keys/wire\"\n",
			"keys/wire/w.go": "// Package wire leaks.\npackage wire\n\nimport _ \"tfmatch/proto/v1\"\n",
		}), []string{"tfmatch/keys depends on tfmatch/proto/v1 (tfmatch/keys -> tfmatch/keys/wire -> tfmatch/proto/v1)", "tfmatch/keys/wire depends on tfmatch/proto/v1"}},
		{"secret/clean", secret, good, nil},
		{"secret/in matcher", secret, with(map[string]string{"matcher/k.go": "package matcher\n\nimport \"tfmatch/keys\"\n\nvar _ keys.ProgrammeSecret\n"}), []string{"matcher/k.go:5: names ProgrammeSecret"}},
		{"secret/constructor in the binary", secret, with(map[string]string{"cmd/matcher/k.go": "package main\n\nimport \"tfmatch/keys\"\n\nvar _ = keys.NewProgrammeSecret\n"}), []string{"cmd/matcher/k.go:5: names NewProgrammeSecret"}},
		{"secret/in a dependency of the binary", secret, with(map[string]string{
			"cmd/matcher/k.go":   "package main\n\nimport _ \"tfmatch/internal/boot\"\n",
			"internal/boot/b.go": "// Package boot boots.\npackage boot\n\nimport \"tfmatch/keys\"\n\nfunc load(p *keys.ProgrammeSecret) {}\n",
		}), []string{"internal/boot/b.go:6: names ProgrammeSecret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m, err := loadModule(root)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.check(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			sort.Strings(got)
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			for i := range want {
				if !strings.Contains(got[i], want[i]) {
					t.Errorf("violation %d = %q, want it to contain %q", i, got[i], want[i])
				}
			}
		})
	}
}

// ---- loading ----

// module is a Go module parsed from source.
type module struct {
	root string // directory holding go.mod
	path string // module path
	fset *token.FileSet
	pkgs []*pkg // sorted by dir
}

// pkg is the Go files of one directory.
type pkg struct {
	dir        string // slash-separated, relative to the module root ("." for the root)
	importPath string
	name       string      // package name of the non-test files ("" if none)
	files      []*ast.File // non-test files that build on this platform
	tests      []*ast.File // _test.go files
}

// rel returns the module-relative path of a file.
func (m *module) rel(f *ast.File) string {
	p, err := filepath.Rel(m.root, m.fset.File(f.Package).Name())
	if err != nil {
		return m.fset.File(f.Package).Name()
	}
	return filepath.ToSlash(p)
}

// match returns the packages matching any of the module-relative patterns
// ("keys", "matcher/...").
func (m *module) match(patterns []string) []*pkg {
	var out []*pkg
	for _, p := range m.pkgs {
		for _, pat := range patterns {
			if matchPattern(pat, p.dir) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// matchPattern reports whether path matches pattern, where a pattern
// ending in "/..." matches that path and everything beneath it.
func matchPattern(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// repo loads this repository once per test binary. The module root is
// two directories up from this package.
var repo = sync.OnceValues(func() (*module, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return nil, err
	}
	m, err := loadModule(root)
	if err != nil {
		return nil, err
	}
	if m.path != "tfmatch" {
		return nil, fmt.Errorf("module at %s is %q, want tfmatch", root, m.path)
	}
	return m, nil
})

func loadRepo(t *testing.T) *module {
	t.Helper()
	m, err := repo()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loadModule parses every Go file of the module rooted at root, skipping
// what the go command skips: directories named testdata or starting with
// "." or "_", nested modules and files excluded by build constraints.
func loadModule(root string) (*module, error) {
	modPath, err := readModulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	m := &module{root: root, path: modPath, fset: token.NewFileSet()}
	byDir := map[string]*pkg{}
	ctxt := build.Default
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == root {
				return nil
			}
			name := d.Name()
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") {
			return nil
		}
		dir := filepath.Dir(p)
		if ok, err := ctxt.MatchFile(dir, d.Name()); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		} else if !ok {
			return nil
		}
		f, err := parser.ParseFile(m.fset, p, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		pk := byDir[rel]
		if pk == nil {
			pk = &pkg{dir: rel, importPath: path.Join(modPath, rel)}
			byDir[rel] = pk
			m.pkgs = append(m.pkgs, pk)
		}
		if strings.HasSuffix(p, "_test.go") {
			pk.tests = append(pk.tests, f)
		} else {
			pk.files = append(pk.files, f)
			pk.name = f.Name.Name
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading module at %s: %w", root, err)
	}
	sort.Slice(m.pkgs, func(i, j int) bool { return m.pkgs[i].dir < m.pkgs[j].dir })
	return m, nil
}

func readModulePath(gomod string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("%s: no module line", gomod)
}

// ---- checks ----

// docViolation is a package without a proper doc comment.
type docViolation struct {
	pkg, problem string
}

func (v docViolation) String() string { return v.pkg + ": " + v.problem }

func strs(vs []docViolation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

// missingDocs reports every package with no doc comment in a non-test
// file, or whose doc comment does not start the way go doc expects
// ("Package name ..."; for a command, "Command ..." or its name).
func missingDocs(m *module) []docViolation {
	var out []docViolation
	for _, p := range m.pkgs {
		if len(p.files) == 0 {
			out = append(out, docViolation{p.dir, "test-only package: add a doc.go with a package doc comment"})
			continue
		}
		var doc string
		for _, f := range p.files {
			if f.Doc != nil {
				doc = f.Doc.Text()
				break
			}
		}
		if doc == "" {
			out = append(out, docViolation{p.dir, fmt.Sprintf("no package doc comment in a non-test file (package %s)", p.name)})
			continue
		}
		if p.name == "main" {
			base := path.Base(p.importPath)
			if !strings.HasPrefix(doc, "Command ") && !strings.HasPrefix(strings.ToLower(doc), base+" ") {
				out = append(out, docViolation{p.dir, fmt.Sprintf(`command doc comment should start "Command %s " (or "%s ")`, base, base)})
			}
			continue
		}
		if !strings.HasPrefix(doc, "Package "+p.name+" ") && !strings.HasPrefix(doc, "Package "+p.name+"\n") {
			out = append(out, docViolation{p.dir, fmt.Sprintf("package doc comment should start %q", "Package "+p.name+" ")})
		}
	}
	return out
}

// badNames reports packages or directories with a grab-bag name.
func badNames(m *module, banned []string) []string {
	var out []string
	for _, p := range m.pkgs {
		for _, b := range banned {
			if p.name == b {
				out = append(out, fmt.Sprintf("%s: package %s: name a package for what it provides", p.dir, p.name))
			}
			if path.Base(p.dir) == b && p.name != b {
				out = append(out, fmt.Sprintf("%s: directory %s: name a package for what it provides", p.dir, b))
			}
		}
	}
	return out
}

// importRule bans direct imports in some packages.
type importRule struct {
	name     string
	packages []string // module-relative patterns
	banned   []string // import paths
	tests    bool     // check _test.go files too
}

// bannedImports reports each file of the rule's packages that imports a
// banned path.
func bannedImports(m *module, r importRule) []string {
	var out []string
	for _, p := range m.match(r.packages) {
		files := p.files
		if r.tests {
			files = append(append([]*ast.File(nil), p.files...), p.tests...)
		}
		for _, f := range files {
			for _, imp := range f.Imports {
				ip := strings.Trim(imp.Path.Value, "`\"")
				for _, b := range r.banned {
					if ip == b {
						out = append(out, fmt.Sprintf("%s: imports %q (%s)", m.rel(f), ip, r.name))
					}
				}
			}
		}
	}
	return out
}

// depRule bans transitive dependencies of some packages.
type depRule struct {
	name     string
	packages []string // module-relative patterns
	banned   []string // module-relative patterns
}

// bannedDeps reports each package of the rule that depends, through its
// non-test code, on a banned package, with one import chain that does it.
func bannedDeps(m *module, r depRule) ([]string, error) {
	var out []string
	for _, p := range m.match(r.packages) {
		if len(p.files) == 0 {
			continue
		}
		g, err := goListDeps(m.root, p.importPath)
		if err != nil {
			return nil, err
		}
		var deps []string
		for d := range g {
			deps = append(deps, d)
		}
		sort.Strings(deps)
		for _, d := range deps {
			rel, ok := strings.CutPrefix(d, m.path+"/")
			if !ok || d == p.importPath {
				continue
			}
			for _, b := range r.banned {
				if matchPattern(b, rel) {
					out = append(out, fmt.Sprintf("%s depends on %s (%s): %s", p.importPath, d, strings.Join(chain(g, p.importPath, d), " -> "), r.name))
					break
				}
			}
		}
	}
	return out, nil
}

// goListDeps returns the import graph of pkg's non-test dependencies:
// each package to its direct imports.
func goListDeps(root, pkg string) (map[string][]string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("the dependency rules need the go command: %w", err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", pkg)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w\n%s", pkg, err, stderr.Bytes())
	}
	g := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(outb)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			g[f[0]] = f[1:]
		}
	}
	if _, ok := g[pkg]; !ok {
		return nil, errors.New("go list -deps " + pkg + ": package missing from its own output")
	}
	return g, nil
}

// chain returns a shortest import chain from one package to another.
func chain(g map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var out []string
			for n := to; n != ""; n = prev[n] {
				out = append([]string{n}, out...)
			}
			return out
		}
		for _, next := range g[cur] {
			if _, seen := prev[next]; !seen {
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return []string{from, "?", to}
}

// identRule bans an identifier from the code of some binaries and packages.
type identRule struct {
	name     string
	binaries []string // module-relative main packages: their whole dependency closure in the module
	packages []string // module-relative patterns
	except   []string // module-relative patterns exempt (the defining package)
	ident    string   // banned when an identifier contains it
}

// identUses reports every identifier containing r.ident (keys.ProgrammeSecret,
// keys.NewProgrammeSecret, ...) in the non-test files of the packages the
// rule covers. Comments do not count.
func identUses(m *module, r identRule) ([]string, error) {
	covered := map[string]bool{}
	for _, p := range m.match(r.packages) {
		covered[p.dir] = true
	}
	for _, b := range r.binaries {
		g, err := goListDeps(m.root, path.Join(m.path, b))
		if err != nil {
			return nil, err
		}
		for d := range g {
			if d == m.path {
				covered["."] = true
			} else if rel, ok := strings.CutPrefix(d, m.path+"/"); ok {
				covered[rel] = true
			}
		}
	}
	var out []string
	for _, p := range m.pkgs {
		if !covered[p.dir] {
			continue
		}
		exempt := false
		for _, e := range r.except {
			exempt = exempt || matchPattern(e, p.dir)
		}
		if exempt {
			continue
		}
		for _, f := range p.files {
			ast.Inspect(f, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && strings.Contains(id.Name, r.ident) {
					out = append(out, fmt.Sprintf("%s:%d: names %s (%s)", m.rel(f), m.fset.Position(id.Pos()).Line, id.Name, r.name))
				}
				return true
			})
		}
	}
	return out, nil
}
