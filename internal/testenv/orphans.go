package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// DieWithParent makes the kube-apiserver and etcd that env starts die with the process that
// starts them, so that a test or demo killed with SIGKILL leaves no control plane running.
// envtest starts them itself, without a parent-death signal; on Linux they are therefore started
// through a small wrapper script in dir that asks the kernel for one (setpriv --pdeathsig, from
// util-linux) and then execs the real binary, in the same process. Elsewhere, or without
// setpriv, env is left as it is.
func DieWithParent(env *envtest.Environment, assets, dir string) error {
	wrap, ok, err := parentDeathWrapper(dir)
	if err != nil || !ok {
		return err
	}
	apiserver, err := wrap(filepath.Join(assets, "kube-apiserver"))
	if err != nil {
		return err
	}
	etcd, err := wrap(filepath.Join(assets, "etcd"))
	if err != nil {
		return err
	}
	if env.ControlPlane.APIServer == nil {
		env.ControlPlane.APIServer = &envtest.APIServer{}
	}
	if env.ControlPlane.Etcd == nil {
		env.ControlPlane.Etcd = &envtest.Etcd{}
	}
	env.ControlPlane.APIServer.Path = apiserver
	env.ControlPlane.Etcd.Path = etcd
	return nil
}

// parentDeathWrapper returns a function that writes, into dir, a script that runs a binary with
// a parent-death signal, and false where the platform or setpriv cannot. The signal is SIGKILL:
// kube-apiserver takes SIGTERM for a graceful shutdown that waits on etcd, which gets its own
// SIGTERM at the same moment, and can hang there; the data is a test's, and is thrown away.
func parentDeathWrapper(dir string) (func(binary string) (string, error), bool, error) {
	if runtime.GOOS != "linux" {
		return nil, false, nil
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return nil, false, nil //nolint:nilerr // without setpriv the processes live on as before
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	return func(binary string) (string, error) {
		abs, err := filepath.Abs(binary)
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, filepath.Base(binary))
		script := fmt.Sprintf("#!/bin/sh\n# %s, ended by the kernel when the process that started it dies.\nexec %s --pdeathsig KILL -- %s \"$@\"\n",
			filepath.Base(binary), shellQuote(setpriv), shellQuote(abs))
		if err := os.WriteFile(path, []byte(script), 0o700); err != nil { //nolint:gosec // an executable script, for this user only
			return "", err
		}
		return path, nil
	}, true, nil
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
