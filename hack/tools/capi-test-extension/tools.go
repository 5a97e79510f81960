//go:build tools

// Package tools pins Cluster API's test extension, built into
// bin/capi-test-extension by `make tools` for the runtime-extension benchmark.
package tools

import (
	_ "sigs.k8s.io/cluster-api/test/extension"
)
