// Package auth verifies Meridian's bearer tokens (HS256 JWTs) and carries the
// caller's identity through a request's context.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"meridian.dev/platform/fault"
)

// Roles a token may carry.
const (
	RoleGlobalLead      = "global_lead"
	RoleRegionalManager = "regional_manager"
	RoleTravelTeam      = "travel_team"
	RoleProtectionAgent = "protection_agent"
	RoleAuditor         = "auditor"
	RoleAdmin           = "admin"
)

// KnownRoles lists every role in the order the docs present them.
var KnownRoles = []string{RoleGlobalLead, RoleRegionalManager, RoleTravelTeam, RoleProtectionAgent, RoleAuditor, RoleAdmin}

// DevelopmentSecret signs tokens outside production so a newcomer can run the
// stack with no setup. A production process refuses to start with it.
const DevelopmentSecret = "meridian-development-secret-do-not-use-in-production"

// Identity is the verified caller.
type Identity struct {
	Subject string
	Name    string
	Roles   []string
	Regions []string
}

// HasRole reports whether the identity holds role.
func (id Identity) HasRole(role string) bool { return slices.Contains(id.Roles, role) }

// InRegion reports whether region is listed in the identity's token.
func (id Identity) InRegion(region string) bool { return slices.Contains(id.Regions, region) }

// ErrUnauthenticated is returned for a missing, malformed, expired or
// wrongly signed token. The message never says which, to give nothing away.
var ErrUnauthenticated = fault.New(fault.Unauthenticated, "a valid bearer token is required")

// Config selects how tokens are checked.
type Config struct {
	Secret   string // MERIDIAN_JWT_SECRET
	Issuer   string // MERIDIAN_JWT_ISSUER, default meridian
	Audience string // MERIDIAN_JWT_AUDIENCE, default meridian-api
}

// Validate refuses a production configuration without a real secret.
func (c Config) Validate(production bool) error {
	if production && (c.Secret == "" || c.Secret == DevelopmentSecret) {
		return errors.New("auth: MERIDIAN_JWT_SECRET must be set to a non-default value when MERIDIAN_ENV=production")
	}
	if c.Secret == "" {
		return errors.New("auth: MERIDIAN_JWT_SECRET is empty")
	}
	if production && len(c.Secret) < 32 {
		return errors.New("auth: MERIDIAN_JWT_SECRET must be at least 32 bytes in production")
	}
	return nil
}

type claims struct {
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
	Regions []string `json:"regions"`
	jwt.RegisteredClaims
}

// Verifier checks tokens.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
}

// NewVerifier returns a verifier for cfg.
func NewVerifier(cfg Config) *Verifier {
	return &Verifier{cfg: cfg, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)}
}

// Verify parses a raw token (without the "Bearer " prefix).
func (v *Verifier) Verify(raw string) (Identity, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return []byte(v.cfg.Secret), nil })
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if c.Subject == "" {
		return Identity{}, fmt.Errorf("%w: token has no sub", ErrUnauthenticated)
	}
	return Identity{Subject: c.Subject, Name: c.Name, Roles: c.Roles, Regions: c.Regions}, nil
}

// VerifyHeader accepts an Authorization header value ("Bearer <token>").
func (v *Verifier) VerifyHeader(header string) (Identity, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Identity{}, ErrUnauthenticated
	}
	return v.Verify(strings.TrimSpace(token))
}

// Mint signs a token for id valid for ttl. Used by `make tokens`, tests and
// the benchmark; production tokens come from the organisation's IdP.
func Mint(cfg Config, id Identity, ttl time.Duration) (string, error) {
	now := time.Now()
	c := claims{
		Name: id.Name,
		// Empty arrays, not null, for claims other tools will read.
		Roles:   append([]string{}, id.Roles...),
		Regions: append([]string{}, id.Regions...),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   id.Subject,
			Issuer:    cfg.Issuer,
			Audience:  jwt.ClaimStrings{cfg.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(cfg.Secret))
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the caller, or ErrUnauthenticated.
func FromContext(ctx context.Context) (Identity, error) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	if !ok {
		return Identity{}, ErrUnauthenticated
	}
	return id, nil
}

// ReadConfig reads MERIDIAN_JWT_* with their defaults; outside production an
// unset secret falls back to DevelopmentSecret.
func ReadConfig(r interface{ String(key, def string) string }, production bool) Config {
	def := DevelopmentSecret
	if production {
		def = ""
	}
	return Config{
		Secret:   r.String("MERIDIAN_JWT_SECRET", def),
		Issuer:   r.String("MERIDIAN_JWT_ISSUER", "meridian"),
		Audience: r.String("MERIDIAN_JWT_AUDIENCE", "meridian-api"),
	}
}
