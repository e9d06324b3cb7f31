// Command etcd is the etcd server (the same entry point as etcd's own main), built at
// the version k8s.io/kubernetes pins, for the real-API-server tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
