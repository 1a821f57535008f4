package recording

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dir keeps parts as files under a directory: a single node's storage.
type Dir struct {
	root string
}

// NewDir uses root, creating it.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("recordings directory: %w", err)
	}
	return &Dir{root: root}, nil
}

// path turns a key into a file name under the root, refusing one that would leave it.
func (d *Dir) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") || strings.ContainsRune(key, '\\') {
		return "", fmt.Errorf("recording key %q: %w", key, os.ErrInvalid)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Create implements Storage.
func (d *Dir) Create(key string) (File, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return nil, err
	}
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// Size implements Storage.
func (d *Dir) Size(key string) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Remove implements Storage; a part already gone is removed.
func (d *Dir) Remove(key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = os.Remove(filepath.Dir(p)) // the stream's directory, once empty
	return nil
}

// Open returns a part to serve: its content, and when it was last written.
func (d *Dir) Open(key string) (io.ReadSeekCloser, time.Time, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, time.Time{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, time.Time{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, time.Time{}, err
	}
	return f, fi.ModTime(), nil
}
