// Command kubernetes is one multi-call binary holding the Kubernetes control
// plane and node components, etcd and etcdctl. It runs the component
// named by the basename of argv[0] (as hyperkube and k3s do), so the harness
// links or copies it as kube-apiserver, kubelet, etcd, ...; a single link
// step shares the common dependencies and is much cheaper to build than
// eight separate binaries.
//
// `kubernetes NAME ARGS...` runs NAME as well, for a binary not yet linked.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	_ "time/tzdata" // CronJob time zones (kube-apiserver, kube-controller-manager)

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/etcdctl/v3/ctlv3"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubeadm "k8s.io/kubernetes/cmd/kubeadm/app"
	kubeadmerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl's client auth plugins
)

// applets maps each name the binary answers to to its entry point; each
// returns the process exit code.
var applets = map[string]func() int{
	"kube-apiserver":          func() int { return cli.Run(apiserver.NewAPIServerCommand()) },
	"kube-controller-manager": func() int { return cli.Run(controllermanager.NewControllerManagerCommand()) },
	"kube-scheduler":          func() int { return cli.Run(scheduler.NewSchedulerCommand()) },
	"kubelet":                 func() int { return cli.Run(kubelet.NewKubeletCommand(context.Background())) },
	"kube-proxy":              func() int { return cli.Run(proxy.NewProxyCommand()) },
	"kubeadm":                 runKubeadm,
	"kubectl":                 runKubectl,
	"etcd":                    func() int { etcdmain.Main(os.Args); return 0 },
	"etcdctl":                 func() int { ctlv3.MustStart(); return 0 },
}

func runKubeadm() int {
	kubeadmerrors.HandleError(kubeadm.Run()) // exits on error
	return 0
}

// runKubectl mirrors cmd/kubectl: verbosity is parsed before the command is
// built, because building it already logs (plugins, kuberc).
func runKubectl() int {
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
		kubectlutil.CheckErr(err) // exits
	}
	return 0
}

func names() string {
	var n []string
	for k := range applets {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func main() {
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	if _, ok := applets[name]; !ok && len(os.Args) > 1 {
		if _, ok := applets[os.Args[1]]; ok {
			name = os.Args[1]
			os.Args = os.Args[1:]
		}
	}
	run, ok := applets[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: unknown applet; call me as one of: %s\n", name, names())
		os.Exit(2)
	}
	// ctlv3's init turns on cobra's prefix matching for every command in the
	// process; only etcdctl has it, so kubectl and kubeadm keep their own behaviour
	cobra.EnablePrefixMatching = name == "etcdctl"
	os.Exit(run())
}
