//go:build tools

// Package tools pins cert-manager, whose CRDs (deploy/crds, plain YAML) are
// copied into config/external/cert-manager by hack/tools/capi/crds.
package tools

import (
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)
