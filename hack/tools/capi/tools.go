//go:build tools

// Package tools pins the Cluster API commands built into bin/ by `make tools`.
package tools

import (
	_ "sigs.k8s.io/cluster-api"
	_ "sigs.k8s.io/cluster-api/cmd/clusterctl"
)
