// Package fail classifies errors into SwiftDeploy's exit-code contract:
// 0 success, 1 operational failure, 2 invalid input, 3 denied by policy.
//
// Packages wrap one of the sentinels with context (fmt.Errorf("%w: ...", fail.ErrInvalid))
// and the command line turns the error into an exit code with Code.
package fail

import "errors"

var (
	// ErrInvalid marks bad input from the operator: a manifest, an argument, a request body.
	ErrInvalid = errors.New("invalid input")
	// ErrDenied marks an action refused by a policy decision.
	ErrDenied = errors.New("denied by policy")
)

// Exit codes of the command line.
const (
	ExitOK          = 0
	ExitOperational = 1
	ExitInvalid     = 2
	ExitDenied      = 3
)

// Code returns the exit code for err: 0 for nil, 2 for invalid input,
// 3 for a policy denial and 1 for everything else.
func Code(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrDenied):
		return ExitDenied
	case errors.Is(err, ErrInvalid):
		return ExitInvalid
	default:
		return ExitOperational
	}
}
