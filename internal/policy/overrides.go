package policy

import "fmt"

// CheckOverrides reports whether the manifest's policy section names only domains
// and thresholds that dir/data.json defines, with finite numbers or names as data.json
// has them (and none it retired), without compiling
// the policies: init uses it so that a bad override generates nothing.
func CheckOverrides(dir string, overrides map[string]map[string]any) error {
	if len(overrides) == 0 {
		return nil
	}
	data, err := readData(dir)
	if err != nil {
		return err
	}
	thresholds, err := thresholdsOf(data)
	if err != nil {
		return fmt.Errorf("policy: load %s: %w", DataFile, err)
	}
	return applyOverrides(thresholds, retiredOf(data), overrides)
}
