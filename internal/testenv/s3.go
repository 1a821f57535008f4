package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/testservices"
)

// S3Bucket is a fresh bucket on the tests' S3 server (a gofakes3 of the test process's
// own unless LIVEGATE_TEST_S3 names one), as a node's recordings config.
func S3Bucket(t testing.TB) config.S3Config {
	t.Helper()
	endpoint := testservices.S3Endpoint(t)
	cfg := config.S3Config{Endpoint: endpoint, Bucket: "rec-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())),
		AccessKey: "livegate-test", SecretKey: "livegate-test-secret", Region: "us-east-1", Insecure: true}
	if len(cfg.Bucket) > 63 {
		cfg.Bucket = cfg.Bucket[:63]
	}
	client, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Region: cfg.Region})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, _ := client.BucketExists(ctx, cfg.Bucket); !ok {
		if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			t.Fatalf("make bucket %s: %v", cfg.Bucket, err)
		}
	}
	return cfg
}
