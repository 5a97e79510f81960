// Command crds writes the KubeVirt CustomResourceDefinitions that Ironplane
// uses into config/external/kubevirt/, one CRD per file.
//
// KubeVirt keeps no CRD YAML in its repository: virt-operator builds the CRDs
// in Go (pkg/virt-operator/resource/generate/components, with the OpenAPI
// schemas in validations_generated.go) and applies them to the cluster. This
// command calls the same constructors from the KubeVirt release pinned by
// ../go.mod, so the schemas are exactly the ones that release installs.
//
// Usage (from hack/tools/kubevirt):
//
//	go run ./crds -to ../../../config/external/kubevirt
//
// Each CRD is written as YAML to <group>_<plural>.yaml (controller-gen's
// naming, as hack/tools/capi/crds uses) with a header line naming the pinned
// version. The CRD's status and metadata.creationTimestamp, which only a
// server fills in, are left out. Files in -to that an earlier run of this
// command wrote and that are no longer produced are removed; other files are
// left alone.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"ironplane.dev/hack/tools/crdio"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
	"sigs.k8s.io/yaml"
)

// tool is how the header names this command. Keep it stable: the stale-file
// cleanup recognises our own output by it.
const tool = "hack/tools/kubevirt/crds"

const module = "kubevirt.io/kubevirt"

// constructors are the CRDs Ironplane's KubeVirt infrastructure provider
// reads or writes. Add more here when a provider needs them.
var constructors = []func() (*extv1.CustomResourceDefinition, error){
	components.NewVirtualMachineCrd,
	components.NewVirtualMachineInstanceCrd,
}

func main() {
	to := flag.String("to", "", "output directory, e.g. ../../../config/external/kubevirt (required)")
	flag.Parse()
	if *to == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*to); err != nil {
		fmt.Fprintf(os.Stderr, "crds: %v\n", err)
		os.Exit(1)
	}
}

func run(to string) error {
	version, err := moduleVersion(module)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	header := fmt.Sprintf("# Generated from %s %s by %s; do not edit.\n", module, version, tool)
	keep := map[string]bool{}
	var files []string
	for _, newCRD := range constructors {
		crd, err := newCRD()
		if err != nil {
			return err
		}
		file := crd.Spec.Group + "_" + crd.Spec.Names.Plural + ".yaml"
		if want := crd.Spec.Names.Plural + "." + crd.Spec.Group; crd.Name != want {
			return fmt.Errorf("CRD name %q, want %q", crd.Name, want)
		}
		if keep[file] {
			return fmt.Errorf("CRD %s produced twice", file)
		}
		body, err := render(crd)
		if err != nil {
			return fmt.Errorf("%s: %w", crd.Name, err)
		}
		var buf bytes.Buffer
		buf.WriteString(header)
		buf.WriteString("---\n")
		buf.Write(body)
		if err := crdio.WriteIfChanged(filepath.Join(to, file), buf.Bytes()); err != nil {
			return err
		}
		keep[file] = true
		files = append(files, file)
	}
	removed, err := crdio.RemoveStale(to, tool, keep)
	if err != nil {
		return err
	}
	sort.Strings(files)
	fmt.Printf("crds: %s %s: wrote %d CRDs to %s", module, version, len(files), to)
	if removed > 0 {
		fmt.Printf(" (removed %d stale)", removed)
	}
	fmt.Println()
	return nil
}

// moduleVersion is the version of mod this binary was built from: the pinned
// one from ../go.mod (or its replacement), as `go run` records it.
func moduleVersion(mod string) (string, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", fmt.Errorf("no build information; build in module mode from hack/tools/kubevirt")
	}
	for _, d := range info.Deps {
		if d.Path != mod {
			continue
		}
		if d.Replace != nil && d.Replace.Version != "" {
			return d.Replace.Version, nil
		}
		if d.Version == "" || d.Version == "(devel)" {
			break
		}
		return d.Version, nil
	}
	return "", fmt.Errorf("%s is not a dependency of this build; run from hack/tools/kubevirt", mod)
}

// render serialises a CRD without the fields only a server sets. Going
// through a map makes sigs.k8s.io/yaml sort every key, so output is stable.
func render(crd *extv1.CustomResourceDefinition) ([]byte, error) {
	raw, err := json.Marshal(crd)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	delete(obj, "status")
	if meta, ok := obj["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	return yaml.Marshal(obj)
}
