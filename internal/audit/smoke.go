package audit

import (
	"fmt"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
)

// requests is a build's requests in a step: "5 user + 40 smoke" when
// rollout.smoke sent some of them, else the number.
func requests(f history.BuildFigures) string {
	if f.SmokeRequests == 0 {
		return number(f.Requests)
	}
	return fmt.Sprintf("%s user + %d smoke", number(f.Requests-float64(f.SmokeRequests)), f.SmokeRequests)
}
