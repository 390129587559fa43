package blueshift

import (
	"fmt"
	"strings"
)

// Region is the Blueshift data centre that holds an account. An API key
// belongs to one region; a key sent to the other region gets 401.
type Region string

const (
	// RegionUS is Blueshift's US (and rest-of-world) region, the default.
	RegionUS Region = "us"
	// RegionEU is Blueshift's EU region.
	RegionEU Region = "eu"
)

// BaseURL returns the API base URL of the region, without a trailing slash,
// or "" for a region this package does not know.
func (r Region) BaseURL() string {
	switch r {
	case RegionUS:
		return "https://api.getblueshift.com"
	case RegionEU:
		return "https://api.eu.getblueshift.com"
	}
	return ""
}

// String returns the region's name ("us" or "eu").
func (r Region) String() string { return string(r) }

// ParseRegion returns the Region named by s, ignoring case and surrounding
// white space. It returns an error naming the valid values for anything else.
func ParseRegion(s string) (Region, error) {
	switch r := Region(strings.ToLower(strings.TrimSpace(s))); r {
	case RegionUS, RegionEU:
		return r, nil
	}
	return "", unknownRegion(s)
}

// unknownRegion is the error for a region name this package does not know.
func unknownRegion(name string) error {
	return fmt.Errorf("blueshift: unknown region %q: use %q or %q", name, RegionUS, RegionEU)
}
