package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// appHost is the name nginx resolves for the app (the compose service).
const appHost = "app"

// pinSettle covers the resolver noticing a new pin file: it checks every
// 100 ms.
const pinSettle = 250 * time.Millisecond

// pinApp makes the stack's resolver answer nginx's questions for the app with
// exactly the addresses of apps, whatever the runtime's DNS says. nginx follows
// within s.NginxFollow.
func (s *Stack) pinApp(apps []platform.Instance) error {
	var addrs []string
	for _, a := range apps {
		if a.Addr == "" {
			return fmt.Errorf("the app %s has no address on the stack's network", a.Name)
		}
		addrs = append(addrs, a.Addr)
	}
	slices.Sort(addrs)
	data, err := json.Marshal(map[string][]string{appHost: addrs})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path(render.PinsFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("pin the app's addresses: %w", err)
	}
	time.Sleep(pinSettle)
	return nil
}

// unpinApp lets the resolver pass nginx's questions on to Docker's DNS again.
func (s *Stack) unpinApp() error {
	err := os.Remove(s.path(render.PinsFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unpin the app's addresses: %w", err)
	}
	return nil
}
