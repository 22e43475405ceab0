module gitops.local/tools/pulumi-language-python

go 1.26.6

// The SDK release of the Python package in requirements.txt: its exec shim is copied beside the host.
require github.com/pulumi/pulumi/sdk/v3 v3.272.0

require (
	google.golang.org/grpc v1.83.2
	google.golang.org/protobuf v1.36.11
)

require (
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260803160001-6ac0973c030d // indirect
)
