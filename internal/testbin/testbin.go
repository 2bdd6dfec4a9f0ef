package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles cmd/kelson into dir/kelson with the given build tags and
// returns the binary's path. The go command's output goes to stderr.
func Build(dir string, tags ...string) (string, error) {
	bin := filepath.Join(dir, "kelson")
	// go test puts its own GOROOT/bin first on the test's PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building the kelson binary: %w", err)
	}
	args := []string{"build"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "-o", bin, "github.com/kelson-dev/kelson/cmd/kelson")
	build := exec.Command(goTool, args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building the kelson binary (%s): %w", build, err)
	}
	return bin, nil
}
