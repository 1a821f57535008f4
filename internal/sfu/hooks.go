package sfu

import "sync"

// hooks are callbacks waiting for something that happens once to a peer (it closed, it
// connected): they run when it happens, or at once if it already has, so whoever waits
// parks no goroutine. They run on the goroutine that fires them and must not block.
type hooks struct {
	mu    sync.Mutex
	fired bool
	fns   []func()
}

// add runs f when the hooks fire, or now if they have.
func (h *hooks) add(f func()) {
	h.mu.Lock()
	if h.fired {
		h.mu.Unlock()
		f()
		return
	}
	h.fns = append(h.fns, f)
	h.mu.Unlock()
}

// fire runs the waiting callbacks, the first time only.
func (h *hooks) fire() {
	h.mu.Lock()
	if h.fired {
		h.mu.Unlock()
		return
	}
	h.fired = true
	fns := h.fns
	h.fns = nil
	h.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// done says the hooks have fired.
func (h *hooks) done() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fired
}
