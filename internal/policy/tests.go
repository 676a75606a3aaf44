package policy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds a whole Rego test run.
const testTimeout = 30 * time.Second

// RunTests runs the Rego unit tests (*_test.rego) beside the policies in dir, in-process,
// against dir/data.json. err is non-nil when the tests could not run, and also when any
// failed: it then names each failing test with its file and line.
func RunTests(dir string) (passed, failed int, err error) {
	modules, err := parseModules(dir, true)
	if err != nil {
		return 0, 0, err
	}
	data, err := readData(dir)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	results, err := tester.NewRunner().
		SetStore(inmem.NewFromObject(data)).
		SetTimeout(testTimeout).
		RaiseBuiltinErrors(true).
		SetModules(modules).
		RunTests(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("policy: run tests in %s: %s", dir, oneLine(err))
	}
	var failures []string
	for r := range results {
		if r.Pass() {
			passed++
			continue
		}
		if r.Skip {
			continue
		}
		failed++
		failures = append(failures, describeFailure(r))
	}
	if failed > 0 {
		return passed, failed, fmt.Errorf("policy: %d of %d Rego tests failed: %s", failed, passed+failed, strings.Join(failures, "; "))
	}
	return passed, failed, nil
}

func describeFailure(r *tester.Result) string {
	where := ""
	if r.Location != nil {
		where = fmt.Sprintf(" (%s:%d)", r.Location.File, r.Location.Row)
	}
	if r.Error != nil {
		return fmt.Sprintf("%s.%s%s: %s", r.Package, r.Name, where, oneLine(r.Error))
	}
	return fmt.Sprintf("%s.%s%s", r.Package, r.Name, where)
}
