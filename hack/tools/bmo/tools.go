//go:build tools

// Package tools pins the baremetal-operator manager (its main package is the
// module root) built into bin/baremetal-operator by `make tools`.
package tools

import (
	_ "github.com/metal3-io/baremetal-operator"
)
