//go:build tools

// Package tools pins the Kubernetes commands built into bin/ by `make tools`.
// kubeadm is not run as a node agent here: tests use `kubeadm config validate`
// to check the JoinConfiguration the Kairos bootstrap provider renders.
// kubelet, kube-proxy, kube-scheduler and kubectl make a real node in the
// test world (test/harness/node.ts): Pods scheduled, run by containerd and
// reaching Services through kube-proxy.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
