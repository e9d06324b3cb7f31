//go:build tools

// Package tools pins the upstream commands this module builds: kube-apiserver, and
// kube-controller-manager (run with only the controller that type-checks
// ValidatingAdmissionPolicies and writes their status), and kube-scheduler (run with
// khc's kube-scheduler-flags for kube-bench's checks).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
