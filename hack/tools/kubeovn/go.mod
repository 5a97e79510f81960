// Wrapper module that pins kube-OVN, the source of the kube-OVN CRDs copied
// into config/external/kube-ovn by hack/tools/capi/crds (-gomod ../kubeovn),
// and of bin/kube-ovn-controller and the OVN schemas and CRDs in bin/ovn
// (hack/tools/kubeovn/build.sh). The controller is built from a copy of the
// module's own source, whose go.mod carries its replace directives, so none
// are mirrored here. Multus's NetworkAttachmentDefinition CRD, which
// kube-OVN reads for a Pod's attachments, is copied from the version kube-OVN
// requires into config/external/multus (hack/gen/gen.mk crds-external).
module ironplane.dev/hack/tools/kubeovn

go 1.25.1

require github.com/kubeovn/kube-ovn v1.14.10
