/*
Copyright 2026 The tableau-webhook-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package tableau

import (
	"fmt"
	"strings"
)

// parseAPIVersion splits "3.10" into its numeric parts. REST API versions are compared
// numerically: "3.10" (2020.4) is newer than "3.9" (2020.3), which string order gets wrong.
func parseAPIVersion(v string) ([]int, error) {
	v = strings.TrimSpace(v)
	parts := strings.Split(v, ".")
	if v == "" || len(parts) < 2 || len(parts) > 4 {
		return nil, fmt.Errorf("invalid REST API version %q: want MAJOR.MINOR", v)
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, ok := parseUint(p)
		if !ok || len(p) > 6 {
			return nil, fmt.Errorf("invalid REST API version %q: want MAJOR.MINOR", v)
		}
		nums[i] = int(n)
	}
	return nums, nil
}

// compareAPIVersions returns -1, 0 or 1 as a is older than, equal to or newer than b; missing
// parts count as 0 ("3.9" == "3.9.0").
func compareAPIVersions(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// checkAPIVersion accepts a well-formed version no older than MinAPIVersion.
func checkAPIVersion(v string) error {
	got, err := parseAPIVersion(v)
	if err != nil {
		return err
	}
	lowest, _ := parseAPIVersion(MinAPIVersion)
	if compareAPIVersions(got, lowest) < 0 {
		return fmt.Errorf("%w: REST API %s is older than %s (Tableau 2020.3)", ErrUnsupportedVersion, strings.TrimSpace(v), MinAPIVersion)
	}
	return nil
}
