// Command crds copies CustomResourceDefinitions out of a Go module pinned by a
// wrapper module's go.mod into config/external/<name>/, one CRD per file, so
// the TypeScript generator (hack/gen) reads the exact schemas that the pinned
// upstream binaries serve.
//
// The module directory comes from `go list -m` run inside the wrapper module,
// which honours its go.mod (version and any replace directive) and the module
// cache; if the module is not in the cache yet it is downloaded first.
//
// Usage (from hack/tools/capi):
//
//	go run ./crds -module sigs.k8s.io/cluster-api -from config/crd/bases -to ../../../config/external/capi
//
// Other upstreams are added the same way. A module pinned by a different
// wrapper module is looked up there with -gomod:
//
//	go run ./crds -gomod ../bmo -module github.com/metal3-io/baremetal-operator -from config/base/crds/bases -to ../../../config/external/bmo
//
// -from may be repeated and may name a directory (every *.yaml / *.yml in it,
// not recursive) or a single file. Files may hold several YAML documents;
// documents that are not CRDs are skipped. -include (repeatable) keeps only
// the CRDs whose metadata.name matches one of its globs, for an upstream that
// ships all its CRDs in one file; each glob must match at least one CRD:
//
//	go run ./crds -gomod ../kubeovn -module github.com/kubeovn/kube-ovn -from charts/kube-ovn-v2/crds/kube-ovn-crd.yaml -include vpcs.kubeovn.io -include subnets.kubeovn.io -to ../../../config/external/kube-ovn
//
// -kind (repeatable) copies documents of other kinds instead of CRDs, for
// manifests the harness needs verbatim from the pinned module, such as
// controller-gen's webhook configurations:
//
//	go run ./crds -module sigs.k8s.io/cluster-api -from config/webhook/manifests.yaml -kind MutatingWebhookConfiguration -kind ValidatingWebhookConfiguration -to ../../../config/external/capi-webhooks
//
// Each CRD is written verbatim (the upstream bytes, not re-serialised) to
// <group>_<plural>.yaml under -to, which is controller-gen's naming; a document
// of another kind goes to <lowercase kind>_<metadata.name>.yaml. Files in -to that an earlier run of this
// command wrote and that are no longer produced are removed; other files are
// left alone.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"ironplane.dev/hack/tools/crdio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// tool is how the header names this command. Keep it stable: the stale-file
// cleanup recognises our own output by it.
const tool = "hack/tools/capi/crds"

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	module  string
	gomod   string
	from    []string
	to      string
	exclude []string
	include []string
	kinds   []string
}

func main() {
	var o options
	var from, exclude, include, kinds multiFlag
	flag.StringVar(&o.module, "module", "", "module path pinned by the wrapper go.mod, e.g. sigs.k8s.io/cluster-api (required)")
	flag.StringVar(&o.gomod, "gomod", ".", "directory of the wrapper module whose go.mod pins -module")
	flag.Var(&from, "from", "directory or file inside the module holding CRD YAML (repeatable, required)")
	flag.StringVar(&o.to, "to", "", "output directory, e.g. ../../../config/external/capi (required)")
	flag.Var(&exclude, "exclude", "glob matched against source file base names to skip (repeatable)")
	flag.Var(&include, "include", "glob matched against CRD names (metadata.name) to keep; default every CRD (repeatable)")
	flag.Var(&kinds, "kind", "kind of document to copy instead of CustomResourceDefinition, e.g. ValidatingWebhookConfiguration (repeatable)")
	flag.Parse()
	o.from, o.exclude, o.include, o.kinds = from, exclude, include, kinds
	if len(o.kinds) == 0 {
		o.kinds = []string{crdKind}
	}
	if o.module == "" || len(o.from) == 0 || o.to == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "crds: %v\n", err)
		os.Exit(1)
	}
}

const crdKind = "CustomResourceDefinition"

type crd struct {
	name string // metadata.name
	file string // output base name
	src  string // source path inside the module, for messages
	body []byte
}

func run(o options) error {
	dir, version, err := moduleDir(o.gomod, o.module)
	if err != nil {
		return err
	}
	var crds []crd
	for _, rel := range o.from {
		got, err := collect(dir, rel, o.exclude, o.kinds)
		if err != nil {
			return err
		}
		crds = append(crds, got...)
	}
	if crds, err = filterIncluded(crds, o.include); err != nil {
		return err
	}
	if len(crds) == 0 {
		return fmt.Errorf("no %s found in %s@%s under %s", strings.Join(o.kinds, " or "), o.module, version, strings.Join(o.from, ", "))
	}
	sort.Slice(crds, func(i, j int) bool { return crds[i].file < crds[j].file })
	for i := 1; i < len(crds); i++ {
		if crds[i].file == crds[i-1].file {
			return fmt.Errorf("%s appears twice (%s and %s)", crds[i].file, crds[i-1].src, crds[i].src)
		}
	}

	if err := os.MkdirAll(o.to, 0o755); err != nil {
		return err
	}
	header := fmt.Sprintf("# Generated from %s %s by %s; do not edit.\n", o.module, version, tool)
	keep := map[string]bool{}
	for _, c := range crds {
		keep[c.file] = true
		var buf bytes.Buffer
		buf.WriteString(header)
		buf.WriteString("---\n")
		buf.Write(c.body)
		if err := crdio.WriteIfChanged(filepath.Join(o.to, c.file), buf.Bytes()); err != nil {
			return err
		}
	}
	removed, err := crdio.RemoveStale(o.to, tool, keep)
	if err != nil {
		return err
	}
	what := "CRDs"
	if len(o.kinds) != 1 || o.kinds[0] != crdKind {
		what = "manifests"
	}
	fmt.Printf("crds: %s %s: wrote %d %s to %s", o.module, version, len(crds), what, o.to)
	if removed > 0 {
		fmt.Printf(" (removed %d stale)", removed)
	}
	fmt.Println()
	return nil
}

// moduleDir asks the go command, inside the wrapper module, where the pinned
// module lives. This follows replace directives and GOMODCACHE/GOFLAGS
// exactly as a build of that wrapper would.
func moduleDir(gomod, module string) (dir, version string, err error) {
	const format = `{{.Dir}}|{{if .Replace}}{{if .Replace.Version}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}{{else}}{{.Version}}{{end}}`
	list := func() (string, string, error) {
		out, err := goCmd(gomod, "list", "-m", "-f", format, module)
		if err != nil {
			return "", "", fmt.Errorf("locating %s from %s: %w", module, filepath.Join(gomod, "go.mod"), err)
		}
		d, v, _ := strings.Cut(strings.TrimSpace(out), "|")
		return d, v, nil
	}
	if dir, version, err = list(); err != nil {
		return "", "", err
	}
	if dir == "" {
		// Listed in go.mod but not in the module cache yet.
		if _, err := goCmd(gomod, "mod", "download", module); err != nil {
			return "", "", err
		}
		if dir, version, err = list(); err != nil {
			return "", "", err
		}
	}
	if dir == "" || version == "" {
		return "", "", fmt.Errorf("go list -m %s in %s gave no directory/version; is it required by %s/go.mod?", module, gomod, gomod)
	}
	return dir, version, nil
}

func goCmd(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func collect(moduleDir, rel string, exclude, kinds []string) ([]crd, error) {
	root := filepath.Join(moduleDir, filepath.FromSlash(rel))
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("-from %s: %w", rel, err)
	}
	var files []string
	if info.IsDir() {
		entries, err := os.ReadDir(root)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(e.Name(), "kustomization") {
				continue
			}
			files = append(files, filepath.Join(root, e.Name()))
		}
	} else {
		files = []string{root}
	}
	var out []crd
	for _, f := range files {
		if excluded(filepath.Base(f), exclude) {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcRel, _ := filepath.Rel(moduleDir, f)
		for i, doc := range splitDocuments(data) {
			c, ok, err := parseDocument(doc, kinds)
			if err != nil {
				return nil, fmt.Errorf("%s document %d: %w", srcRel, i+1, err)
			}
			if !ok {
				continue
			}
			c.src = filepath.ToSlash(srcRel)
			out = append(out, c)
		}
	}
	return out, nil
}

// filterIncluded keeps the CRDs whose name matches a glob; no globs keeps all.
// A glob that matches nothing is an error, so a typo or an upstream rename
// does not silently drop a CRD.
func filterIncluded(crds []crd, globs []string) ([]crd, error) {
	if len(globs) == 0 {
		return crds, nil
	}
	used := make([]bool, len(globs))
	var out []crd
	for _, c := range crds {
		keep := false
		for i, g := range globs {
			if ok, _ := filepath.Match(g, c.name); ok {
				used[i], keep = true, true
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	for i, g := range globs {
		if !used[i] {
			return nil, fmt.Errorf("-include %s matches no CRD", g)
		}
	}
	return out, nil
}

func excluded(name string, globs []string) bool {
	for _, g := range globs {
		if ok, _ := filepath.Match(g, name); ok {
			return true
		}
	}
	return false
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// splitDocuments splits a YAML stream on "---" lines, keeping each document's
// bytes untouched so the output is the upstream text.
func splitDocuments(data []byte) [][]byte {
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	var docs [][]byte
	for _, part := range docSeparator.Split(string(data), -1) {
		body := strings.TrimLeft(part, "\n")
		if strings.TrimSpace(stripComments(body)) == "" {
			continue
		}
		if !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
		docs = append(docs, []byte(body))
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// parseDocument returns the document if its kind is one of kinds: a CRD is
// checked and named as controller-gen names it, any other kind by its name.
func parseDocument(doc []byte, kinds []string) (crd, bool, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Plural string `json:"plural"`
			} `json:"names"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return crd{}, false, err
	}
	wanted := false
	for _, k := range kinds {
		wanted = wanted || head.Kind == k
	}
	if !wanted {
		return crd{}, false, nil
	}
	if head.Kind != crdKind {
		if head.Metadata.Name == "" {
			return crd{}, false, fmt.Errorf("%s without metadata.name", head.Kind)
		}
		return crd{name: head.Metadata.Name, file: strings.ToLower(head.Kind) + "_" + head.Metadata.Name + ".yaml", body: doc}, true, nil
	}
	if !strings.HasPrefix(head.APIVersion, "apiextensions.k8s.io/") {
		return crd{}, false, nil
	}
	if head.Spec.Group == "" || head.Spec.Names.Plural == "" {
		return crd{}, false, errors.New("CRD without spec.group or spec.names.plural")
	}
	if want := head.Spec.Names.Plural + "." + head.Spec.Group; head.Metadata.Name != want {
		return crd{}, false, fmt.Errorf("CRD name %q, want %q", head.Metadata.Name, want)
	}
	return crd{name: head.Metadata.Name, file: head.Spec.Group + "_" + head.Spec.Names.Plural + ".yaml", body: doc}, true, nil
}
