package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"meridian.dev/platform/auth"
	"meridian.dev/worker/demo"
)

// PersonaTokenTTL is how long a token handed to the board's persona picker
// lasts: a working day on the operations floor, after which the board signs
// in again.
const PersonaTokenTTL = 12 * time.Hour

// Persona is one demo person as the board's sign-in lists it.
type Persona struct {
	Subject string   `json:"subject"`
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
	Regions []string `json:"regions"`
	Token   string   `json:"token"`
}

// Personas serves GET /board/personas: every demo persona with a token the
// gateway accepts, signed with its own configuration, so the board's
// sign-in can offer a picker in development. The caller must mount it only
// in development (MERIDIAN_ENV=development): a token for every role, admin
// included, to whoever asks is exactly what `make tokens` prints for a
// newcomer, and nothing any other gateway may hand out. Tokens are minted per request, so each
// lasts PersonaTokenTTL from when the board asked; the answer is never
// cached, and carries no CORS header, so no other origin can read it.
func Personas(cfg auth.Config, log *slog.Logger) http.Handler {
	return Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		tokens, err := demo.Tokens(cfg, PersonaTokenTTL)
		if err != nil {
			log.ErrorContext(r.Context(), "mint demo persona tokens", "err", err)
			http.Error(w, "could not mint the demo personas' tokens", http.StatusInternalServerError)
			return
		}
		out := struct {
			Personas []Persona `json:"personas"`
		}{Personas: make([]Persona, 0, len(demo.Personas))}
		for _, p := range demo.Personas {
			out.Personas = append(out.Personas, Persona{
				Subject: p.Subject,
				Name:    p.Name,
				// Empty lists, not null, so the board need not guard each one.
				Roles:   append([]string{}, p.Roles...),
				Regions: append([]string{}, p.Regions...),
				Token:   tokens[p.Subject],
			})
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(out); err != nil {
			log.WarnContext(r.Context(), "write demo personas", "err", err)
		}
	}))
}
