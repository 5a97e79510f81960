//go:build tools

// Package tools pins kustomize, built into bin/kustomize by `make tools`.
package tools

import (
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
