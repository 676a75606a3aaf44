//go:build ignore

// The zero-install launcher: `go run magefile.go <target>` runs SwiftDeploy's
// targets (in magefiles/) without installing Mage. `go run magefile.go -l` lists them.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
