// Command etcdget prints the raw stored value of one etcd key (what the API server
// wrote, before any decryption), for the encryption-at-rest tests.
//
//	etcdget ENDPOINT KEY > value
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: etcdget ENDPOINT KEY")
		os.Exit(2)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{os.Args[1]}, DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(resp.Kvs) == 0 {
		fmt.Fprintln(os.Stderr, "no such key:", os.Args[2])
		os.Exit(3)
	}
	os.Stdout.Write(resp.Kvs[0].Value)
}
