//go:build tools

// Package controlplane pins the Kubernetes control plane that tests and the demo run:
// kube-apiserver, kube-controller-manager (its namespace and garbage-collector controllers) and
// kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
