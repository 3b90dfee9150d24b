// Package localenv runs the operator the way a user would, on one machine and without a
// cluster: a kube-apiserver and etcd (the ones `make controlplane` builds into bin/k8s, run by
// controller-runtime's envtest), the Tableau simulator (the hack/tableau-sim binary, or
// in-process), a local HTTPS receiver for webhook deliveries, and the real manager binary with a
// kubeconfig. The demo (hack/demo), the end-to-end suites (test/e2e) and the benchmarks use it.
//
//	env, err := localenv.Start(ctx, localenv.Options{})
//	defer env.Close()
//	sim, err := env.StartSimulator(ctx, localenv.SimulatorOptions{Binary: "bin/tableau-sim", Sites: []string{"marketing"}, TLS: true})
//	mgr, err := env.StartManager(ctx, localenv.ManagerOptions{Binary: "bin/manager"})
//	err = env.Apply(ctx, objects...)
//	err = env.WaitReady(ctx, objects...)
//
// Every listener gets a free port and every file goes to a temporary directory, so two
// environments run side by side. Close stops every process it started (the manager with
// SIGTERM, so that it signs out of Tableau) and removes the directory.
package localenv
