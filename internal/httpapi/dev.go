package httpapi

// Development doors: viewer tokens and a checkout that moves no money. Routed only
// while the node's secrets are its own (see routes).

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/livegate/livegate/internal/access"
	"github.com/livegate/livegate/internal/admission"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/web"
)

// devLogin mints a viewer token from a form, for trying paid streams in a browser.
func (a *api) devLogin(w http.ResponseWriter, r *http.Request) {
	data := map[string]string{}
	if r.Method == http.MethodPost {
		if a.limited(w, r, admission.DevLogin, a.client(r)) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		viewer := strings.TrimSpace(r.PostFormValue("viewer_id"))
		if viewer == "" || len(viewer) > 200 {
			invalid(w, r, "viewer_id", "viewer_id must be 1 to 200 characters")
			return
		}
		tok, err := a.Viewers.Mint(viewer, time.Hour)
		if err != nil {
			problem.Answer(w, r, errCannotMint.With(err.Error()))
			return
		}
		data["Viewer"], data["Token"] = viewer, tok
		if creator := strings.TrimSpace(r.PostFormValue("creator_id")); creator != "" {
			if _, err := a.Store.Creator(r.Context(), creator); err != nil {
				invalid(w, r, "creator_id", "no creator with this id")
				return
			}
			ct, err := a.Viewers.MintIdentity(access.Identity{Subject: viewer, Role: access.RoleCreator, CreatorID: creator}, 12*time.Hour)
			if err != nil {
				problem.Answer(w, r, errCannotMint.With(err.Error()))
				return
			}
			data["Creator"], data["CreatorToken"] = creator, ct
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	web.DevLogin(w, data)
}

func (a *api) mintDevToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ViewerID  string `json:"viewer_id"`
		TTL       string `json:"ttl"`
		Role      string `json:"role"`       // viewer (default), creator or operator
		CreatorID string `json:"creator_id"` // the creator a creator token manages
	}
	if !a.decodeJSON(w, r, &in) {
		return
	}
	if in.ViewerID == "" || len(in.ViewerID) > 200 {
		invalid(w, r, "viewer_id", "viewer_id must be 1 to 200 characters")
		return
	}
	id := access.Identity{Subject: in.ViewerID, Role: access.Role(in.Role), CreatorID: in.CreatorID}
	switch id.Role {
	case "", access.RoleViewer:
		id.Role = access.RoleViewer
	case access.RoleOperator:
	case access.RoleCreator:
		if _, err := a.Store.Creator(r.Context(), in.CreatorID); err != nil {
			invalid(w, r, "creator_id", "a creator token names an existing creator_id")
			return
		}
	default:
		invalid(w, r, "role", "role must be viewer, creator or operator")
		return
	}
	ttl := time.Hour
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			invalid(w, r, "ttl", "ttl must be a duration up to 720h")
			return
		}
		ttl = d
	}
	tok, err := a.Viewers.MintIdentity(id, ttl)
	if err != nil {
		problem.Answer(w, r, errCannotMint.With(err.Error()))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "viewer_id": in.ViewerID, "role": id.Role,
		"creator_id": id.CreatorID, "expires_at": time.Now().Add(ttl).UTC()})
}

// Creators' money.

func (a *api) devCheckout(w http.ResponseWriter, r *http.Request) {
	co, err := a.Store.Checkout(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.storeError(w, r, "checkout", err)
		return
	}
	cur, _ := money.Lookup(co.Currency)
	title := "Ticket"
	switch {
	case co.Kind == store.KindSubscription:
		title = "Monthly subscription"
	case co.Kind == store.KindTip:
		title = "Tip"
	case co.RecipientID != "":
		title = "Gifted ticket for " + co.RecipientID
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	web.DevCheckout(w, map[string]string{"ID": co.ID, "Title": title, "Display": cur.Format(co.Amount),
		"Country": co.Country, "State": co.State})
}

func (a *api) devPay(w http.ResponseWriter, r *http.Request) {
	if err := a.Billing.CompleteDevCheckout(r.Context(), chi.URLParam(r, "id")); err != nil {
		a.moneyError(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]string{"state": "completed"})
		return
	}
	http.Redirect(w, r, "/dev/checkout/"+chi.URLParam(r, "id"), http.StatusSeeOther)
}
