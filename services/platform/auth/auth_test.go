package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/config"
	"meridian.dev/platform/fault"
)

var testCfg = auth.Config{
	Secret:   "0123456789abcdef0123456789abcdef-test",
	Issuer:   "meridian",
	Audience: "meridian-api",
}

func TestMintVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	id := auth.Identity{
		Subject: "u-123",
		Name:    "Zoë Ångström",
		Roles:   []string{auth.RoleRegionalManager, auth.RoleAuditor},
		Regions: []string{"EMEA", "APAC"},
	}
	raw, err := auth.Mint(testCfg, id, time.Hour)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	v := auth.NewVerifier(testCfg)
	got, err := v.Verify(raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != id.Subject || got.Name != id.Name || !slices.Equal(got.Roles, id.Roles) || !slices.Equal(got.Regions, id.Regions) {
		t.Fatalf("Verify = %+v, want %+v", got, id)
	}
	hdr, err := v.VerifyHeader("Bearer " + raw)
	if err != nil {
		t.Fatalf("VerifyHeader: %v", err)
	}
	if hdr.Subject != id.Subject {
		t.Fatalf("VerifyHeader subject = %q", hdr.Subject)
	}
}

// sign builds a token by hand so each test breaks exactly one thing.
func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	raw, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return raw
}

func goodClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub":   "u-1",
		"name":  "Ana",
		"roles": []string{auth.RoleAdmin},
		"iss":   testCfg.Issuer,
		"aud":   []string{testCfg.Audience},
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
}

func with(c jwt.MapClaims, key string, v any) jwt.MapClaims {
	c[key] = v
	return c
}

func without(c jwt.MapClaims, key string) jwt.MapClaims {
	delete(c, key)
	return c
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	secret := []byte(testCfg.Secret)
	expired, err := auth.Mint(testCfg, auth.Identity{Subject: "u-1"}, -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret, err := auth.Mint(auth.Config{Secret: "another-secret-another-secret-xx", Issuer: testCfg.Issuer, Audience: testCfg.Audience},
		auth.Identity{Subject: "u-1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, jwt.SigningMethodHS256, secret, goodClaims())
	tests := map[string]string{
		"expired":           expired,
		"expired by claims": sign(t, jwt.SigningMethodHS256, secret, with(goodClaims(), "exp", time.Now().Add(-time.Minute).Unix())),
		"wrong secret":      wrongSecret,
		"wrong issuer":      sign(t, jwt.SigningMethodHS256, secret, with(goodClaims(), "iss", "evil")),
		"missing issuer":    sign(t, jwt.SigningMethodHS256, secret, without(goodClaims(), "iss")),
		"wrong audience":    sign(t, jwt.SigningMethodHS256, secret, with(goodClaims(), "aud", []string{"other-api"})),
		"missing audience":  sign(t, jwt.SigningMethodHS256, secret, without(goodClaims(), "aud")),
		"alg none":          sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims()),
		"HS512":             sign(t, jwt.SigningMethodHS512, secret, goodClaims()),
		"HS384":             sign(t, jwt.SigningMethodHS384, secret, goodClaims()),
		"missing exp":       sign(t, jwt.SigningMethodHS256, secret, without(goodClaims(), "exp")),
		"missing sub":       sign(t, jwt.SigningMethodHS256, secret, without(goodClaims(), "sub")),
		"empty sub":         sign(t, jwt.SigningMethodHS256, secret, with(goodClaims(), "sub", "")),
		"not yet valid":     sign(t, jwt.SigningMethodHS256, secret, with(goodClaims(), "nbf", time.Now().Add(time.Hour).Unix())),
		"tampered payload":  tamper(t, good),
		"garbage":           "not.a.jwt",
		"empty":             "",
		"random text":       "hello world",
	}
	v := auth.NewVerifier(testCfg)
	// The control: the untampered token built the same way is accepted.
	if _, err := v.Verify(good); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(raw)
			if err == nil {
				t.Fatalf("Verify accepted a %s token: %+v", name, id)
			}
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Verify = %v, want errors.Is ErrUnauthenticated", err)
			}
			if fault.CodeOf(err) != fault.Unauthenticated {
				t.Fatalf("CodeOf = %s, want UNAUTHENTICATED", fault.CodeOf(err))
			}
			if id.Subject != "" {
				t.Fatalf("rejected token still returned subject %q", id.Subject)
			}
		})
	}
}

// tamper swaps the payload of a signed token for one granting more roles.
func tamper(t *testing.T, raw string) string {
	parts := strings.Split(raw, ".")
	evil := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
		with(goodClaims(), "roles", []string{auth.RoleAdmin, auth.RoleGlobalLead}))
	parts[1] = strings.Split(evil, ".")[1]
	return strings.Join(parts, ".")
}

func TestVerifyHeader(t *testing.T) {
	t.Parallel()
	raw, err := auth.Mint(testCfg, auth.Identity{Subject: "u-9", Roles: []string{auth.RoleAuditor}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(testCfg)
	for _, ok := range []string{"Bearer " + raw, "bearer " + raw, "BEARER " + raw, "  Bearer   " + raw + "  "} {
		id, err := v.VerifyHeader(ok)
		if err != nil || id.Subject != "u-9" {
			t.Errorf("VerifyHeader(%.20q…) = %+v, %v; want u-9", ok, id, err)
		}
	}
	for _, bad := range []string{"", raw, "Bearer", "Bearer ", "Bearer    ", "Basic " + raw, "Token " + raw, "Bearer: " + raw, "Bearer garbage"} {
		id, err := v.VerifyHeader(bad)
		if !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("VerifyHeader(%.30q) = %+v, %v; want ErrUnauthenticated", bad, id, err)
		}
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	if _, err := auth.FromContext(context.Background()); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("FromContext(empty) = %v, want ErrUnauthenticated", err)
	}
	want := auth.Identity{Subject: "s", Roles: []string{auth.RoleAdmin}}
	got, err := auth.FromContext(auth.WithIdentity(context.Background(), want))
	if err != nil || got.Subject != "s" || !got.HasRole(auth.RoleAdmin) || got.HasRole(auth.RoleAuditor) {
		t.Fatalf("FromContext = %+v, %v", got, err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 32)
	tests := []struct {
		name       string
		secret     string
		production bool
		ok         bool
	}{
		{"production empty", "", true, false},
		{"production development secret", auth.DevelopmentSecret, true, false},
		{"production short", strings.Repeat("k", 31), true, false},
		{"production 32 bytes", long, true, true},
		{"production long", long + long, true, true},
		{"development empty", "", false, false},
		{"development default secret", auth.DevelopmentSecret, false, true},
		{"development short", "short", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := auth.Config{Secret: tt.secret, Issuer: "meridian", Audience: "meridian-api"}.Validate(tt.production)
			if tt.ok && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if !tt.ok && err == nil {
				t.Fatalf("Validate accepted secret %q (production=%v)", tt.secret, tt.production)
			}
		})
	}
}

// TestReadConfig sets environment variables, so it cannot run in parallel.
func TestReadConfig(t *testing.T) {
	for _, k := range []string{"MERIDIAN_JWT_SECRET", "MERIDIAN_JWT_ISSUER", "MERIDIAN_JWT_AUDIENCE"} {
		t.Setenv(k, "")
	}
	dev := auth.ReadConfig(&config.Reader{}, false)
	if dev.Secret != auth.DevelopmentSecret || dev.Issuer != "meridian" || dev.Audience != "meridian-api" {
		t.Fatalf("development defaults = %+v", dev)
	}
	prod := auth.ReadConfig(&config.Reader{}, true)
	if prod.Secret != "" || prod.Issuer != "meridian" || prod.Audience != "meridian-api" {
		t.Fatalf("production defaults = %+v, want no secret", prod)
	}
	if err := prod.Validate(true); err == nil {
		t.Fatal("production with no secret set must not validate")
	}

	secret := strings.Repeat("s", 40)
	t.Setenv("MERIDIAN_JWT_SECRET", secret)
	t.Setenv("MERIDIAN_JWT_ISSUER", "issuer-x")
	t.Setenv("MERIDIAN_JWT_AUDIENCE", "aud-y")
	got := auth.ReadConfig(&config.Reader{}, true)
	if got.Secret != secret || got.Issuer != "issuer-x" || got.Audience != "aud-y" {
		t.Fatalf("ReadConfig = %+v", got)
	}
	if err := got.Validate(true); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
