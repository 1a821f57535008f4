package cluster

// Replays in a fleet whose recordings are kept on each node's disk (no S3): a part is on
// the node that recorded it, and any other node serves it by reading it from there, in
// ranges, over the fleet's internal HTTP.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrPartGone is a part whose node is not in the fleet any more.
var ErrPartGone = errors.New("the node that recorded this part is gone")

// partScope is what a part token signs: the part's key, apart from any stream id.
func partScope(key string) string { return "part\x00" + key }

// PartHandler serves this node's recording parts to the fleet's other nodes, with
// ranges: GET /internal/parts?key=K, with the fleet's token for K.
func (f *Fleet) PartHandler(open func(key string) (io.ReadSeekCloser, time.Time, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if key == "" || !validRelayToken(f.secret, partScope(key), token, time.Now()) {
			http.Error(w, "part token rejected", http.StatusUnauthorized)
			return
		}
		file, modified, err := open(key)
		if err != nil {
			http.Error(w, "no such part here", http.StatusNotFound)
			return
		}
		defer file.Close()
		http.ServeContent(w, r, "", modified, file)
	})
}

// OpenPart opens the part kept under key on node nodeID for reading, each read a range
// of it fetched from there. ctx bounds every fetch.
func (f *Fleet) OpenPart(ctx context.Context, nodeID, key string) (io.ReadSeekCloser, time.Time, error) {
	if nodeID == f.self.ID {
		return nil, time.Time{}, fmt.Errorf("part %s: not on this node's disk", key)
	}
	n, ok, err := f.reg.Node(ctx, nodeID)
	if err != nil {
		return nil, time.Time{}, err
	}
	if !ok {
		return nil, time.Time{}, fmt.Errorf("%w: %s", ErrPartGone, nodeID)
	}
	base := n.Internal
	if base == "" {
		base = n.URL
	}
	p := &remotePart{ctx: ctx, f: f, key: key, url: strings.TrimRight(base, "/") + "/internal/parts?key=" + url.QueryEscape(key)}
	// The first byte says the part's size and age.
	resp, err := p.get(0, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	_ = resp.Body.Close()
	_, total, ok := strings.Cut(resp.Header.Get("Content-Range"), "/")
	if p.size, err = strconv.ParseInt(total, 10, 64); !ok || err != nil {
		return nil, time.Time{}, fmt.Errorf("part %s on %s: no size in %q", key, nodeID, resp.Header.Get("Content-Range"))
	}
	modified, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return p, modified, nil
}

// remotePart reads a part on another node: sequential reads share one ranged response;
// a seek elsewhere starts another.
type remotePart struct {
	ctx      context.Context
	f        *Fleet
	key, url string
	size     int64
	off      int64
	body     io.ReadCloser
	bodyAt   int64 // the offset body reads next
}

// get fetches bytes from to to (inclusive; -1: to the end).
func (p *remotePart) get(from, to int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(p.ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+relayToken(p.f.secret, partScope(p.key), time.Now().Add(relayTokenTTL)))
	if to < 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", from))
	} else {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	}
	resp, err := p.f.parts.Do(req)
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", p.key, err)
	}
	if resp.StatusCode != http.StatusPartialContent {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("part %s: %s", p.key, resp.Status)
	}
	return resp, nil
}

func (p *remotePart) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	if p.body == nil || p.bodyAt != p.off {
		p.closeBody()
		resp, err := p.get(p.off, -1) //nolint:bodyclose // kept as p.body, closed by closeBody
		if err != nil {
			return 0, err
		}
		p.body, p.bodyAt = resp.Body, p.off
	}
	n, err := p.body.Read(b)
	p.off += int64(n)
	p.bodyAt += int64(n)
	if errors.Is(err, io.EOF) && p.off < p.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (p *remotePart) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(b)), p.size) - 1
	resp, err := p.get(off, end)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.ReadFull(resp.Body, b[:end-off+1])
	if err == nil && n < len(b) {
		err = io.EOF
	}
	return n, err
}

func (p *remotePart) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += p.off
	case io.SeekEnd:
		offset += p.size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: before the start")
	}
	p.off = offset
	return offset, nil
}

func (p *remotePart) closeBody() {
	if p.body != nil {
		_ = p.body.Close()
		p.body = nil
	}
}

func (p *remotePart) Close() error { p.closeBody(); return nil }
