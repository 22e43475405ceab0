// Command etcd is etcd's own server entry point (etcdmain.Main), built here at the version
// k8s.io/kubernetes pins, because etcd's root module cannot be installed with `go install`.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
