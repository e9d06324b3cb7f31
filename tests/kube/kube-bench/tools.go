//go:build tools

// Package tools pins kube-bench, the CIS Kubernetes Benchmark runner whose own
// checks (its cfg/cis-1.12, read from the module cache) judge khc's generated
// control-plane flags in tests/kube_server.rs.
package tools

import (
	_ "github.com/aquasecurity/kube-bench"
)
