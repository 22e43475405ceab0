// Command pulumi-resource-kubernetes serves pulumi-kubernetes' provider (provider.Serve) with its
// schema embedded. The provider's own main embeds files its build generates (not in the module), so
// tools/go/build.sh writes schema-embed.json and terraform-mapping-embed.json here from the module's
// schema.json and terraform-mapping.json (version set) before it builds.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
