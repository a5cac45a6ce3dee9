// Command pause is the pod sandbox process of the harness's pause image: it
// holds the pod's namespaces open, reaps orphans re-parented to it (it is PID 1
// of a pod sharing its PID namespace) and exits cleanly on SIGTERM or SIGINT.
// Its own tiny binary, not an applet of the multi-call one, so the image
// stays small.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is the pause image version this stands in for, set at link time
// (-X main.version=...).
var version = "dev"

func main() { os.Exit(run()) }

func run() int {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-v", "--version":
			fmt.Printf("pause version %s (harness)\n", version)
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
