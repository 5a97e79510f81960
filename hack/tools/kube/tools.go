//go:build tools

// Package tools pins the Kubernetes commands built into bin/ by `make tools`.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
