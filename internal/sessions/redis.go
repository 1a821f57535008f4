package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store of a fleet: every node sees every session, counts are global, and
// events reach every node through one pub/sub channel.
type Redis struct {
	rdb    *redis.Client
	prefix string
	log    *slog.Logger
}

var _ Store = (*Redis)(nil)

// record is a session as stored: the session and its scope.
type record struct {
	Session
	Scope string `json:"scope"`
}

// NewRedis connects to url (redis://host:port/db). prefix namespaces every key, so tests
// and several deployments can share one Redis.
func NewRedis(url, prefix string, log *slog.Logger) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// Fail fast while Redis is down: a join waiting seconds is worse than a 503.
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
	opt.MaxRetries = 1
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redis{rdb: redis.NewClient(opt), prefix: prefix, log: log}, nil
}

// Client is the Redis connection, for other fleet-wide state (shared rate limits).
func (r *Redis) Client() redis.UniversalClient { return r.rdb }

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.wrap(r.rdb.Ping(ctx).Err()) }

func (r *Redis) wrap(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

func (r *Redis) key(parts ...string) string {
	k := r.prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

// openScript enforces the cap and registers the session in one step, so two joins on two
// nodes can never both take the last slot.
var openScript = redis.NewScript(`
local p = ARGV[1]
local id, scope, stream, viewer = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, ttl, max, replace = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9] == '1'
local data = ARGV[10]
local skey = p .. 's:' .. id
local spent = p .. 'spent:' .. id
if redis.call('EXISTS', skey) == 1 or redis.call('EXISTS', spent) == 1 then return {'exists'} end
local scopekey = p .. 'scope:' .. scope
for _, m in ipairs(redis.call('ZRANGE', scopekey, 0, -1)) do
  if redis.call('EXISTS', p .. 's:' .. m) == 0 then redis.call('ZREM', scopekey, m) end
end
local out = {'ok'}
if max > 0 then
  local n = redis.call('ZCARD', scopekey)
  if n >= max then
    if not replace then return {'limit'} end
    for _, o in ipairs(redis.call('ZRANGE', scopekey, 0, n - max)) do
      local okey = p .. 's:' .. o
      local od = redis.call('GET', okey)
      if od then
        local rec = cjson.decode(od)
        redis.call('ZREM', p .. 'live:' .. rec.stream_id, o)
        redis.call('ZREM', p .. 'conn:' .. rec.stream_id, o)
        table.insert(out, od)
      end
      redis.call('DEL', okey)
      redis.call('ZREM', p .. 'all', o)
      redis.call('ZREM', scopekey, o)
      redis.call('SET', p .. 'ended:' .. o, ARGV[12], 'EX', 3600)
    end
  end
end
redis.call('SET', skey, data, 'PX', ttl)
redis.call('SET', spent, '1', 'PX', tonumber(ARGV[11]))
redis.call('ZADD', scopekey, now, id)
redis.call('PEXPIRE', scopekey, 86400000)
redis.call('ZADD', p .. 'live:' .. stream, now + ttl, id)
redis.call('ZADD', p .. 'all', now + ttl, id)
if ARGV[13] == '1' then
  redis.call('ZADD', p .. 'conn:' .. stream, now + ttl, id)
  redis.call('SADD', p .. 'uniq:' .. stream, viewer)
  redis.call('EXPIRE', p .. 'uniq:' .. stream, 2592000)
end
return out
`)

// connectScript counts an open session among its stream's audience: the connected set
// (current viewers) and the unique viewers. A session ended meanwhile stays uncounted.
var connectScript = redis.NewScript(`
local p, id, stream, viewer = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, ttl, data = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local skey = p .. 's:' .. id
if redis.call('EXISTS', skey) == 0 then return 0 end
redis.call('SET', skey, data, 'PX', ttl)
redis.call('ZADD', p .. 'live:' .. stream, now + ttl, id)
redis.call('ZADD', p .. 'all', now + ttl, id)
redis.call('ZADD', p .. 'conn:' .. stream, now + ttl, id)
redis.call('SADD', p .. 'uniq:' .. stream, viewer)
redis.call('EXPIRE', p .. 'uniq:' .. stream, 2592000)
return 1
`)

var endScript = redis.NewScript(`
local p, id, reason = ARGV[1], ARGV[2], ARGV[3]
local d = redis.call('GET', p .. 's:' .. id)
if d then
  local rec = cjson.decode(d)
  redis.call('ZREM', p .. 'live:' .. rec.stream_id, id)
  redis.call('ZREM', p .. 'conn:' .. rec.stream_id, id)
  redis.call('ZREM', p .. 'scope:' .. rec.scope, id)
end
redis.call('DEL', p .. 's:' .. id)
redis.call('ZREM', p .. 'all', id)
redis.call('SET', p .. 'ended:' .. id, reason, 'EX', 3600)
return 1
`)

// Open implements Store.
func (r *Redis) Open(ctx context.Context, s Session, lim Limit, ttl time.Duration) ([]Session, error) {
	data, err := json.Marshal(record{s, s.scope()})
	if err != nil {
		return nil, err
	}
	replace, connected := "0", "0"
	if lim.Replace {
		replace = "1"
	}
	if s.Connected {
		connected = "1"
	}
	res, err := openScript.Run(ctx, r.rdb, nil, r.prefix, s.ID, s.scope(), s.StreamID, s.ViewerID,
		time.Now().UnixMilli(), ttl.Milliseconds(), lim.Max, replace, string(data), SpentFor.Milliseconds(), string(ReasonReplaced),
		connected).StringSlice()
	if err != nil {
		return nil, r.wrap(err)
	}
	switch res[0] {
	case "exists":
		return nil, ErrExists
	case "limit":
		return nil, ErrLimit
	}
	var kicked []Session
	for _, raw := range res[1:] {
		var rec record
		if json.Unmarshal([]byte(raw), &rec) == nil {
			kicked = append(kicked, rec.Session)
		}
	}
	return kicked, nil
}

// Connect implements Store.
func (r *Redis) Connect(ctx context.Context, s Session, ttl time.Duration) error {
	s.Connected = true
	data, err := json.Marshal(record{s, s.scope()})
	if err != nil {
		return err
	}
	n, err := connectScript.Run(ctx, r.rdb, nil, r.prefix, s.ID, s.StreamID, s.ViewerID,
		time.Now().UnixMilli(), ttl.Milliseconds(), string(data)).Int()
	if err != nil {
		return r.wrap(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Refresh implements Store: one pipeline for all of a node's sessions.
func (r *Redis) Refresh(ctx context.Context, live []Session, ttl time.Duration) error {
	if len(live) == 0 {
		return nil
	}
	now := time.Now()
	exp := float64(now.Add(ttl).UnixMilli())
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range live {
			data, _ := json.Marshal(record{s, s.scope()})
			p.Set(ctx, r.key("s", s.ID), data, ttl)
			p.ZAddNX(ctx, r.key("scope", s.scope()), redis.Z{Score: float64(s.StartedAt.UnixMilli()), Member: s.ID})
			p.Expire(ctx, r.key("scope", s.scope()), 24*time.Hour)
			p.ZAdd(ctx, r.key("live", s.StreamID), redis.Z{Score: exp, Member: s.ID})
			p.ZAdd(ctx, r.key("all"), redis.Z{Score: exp, Member: s.ID})
			if s.Connected {
				p.ZAdd(ctx, r.key("conn", s.StreamID), redis.Z{Score: exp, Member: s.ID})
				p.SAdd(ctx, r.key("uniq", s.StreamID), s.ViewerID)
				p.Expire(ctx, r.key("uniq", s.StreamID), statsRetention)
			}
		}
		return nil
	})
	return r.wrap(err)
}

// End implements Store.
func (r *Redis) End(ctx context.Context, id string, reason Reason) error {
	return r.wrap(endScript.Run(ctx, r.rdb, nil, r.prefix, id, string(reason)).Err())
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, id string) (Session, error) {
	raw, err := r.rdb.Get(ctx, r.key("s", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, r.wrap(err)
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Session{}, err
	}
	return rec.Session, nil
}

// Ended implements Store.
func (r *Redis) Ended(ctx context.Context, id string) (Reason, error) {
	reason, err := r.rdb.Get(ctx, r.key("ended", id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	return Reason(reason), r.wrap(err)
}

// List implements Store.
func (r *Redis) List(ctx context.Context, streamID string) ([]Session, error) {
	set := r.key("all")
	if streamID != "" {
		set = r.key("live", streamID)
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := r.rdb.ZRemRangeByScore(ctx, set, "-inf", "("+now).Err(); err != nil {
		return nil, r.wrap(err)
	}
	ids, err := r.rdb.ZRange(ctx, set, 0, -1).Result()
	if err != nil {
		return nil, r.wrap(err)
	}
	out := []Session{}
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.key("s", id)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, r.wrap(err)
	}
	for _, v := range vals {
		if s, ok := v.(string); ok {
			var rec record
			if json.Unmarshal([]byte(s), &rec) == nil {
				out = append(out, rec.Session)
			}
		}
	}
	return out, nil
}

// Stats implements Store.
func (r *Redis) Stats(ctx context.Context, streamID string) (Stats, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	var cur, uniq, col *redis.IntCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, r.key("conn", streamID), "-inf", "("+now)
		cur = p.ZCard(ctx, r.key("conn", streamID))
		uniq = p.SCard(ctx, r.key("uniq", streamID))
		col = p.SCard(ctx, r.key("collect", streamID))
		return nil
	})
	if err != nil {
		return Stats{}, r.wrap(err)
	}
	return Stats{Current: int(cur.Val()), Unique: int(uniq.Val()), Collects: int(col.Val())}, nil
}

// AddPreview implements Store.
func (r *Redis) AddPreview(ctx context.Context, w Watch, d time.Duration) (time.Duration, error) {
	k := r.key("preview", w.Stream, w.Viewer)
	var total *redis.IntCmd
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		total = p.IncrBy(ctx, k, d.Milliseconds())
		p.Expire(ctx, k, 7*24*time.Hour)
		return nil
	})
	if err != nil {
		return 0, r.wrap(err)
	}
	return time.Duration(total.Val()) * time.Millisecond, nil
}

// Epoch implements Store. The epoch key is set once, by whichever node finds it missing,
// and kept without expiry (and on disk, where Redis keeps an append-only file): when it
// is gone, Redis lost what it held, and the node that notices sets a new one.
func (r *Redis) Epoch(ctx context.Context) (time.Time, error) {
	k := r.key("epoch")
	for range 2 {
		us, err := r.rdb.Get(ctx, k).Int64()
		if err == nil {
			return time.UnixMicro(us), nil
		}
		if !errors.Is(err, redis.Nil) {
			return time.Time{}, r.wrap(err)
		}
		set, err := r.rdb.SetNX(ctx, k, time.Now().UnixMicro(), 0).Result()
		if err != nil {
			return time.Time{}, r.wrap(err)
		}
		if set {
			r.log.Warn("session store epoch set: Redis holds no earlier sessions, spent tokens or preview clocks (a first start, or Redis came back empty)")
		}
	}
	return time.Time{}, r.wrap(errors.New("epoch key vanished twice"))
}

// PreviewUsed implements Store.
func (r *Redis) PreviewUsed(ctx context.Context, w Watch) (time.Duration, error) {
	ms, err := r.rdb.Get(ctx, r.key("preview", w.Stream, w.Viewer)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, r.wrap(err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// statsRetention is how long a stream's unique viewers and collects are kept after the
// last change.
const statsRetention = 30 * 24 * time.Hour

// Collect implements Store.
func (r *Redis) Collect(ctx context.Context, w Watch) (bool, error) {
	streamID, viewerID := w.Stream, w.Viewer
	var add *redis.IntCmd
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		add = p.SAdd(ctx, r.key("collect", streamID), viewerID)
		p.Expire(ctx, r.key("collect", streamID), statsRetention)
		return nil
	})
	if err != nil {
		return false, r.wrap(err)
	}
	return add.Val() == 1, nil
}

// Publish implements Store.
func (r *Redis) Publish(ctx context.Context, e Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if k := e.markerKey(); k != "" {
			p.Set(ctx, r.key("rev", k), b, time.Hour)
		}
		p.Publish(ctx, r.key("events"), b)
		return nil
	})
	return r.wrap(err)
}

// Revoked implements Store: one pipelined read of every marker that could end a session.
func (r *Redis) Revoked(ctx context.Context, live []Session) ([]Event, error) {
	if len(live) == 0 {
		return nil, nil
	}
	type probe struct {
		s   Session
		cmd *redis.StringCmd
	}
	var probes []probe
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range live {
			for _, k := range s.markerKeys() {
				probes = append(probes, probe{s, p.Get(ctx, r.key("rev", k.markerKey()))})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, r.wrap(err)
	}
	var out []Event
	done := map[string]bool{}
	for _, pr := range probes {
		raw, err := pr.cmd.Bytes()
		if err != nil || done[pr.s.ID] {
			continue
		}
		var e Event
		if json.Unmarshal(raw, &e) == nil && e.Matches(pr.s) {
			out = append(out, e)
			done[pr.s.ID] = true
		}
	}
	return out, nil
}

// Events implements Store. go-redis resubscribes by itself after Redis comes back.
func (r *Redis) Events(ctx context.Context) <-chan Event {
	out := make(chan Event, 256)
	ps := r.rdb.Subscribe(ctx, r.key("events"))
	// Wait for the subscription to be confirmed so that nothing published after Events
	// returns is missed; if Redis is down, the channel below subscribes when it is back.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := ps.Receive(rctx); err != nil {
		r.log.Warn("session events: subscribe", "err", err)
	}
	cancel()
	go func() {
		defer close(out)
		defer ps.Close()
		msgs := ps.Channel(redis.WithChannelHealthCheckInterval(5 * time.Second))
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				var e Event
				if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
					r.log.Warn("bad session event", "err", err)
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// Close implements Store.
func (r *Redis) Close() error { return r.rdb.Close() }
