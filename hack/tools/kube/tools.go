//go:build tools

// Package tools pins the Kubernetes commands built into bin/ by `make tools`.
// kubeadm is not run as a node agent here: tests use `kubeadm config validate`
// to check the JoinConfiguration the Kairos bootstrap provider renders.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubeadm"
)
