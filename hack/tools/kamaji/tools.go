//go:build tools

// Package tools pins the Kamaji Cluster API control-plane provider manager
// (its main package is the module root) built into bin/kamaji-cp-provider.
package tools

import (
	_ "github.com/clastix/cluster-api-control-plane-provider-kamaji"
)
