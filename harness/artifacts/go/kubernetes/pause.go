package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// pauseVersion is the version of the pod sandbox image this applet stands in
// for (kubeadm's PauseVersion for Kubernetes 1.34).
const pauseVersion = "3.10.1"

// runPause is the pod sandbox process: it holds the pod's namespaces open,
// reaps orphans re-parented to it (it is PID 1 of a pod sharing its PID
// namespace) and exits cleanly on SIGTERM or SIGINT.
func runPause() int {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-v", "--version":
			fmt.Printf("pause version %s (harness)\n", pauseVersion)
			return 0
		case "-h", "--help":
			fmt.Println("pause: sleeps until SIGTERM/SIGINT, reaping children; the pod sandbox process")
			return 0
		}
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			return 0
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}
