//go:build tools

// Package tools pins the KubeVirt package whose CRD constructors ./crds calls.
package tools

import (
	_ "kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
)
