// One small static program, packed by hack/tools/node/build.sh into the image
// of the test world's real node (bin/node/images/node-util.tar): the Pod
// sandbox's pause process, the in-namespace end of the node's path to the
// apiserver, and a probe a test Pod runs. Standard library only.
module ironplane.dev/hack/tools/node/util

go 1.25.0
