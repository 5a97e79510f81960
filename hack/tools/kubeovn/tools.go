//go:build tools

// Package tools pins kube-OVN for its CRD YAML (and for build.sh, which
// builds its controller from the module's source). The imported package only
// embeds a file (it has no dependencies), which keeps `go mod tidy` from
// dropping the requirement without pulling in kube-OVN's dependency graph.
package tools

import (
	_ "github.com/kubeovn/kube-ovn/yamls"
)
