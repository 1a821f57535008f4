package sessions

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Memory is the in-process Store of a single node.
type Memory struct {
	mu       sync.Mutex
	epoch    time.Time // the process's memory is the store's
	now      func() time.Time
	sessions map[string]memSession
	ended    map[string]memEnded
	unique   map[string]map[string]bool // stream -> viewers
	collects map[string]map[string]bool
	preview  map[string]time.Duration // viewer|stream
	subs     map[chan Event]struct{}
	revoked  map[string]memRevoked // by marker key
	spent    map[string]time.Time  // session id -> until
}

type memRevoked struct {
	e       Event
	expires time.Time
}

type memSession struct {
	Session
	expires time.Time
}

type memEnded struct {
	reason  Reason
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-process store.
func NewMemory() *Memory {
	return &Memory{epoch: time.Now(), now: time.Now, sessions: map[string]memSession{}, ended: map[string]memEnded{},
		unique: map[string]map[string]bool{}, collects: map[string]map[string]bool{}, preview: map[string]time.Duration{},
		subs: map[chan Event]struct{}{}, revoked: map[string]memRevoked{}, spent: map[string]time.Time{}}
}

// live drops expired sessions; callers hold mu.
func (m *Memory) live() {
	now := m.now()
	for id, s := range m.sessions {
		if !s.expires.After(now) {
			delete(m.sessions, id)
		}
	}
	for id, e := range m.ended {
		if !e.expires.After(now) {
			delete(m.ended, id)
		}
	}
	for id, until := range m.spent {
		if !until.After(now) {
			delete(m.spent, id)
		}
	}
}

// Open implements Store.
func (m *Memory) Open(_ context.Context, s Session, lim Limit, ttl time.Duration) ([]Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live()
	if _, ok := m.sessions[s.ID]; ok {
		return nil, ErrExists
	}
	if _, ok := m.spent[s.ID]; ok {
		return nil, ErrExists
	}
	var same []memSession
	for _, o := range m.sessions {
		if o.scope() == s.scope() {
			same = append(same, o)
		}
	}
	var kicked []Session
	if lim.Max > 0 && len(same) >= lim.Max {
		if !lim.Replace {
			return nil, ErrLimit
		}
		sort.Slice(same, func(i, j int) bool { return same[i].StartedAt.Before(same[j].StartedAt) })
		for _, o := range same[:len(same)-lim.Max+1] {
			delete(m.sessions, o.ID)
			m.ended[o.ID] = memEnded{ReasonReplaced, m.now().Add(time.Hour)}
			kicked = append(kicked, o.Session)
		}
	}
	m.sessions[s.ID] = memSession{s, m.now().Add(ttl)}
	m.spent[s.ID] = m.now().Add(SpentFor)
	if s.Connected {
		m.countUnique(s)
	}
	return kicked, nil
}

func (m *Memory) countUnique(s Session) {
	if m.unique[s.StreamID] == nil {
		m.unique[s.StreamID] = map[string]bool{}
	}
	m.unique[s.StreamID][s.ViewerID] = true
}

// Connect implements Store.
func (m *Memory) Connect(_ context.Context, s Session, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live()
	if _, ok := m.sessions[s.ID]; !ok {
		return ErrNotFound
	}
	s.Connected = true
	m.sessions[s.ID] = memSession{s, m.now().Add(ttl)}
	m.countUnique(s)
	return nil
}

// Refresh implements Store.
func (m *Memory) Refresh(_ context.Context, live []Session, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range live {
		m.sessions[s.ID] = memSession{s, m.now().Add(ttl)}
		if s.Connected {
			m.countUnique(s)
		}
	}
	return nil
}

// End implements Store.
func (m *Memory) End(_ context.Context, id string, reason Reason) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	m.ended[id] = memEnded{reason, m.now().Add(time.Hour)}
	return nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live()
	s, ok := m.sessions[id]
	if !ok {
		return Session{}, ErrNotFound
	}
	return s.Session, nil
}

// Ended implements Store.
func (m *Memory) Ended(_ context.Context, id string) (Reason, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live()
	e, ok := m.ended[id]
	if !ok {
		return "", ErrNotFound
	}
	return e.reason, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, streamID string) ([]Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live()
	out := []Session{}
	for _, s := range m.sessions {
		if streamID == "" || s.StreamID == streamID {
			out = append(out, s.Session)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out, nil
}

// Stats implements Store.
func (m *Memory) Stats(_ context.Context, streamID string) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live()
	st := Stats{Unique: len(m.unique[streamID]), Collects: len(m.collects[streamID])}
	for _, s := range m.sessions {
		if s.StreamID == streamID && s.Connected {
			st.Current++
		}
	}
	return st, nil
}

// AddPreview implements Store.
func (m *Memory) AddPreview(_ context.Context, w Watch, d time.Duration) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.preview[w.Viewer+"|"+w.Stream] += d
	return m.preview[w.Viewer+"|"+w.Stream], nil
}

// Epoch implements Store: when this store was made.
func (m *Memory) Epoch(context.Context) (time.Time, error) { return m.epoch, nil }

// PreviewUsed implements Store.
func (m *Memory) PreviewUsed(_ context.Context, w Watch) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.preview[w.Viewer+"|"+w.Stream], nil
}

// Collect implements Store.
func (m *Memory) Collect(_ context.Context, w Watch) (bool, error) {
	streamID, viewerID := w.Stream, w.Viewer
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.collects[streamID] == nil {
		m.collects[streamID] = map[string]bool{}
	}
	if m.collects[streamID][viewerID] {
		return false, nil
	}
	m.collects[streamID][viewerID] = true
	return true, nil
}

// Publish implements Store: every subscriber gets the event.
func (m *Memory) Publish(_ context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := e.markerKey(); k != "" {
		m.revoked[k] = memRevoked{e, m.now().Add(time.Hour)}
	}
	for ch := range m.subs {
		select {
		case ch <- e:
		default: // a stuck subscriber must not block revocations for everyone
		}
	}
	return nil
}

// Revoked implements Store.
func (m *Memory) Revoked(_ context.Context, live []Session) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, s := range live {
		for _, probe := range s.markerKeys() {
			if r, ok := m.revoked[probe.markerKey()]; ok && r.expires.After(m.now()) && r.e.Matches(s) {
				out = append(out, r.e)
				break
			}
		}
	}
	return out, nil
}

// Events implements Store.
func (m *Memory) Events(ctx context.Context) <-chan Event {
	ch := make(chan Event, 256)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
		close(ch)
	}()
	return ch
}

// Close implements Store.
func (m *Memory) Close() error { return nil }
