//go:build tools

// Package tools pins kube-router, whose network policy controller (run with only
// its firewall: --run-firewall=true --run-router=false --run-service-proxy=false)
// is the real NetworkPolicy engine of tests/dataplane.rs. Upstream code, unchanged.
package tools

import (
	_ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
)
