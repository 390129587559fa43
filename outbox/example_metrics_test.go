package outbox_test

import (
	"context"
	"log"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/outbox"
)

// The outbox reports its backlog, deliveries and delivery delay through
// the meter provider it is given; here the stdout exporter prints them
// every minute. With a global provider already set up, pass
// otel.GetMeterProvider() instead.
func ExampleWithMeterProvider() {
	ctx := context.Background()
	client, err := blueshift.NewClientFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	exporter, err := stdoutmetric.New()
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exporter)))
	defer mp.Shutdown(ctx)
	ob, err := outbox.Open(ctx, client, outbox.SQLite("outbox.db"), outbox.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	defer ob.Close()
	if err := ob.Run(ctx); err != nil {
		log.Print(err)
	}
}
