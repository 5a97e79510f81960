// Wrapper module that pins kube-OVN, the source of the kube-OVN CRDs copied
// into config/external/kube-ovn by hack/tools/capi/crds (-gomod ../kubeovn).
//
// Only the module's files are read (charts/kube-ovn-v2/crds); nothing of
// kube-OVN is built, so its replace directives need no mirror here.
module ironplane.dev/hack/tools/kubeovn

go 1.25.1

require github.com/kubeovn/kube-ovn v1.14.10
