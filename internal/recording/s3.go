package recording

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 keeps parts in an S3-compatible bucket, so that any node of a fleet serves any
// replay. A part is written to a spool file on the recording node first (S3 objects are
// not appended to): a crash leaves it there, and the restarted node uploads what it
// holds. The part's object appears when the part is complete.
type S3 struct {
	client *minio.Client
	bucket string
	spool  *Dir
}

// S3Config says where the bucket is. The client is minio-go, which speaks to AWS S3 and
// every S3-compatible store alike.
type S3Config struct {
	Endpoint  string // host:port
	Bucket    string
	AccessKey string
	SecretKey string
	Region    string
	Insecure  bool   // plain HTTP (a store on loopback in tests)
	SpoolDir  string // where parts are written until uploaded
}

// NewS3 connects to the bucket, which must exist.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	client, err := minio.New(cfg.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: !cfg.Insecure, Region: cfg.Region})
	if err != nil {
		return nil, fmt.Errorf("recordings bucket: %w", err)
	}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("recordings bucket %s: %w", cfg.Bucket, err)
	}
	if !ok {
		return nil, fmt.Errorf("recordings bucket %s does not exist", cfg.Bucket)
	}
	spool, err := NewDir(cfg.SpoolDir)
	if err != nil {
		return nil, err
	}
	return &S3{client: client, bucket: cfg.Bucket, spool: spool}, nil
}

// Create implements Storage: a spool file, uploaded when it is closed.
func (s *S3) Create(key string) (File, error) {
	f, err := s.spool.Create(key)
	if err != nil {
		return nil, err
	}
	return &spooled{File: f, s: s, key: key}, nil
}

// spooled is a part being written: on Close it goes to the bucket.
type spooled struct {
	File
	s   *S3
	key string
}

func (f *spooled) Close() error {
	if err := f.File.Close(); err != nil {
		return err
	}
	return f.s.upload(f.key)
}

// upload puts the spooled part in the bucket and removes the spool file.
func (s *S3) upload(key string) error {
	path, err := s.spool.path(key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := s.client.FPutObject(ctx, s.bucket, key, path, minio.PutObjectOptions{ContentType: "video/webm"}); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return s.spool.Remove(key)
}

// Salvage uploads what a crash left of a part in the spool.
func (s *S3) Salvage(key string) error {
	if _, err := s.spool.Size(key); errors.Is(err, os.ErrNotExist) {
		return nil // uploaded before the crash
	}
	return s.upload(key)
}

// Size implements Storage.
func (s *S3) Size(key string) (int64, error) {
	if n, err := s.spool.Size(key); err == nil {
		return n, nil
	}
	info, err := s.client.StatObject(context.Background(), s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, err
	}
	return info.Size, nil
}

// Remove implements Storage.
func (s *S3) Remove(key string) error {
	if err := s.spool.Remove(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(context.Background(), s.bucket, key, minio.RemoveObjectOptions{})
	if resp := minio.ToErrorResponse(err); err != nil && resp.Code != "NoSuchKey" {
		return fmt.Errorf("remove %s: %w", key, err)
	}
	return nil
}

// Open implements Storage: the object, read with range requests as it is served.
func (s *S3) Open(key string) (io.ReadSeekCloser, time.Time, error) {
	obj, err := s.client.GetObject(context.Background(), s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, time.Time{}, err
	}
	info, err := obj.Stat()
	if err != nil {
		_ = obj.Close()
		return nil, time.Time{}, err
	}
	return obj, info.LastModified, nil
}
