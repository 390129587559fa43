module github.com/blueshift-go/blueshift/scripts/releasecheck

go 1.25.0

require golang.org/x/mod v0.38.0
