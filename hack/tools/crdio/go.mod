// Small file helpers shared by the CRD writers in hack/tools/*/crds. Its own
// module, with no dependencies, so each wrapper module can use it through a
// local replace directive whatever it pins.
module ironplane.dev/hack/tools/crdio

go 1.25.0
