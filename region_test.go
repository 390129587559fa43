package blueshift_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

func TestRegionBaseURL(t *testing.T) {
	assert.Equal(t, "https://api.getblueshift.com", blueshift.RegionUS.BaseURL())
	assert.Equal(t, "https://api.eu.getblueshift.com", blueshift.RegionEU.BaseURL())
	assert.Empty(t, blueshift.Region("mars").BaseURL())
}

func TestParseRegion(t *testing.T) {
	for in, want := range map[string]blueshift.Region{
		"us": blueshift.RegionUS, "US": blueshift.RegionUS, " us\n": blueshift.RegionUS,
		"eu": blueshift.RegionEU, "Eu": blueshift.RegionEU, "\tEU ": blueshift.RegionEU,
	} {
		got, err := blueshift.ParseRegion(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "usa", "europe", "u s"} {
		_, err := blueshift.ParseRegion(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), `"us"`)
		assert.Contains(t, err.Error(), `"eu"`)
	}
}
