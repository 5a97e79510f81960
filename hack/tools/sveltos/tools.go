//go:build tools

// Package tools pins the Sveltos addon-controller (main package cmd) so the
// module graph stays complete under `go mod tidy`; its CRDs and libsveltos's
// are copied into config/external/sveltos by `make crds-external`.
package tools

import (
	_ "github.com/projectsveltos/addon-controller/cmd"
)
