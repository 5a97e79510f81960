//go:build tools

// Package tools pins Capsule for its CRD YAML. The API package is imported so
// `go mod tidy` keeps the requirement; Capsule has no dependency-free public
// package.
package tools

import (
	_ "github.com/projectcapsule/capsule/api/v1beta2"
)
