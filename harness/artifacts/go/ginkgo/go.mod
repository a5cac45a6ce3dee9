module harness.local/artifacts/ginkgo

go 1.24.0

tool github.com/onsi/ginkgo/v2/ginkgo

require (
	github.com/go-task/slim-sprig/v3 v3.0.0 // indirect
	github.com/google/pprof v0.0.0-20241029153458-d1b30febd7db // indirect
	github.com/onsi/ginkgo/v2 v2.21.0 // indirect
	golang.org/x/tools v0.26.0 // indirect
)
