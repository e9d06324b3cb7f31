// Command netpol answers NetworkPolicy reachability questions with an upstream
// evaluator, cyclonus's matcher (the sig-network NetworkPolicy conformance tool, now
// policy-assistant in sigs.k8s.io/network-policy-api), for tests/kube_server.rs to
// compare with khc's own evaluator (tests/support/network.rs).
//
// Standard input: {"policies": [NetworkPolicy...], "questions": [{"src": PEER,
// "dst": PEER, "port": N, "protocol": "TCP"}]} where PEER is {"namespace": NS,
// "namespaceLabels": {...}, "podLabels": {...}, "ip": IP} (no namespace: outside the
// cluster). Standard output: [{"ingress": bool, "egress": bool}] in order.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

type peer struct {
	Namespace       string            `json:"namespace"`
	NamespaceLabels map[string]string `json:"namespaceLabels"`
	PodLabels       map[string]string `json:"podLabels"`
	IP              string            `json:"ip"`
}

type question struct {
	Src      peer   `json:"src"`
	Dst      peer   `json:"dst"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

type input struct {
	Policies  []*networkingv1.NetworkPolicy `json:"policies"`
	Questions []question                    `json:"questions"`
}

type answer struct {
	Ingress bool `json:"ingress"`
	Egress  bool `json:"egress"`
}

func trafficPeer(p peer) *matcher.TrafficPeer {
	t := &matcher.TrafficPeer{IP: p.IP}
	if p.Namespace != "" {
		t.Internal = &matcher.InternalPeer{PodLabels: p.PodLabels, NamespaceLabels: p.NamespaceLabels, Namespace: p.Namespace}
	}
	return t
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	policy := matcher.BuildNetworkPolicies(false, in.Policies)
	out := make([]answer, 0, len(in.Questions))
	for _, q := range in.Questions {
		r := policy.IsTrafficAllowed(&matcher.Traffic{
			Source:       trafficPeer(q.Src),
			Destination:  trafficPeer(q.Dst),
			ResolvedPort: q.Port,
			Protocol:     v1.Protocol(q.Protocol),
		})
		out = append(out, answer{Ingress: r.Ingress.IsAllowed(), Egress: r.Egress.IsAllowed()})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
