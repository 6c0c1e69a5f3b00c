package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"meridian.dev/gateway/stacktest"
	"meridian.dev/platform/auth"
)

// siteGlobalID builds a well-formed ID for a site that does not exist. IDs
// are opaque to clients; the test knows their format (graph/ids.go) only to
// make one that is valid yet unknown.
func siteGlobalID(id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte("Site:" + id.String()))
}

const createSiteMutation = `mutation($input: CreateSiteInput!) {
  createSite(input: $input) { clientMutationId site { id code region { code } countryCode timezone location { latitude longitude } status { level posture version } } }
}`

func newSiteInput(code string, edit func(map[string]any)) map[string]any {
	in := map[string]any{
		"code": code, "name": "Lyon Office", "region": "EMEA", "countryCode": "FR", "city": "Lyon",
		"latitude": 45.764, "longitude": 4.8357, "timezone": "Europe/Paris", "criticality": "MEDIUM",
	}
	if edit != nil {
		edit(in)
	}
	return map[string]any{"input": in}
}

const decisionMutations = `
mutation Ack($id: ID!) { acknowledgeEscalation(input: {escalationId: $id, note: "on it"}) { escalation { id status acknowledgedBy } } }
mutation Resolve($id: ID!) { resolveEscalation(input: {escalationId: $id, note: "all clear"}) { escalation { id status } } }`

func postOperation(t testing.TB, g *stacktest.Gateway, token, document, operation string, vars map[string]any) stacktest.Result {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": document, "operationName": operation, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return g.Post(t, token, "application/json", body)
}

func postWithAuthorization(t testing.TB, g *stacktest.Gateway, authorization string, body []byte) stacktest.Result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.URL, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	return g.Send(t, req)
}

// TestHTTPContract drives the GraphQL endpoint over real HTTP and checks the
// error contract: a stable extensions.code, the field at fault, the right
// HTTP status, never a 5xx, and nothing written by a refused mutation. The
// stack runs without a worker so no escalation workflow writes behind the
// row counts.
func TestHTTPContract(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{NoWorker: true})
	g := s.GW

	// An open escalation for the AMER headquarters, for the decision checks.
	opened := s.SetStatus(t, g, stacktest.GlobalLead, "NYC-HQ", "CRITICAL", "LOCKDOWN", "contract test incident")
	if opened.Escalation == nil || opened.Escalation.Status != "OPEN" || opened.Escalation.Region.Code != "AMER" {
		t.Fatalf("CRITICAL/LOCKDOWN opened no AMER escalation: %+v", opened.Escalation)
	}
	escalationID := opened.Escalation.ID

	t.Run("me without a token is UNAUTHENTICATED", func(t *testing.T) {
		r := g.Query(t, "", `{ me { subject } }`, nil)
		if r.Status != http.StatusOK {
			t.Errorf("HTTP %d, want 200 with a GraphQL error", r.Status)
		}
		r.Refused(t, "UNAUTHENTICATED")
		if string(r.Data) != "null" {
			t.Errorf("data = %s, want null", r.Data)
		}
	})

	t.Run("a mutation without a token is UNAUTHENTICATED and writes nothing", func(t *testing.T) {
		s.Unchanged(t, func() {
			g.Query(t, "", stacktest.UpdateStatusMutation, stacktest.StatusInput(s.Site(t, "LON-HQ").ID, "HIGH", "OPEN", "", 1)).Refused(t, "UNAUTHENTICATED")
		})
	})

	t.Run("a bad bearer token is HTTP 401", func(t *testing.T) {
		id := auth.Identity{Subject: stacktest.EMEAManager, Name: "Emil", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}}
		mint := func(cfg auth.Config, id auth.Identity, ttl time.Duration) string {
			tok, err := auth.Mint(cfg, id, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		otherSecret := s.Auth
		otherSecret.Secret = "not-the-gateway-secret-0123456789abcdef"
		otherAudience := s.Auth
		otherAudience.Audience = "someone-else"
		noSubject := id
		noSubject.Subject = ""
		cases := map[string]string{
			"malformed":      "Bearer not-a-jwt",
			"expired":        "Bearer " + mint(s.Auth, id, -time.Hour),
			"wrong secret":   "Bearer " + mint(otherSecret, id, time.Hour),
			"wrong audience": "Bearer " + mint(otherAudience, id, time.Hour),
			"no subject":     "Bearer " + mint(s.Auth, noSubject, time.Hour),
			"not bearer":     "Basic " + base64.StdEncoding.EncodeToString([]byte("emil:secret")),
			"empty bearer":   "Bearer ",
		}
		body, _ := json.Marshal(map[string]any{"query": stacktest.UpdateStatusMutation,
			"variables": stacktest.StatusInput(s.Site(t, "LON-HQ").ID, "HIGH", "OPEN", "", 1)})
		for name, header := range cases {
			t.Run(name, func(t *testing.T) {
				s.Unchanged(t, func() {
					r := postWithAuthorization(t, g, header, body)
					if r.Status != http.StatusUnauthorized {
						t.Errorf("HTTP %d, want 401", r.Status)
					}
					if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
					}
					e := r.Refused(t, "UNAUTHENTICATED")
					// The message never says what was wrong with the token.
					for _, leak := range []string{"expired", "signature", "audience", "sub", "malformed"} {
						if strings.Contains(strings.ToLower(e.Message), leak) {
							t.Errorf("message %q gives away %q", e.Message, leak)
						}
					}
				})
			})
		}
	})

	t.Run("a body over 1 MiB is HTTP 413", func(t *testing.T) {
		pad := func(n int) []byte {
			return []byte(`{"query":"{ me { subject } }","variables":{"pad":"` + strings.Repeat("x", n) + `"}}`)
		}
		r := g.Post(t, s.Token(t, stacktest.GlobalLead), "application/json", pad(1<<20))
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("HTTP %d, want 413: %.200s", r.Status, r.Body)
		}
		if e := r.Refused(t, "BAD_USER_INPUT"); !strings.Contains(e.Message, "1 MiB") {
			t.Errorf("message %q does not give the limit", e.Message)
		}
		// Just under the limit is served.
		var out struct{ Me struct{ Subject string } }
		g.Post(t, s.Token(t, stacktest.GlobalLead), "application/json", pad(1<<20-200)).Decode(t, &out)
		if out.Me.Subject != stacktest.GlobalLead {
			t.Errorf("me.subject = %q", out.Me.Subject)
		}
	})

	t.Run("a body that is not JSON is HTTP 400", func(t *testing.T) {
		for name, body := range map[string]string{
			"text":        "query { me { subject } }",
			"truncated":   `{"query": "{ me { subject } }"`,
			"wrong shape": `["{ me { subject } }"]`,
			"no query":    `{"variables": {}}`,
		} {
			t.Run(name, func(t *testing.T) {
				r := g.Post(t, s.Token(t, stacktest.GlobalLead), "application/json", []byte(body))
				if r.Status != http.StatusBadRequest {
					t.Errorf("HTTP %d, want 400", r.Status)
				}
				r.Refused(t, "BAD_USER_INPUT")
			})
		}
	})

	t.Run("GET serves GraphiQL to browsers and 405 otherwise", func(t *testing.T) {
		code, hdr, body := get(t, g.URL, map[string]string{"Accept": "text/html,application/xhtml+xml"})
		if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			t.Errorf("GraphiQL: HTTP %d, %s", code, hdr.Get("Content-Type"))
		}
		// GraphiQL is the board build's graphiql.html, served from the
		// gateway itself; without the build, the page saying how to make it.
		if want := embeddedPage(t, "graphiql.html"); body != want {
			t.Errorf("GraphiQL: the page served is not the embedded one (%d bytes, want %d)", len(body), len(want))
		}
		for _, remote := range []string{`src="http`, `href="http`, `src="//`, `href="//`} {
			if strings.Contains(body, remote) {
				t.Errorf("GraphiQL page loads something from elsewhere (%s…): it must work with no internet", remote)
			}
		}
		checkGraphiQLHeaders(t, hdr, g.Base)
		code, hdr, body = get(t, g.URL, map[string]string{"Accept": "application/json"})
		if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "POST" {
			t.Errorf("GET without text/html: HTTP %d, Allow %q", code, hdr.Get("Allow"))
		}
		var env struct{ Errors []stacktest.GQLError }
		if err := json.Unmarshal([]byte(body), &env); err != nil || len(env.Errors) != 1 || env.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Errorf("GET without text/html: body %s", body)
		}
		req, _ := http.NewRequest(http.MethodPut, g.URL, strings.NewReader(`{"query":"{ me { subject } }"}`))
		if r := g.Send(t, req); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("PUT: HTTP %d, want 405", r.Status)
		}
	})

	t.Run("a query deeper than the limit is refused", func(t *testing.T) {
		q := "{ me " + strings.Repeat("{ a ", 13) + strings.Repeat("} ", 13) + "}"
		r := g.Query(t, s.Token(t, stacktest.GlobalLead), q, nil)
		e := r.Refused(t, "BAD_USER_INPUT")
		if !strings.Contains(e.Message, "exceeds max depth 12") {
			t.Errorf("message %q does not say the depth limit", e.Message)
		}
		if string(r.Data) != "" && string(r.Data) != "null" {
			t.Errorf("a refused query returned data %s", r.Data)
		}
		// The deepest query the schema allows is well within the limit.
		var out struct{ Escalations struct{ Edges []any } }
		g.Query(t, s.Token(t, stacktest.GlobalLead), `{ escalations { edges { node { site { statusHistory { edges { node { version } } } } } } } }`, nil).Decode(t, &out)
		if len(out.Escalations.Edges) != 1 {
			t.Errorf("want the one escalation, got %d", len(out.Escalations.Edges))
		}
	})

	t.Run("a query longer than the limit is refused", func(t *testing.T) {
		q := "{ me { subject } } #" + strings.Repeat("x", 20_000)
		e := g.Query(t, s.Token(t, stacktest.GlobalLead), q, nil).Refused(t, "BAD_USER_INPUT")
		if !strings.Contains(e.Message, "maximum allowed query length of 20000") {
			t.Errorf("message %q does not say the length limit", e.Message)
		}
	})

	t.Run("a syntax error or an unknown field is BAD_USER_INPUT", func(t *testing.T) {
		g.Query(t, s.Token(t, stacktest.GlobalLead), `{ me { subject }`, nil).Refused(t, "BAD_USER_INPUT")
		e := g.Query(t, s.Token(t, stacktest.GlobalLead), `{ me { password } }`, nil).Refused(t, "BAD_USER_INPUT")
		if !strings.Contains(e.Message, "password") {
			t.Errorf("message %q does not name the unknown field", e.Message)
		}
	})

	t.Run("an unknown site is NOT_FOUND", func(t *testing.T) {
		r := g.Query(t, s.Token(t, stacktest.GlobalLead), `query($id: ID!) { site(id: $id) { code } }`, map[string]any{"id": siteGlobalID(uuid.New())})
		r.Refused(t, "NOT_FOUND")
		if !strings.Contains(string(r.Data), `"site":null`) {
			t.Errorf("data = %s", r.Data)
		}
		s.Unchanged(t, func() {
			g.Query(t, s.Token(t, stacktest.GlobalLead), stacktest.UpdateStatusMutation, stacktest.StatusInput(siteGlobalID(uuid.New()), "HIGH", "OPEN", "", 1)).Refused(t, "NOT_FOUND")
		})
	})

	t.Run("a malformed id is BAD_USER_INPUT naming the field", func(t *testing.T) {
		for _, id := range []string{"not-an-id", escalationID} {
			g.Query(t, s.Token(t, stacktest.GlobalLead), `query($id: ID!) { site(id: $id) { code } }`, map[string]any{"id": id}).RefusedField(t, "id")
		}
		s.Unchanged(t, func() {
			g.Query(t, s.Token(t, stacktest.GlobalLead), stacktest.UpdateStatusMutation, stacktest.StatusInput("not-an-id", "HIGH", "OPEN", "", 1)).RefusedField(t, "siteId")
			postOperation(t, g, s.Token(t, stacktest.GlobalLead), decisionMutations, "Ack", map[string]any{"id": s.Site(t, "LON-HQ").ID}).RefusedField(t, "escalationId")
		})
	})

	t.Run("createSite validates every field", func(t *testing.T) {
		cases := []struct {
			field string
			edit  func(map[string]any)
		}{
			{"region", func(in map[string]any) { in["region"] = "MARS" }},
			{"countryCode", func(in map[string]any) { in["countryCode"] = "XX" }},
			{"timezone", func(in map[string]any) { in["timezone"] = "Mars/Base" }},
			{"timezone", func(in map[string]any) { in["timezone"] = "UTC+2" }},
			{"latitude", func(in map[string]any) { in["latitude"] = 95 }},
			{"longitude", func(in map[string]any) { in["longitude"] = 200 }},
			{"code", func(in map[string]any) { in["code"] = "lyon office!" }},
			{"name", func(in map[string]any) { in["name"] = "  " }},
		}
		for _, c := range cases {
			s.Unchanged(t, func() {
				g.Query(t, s.Token(t, stacktest.GlobalLead), createSiteMutation, newSiteInput("LYS-OFC", c.edit)).RefusedField(t, c.field)
			})
		}
	})

	t.Run("createSite creates, and refuses a used code and a foreign region", func(t *testing.T) {
		var out struct {
			CreateSite struct {
				ClientMutationID *string
				Site             struct {
					ID          string
					Code        string
					Region      struct{ Code string }
					CountryCode string
					Timezone    string
					Location    struct{ Latitude, Longitude float64 }
					Status      struct {
						Level, Posture string
						Version        int
					}
				}
			}
		}
		before := s.Counts(t)
		g.Query(t, s.Token(t, stacktest.EMEAManager), createSiteMutation, newSiteInput("lys-ofc", func(in map[string]any) {
			in["countryCode"] = "fr"
			in["clientMutationId"] = "create-lys"
		})).Decode(t, &out)
		c := out.CreateSite
		if c.Site.Code != "LYS-OFC" || c.Site.Region.Code != "EMEA" || c.Site.CountryCode != "FR" || c.Site.Timezone != "Europe/Paris" ||
			c.Site.Location.Latitude != 45.764 || c.Site.Status.Level != "NORMAL" || c.Site.Status.Posture != "OPEN" || c.Site.Status.Version != 1 {
			t.Errorf("created site = %+v", c.Site)
		}
		if c.ClientMutationID == nil || *c.ClientMutationID != "create-lys" {
			t.Errorf("clientMutationId not echoed: %v", c.ClientMutationID)
		}
		after := s.Counts(t)
		for _, tbl := range []string{"sites", "site_status_history", "audit_log"} {
			if after[tbl] != before[tbl]+1 {
				t.Errorf("createSite: %s went from %d to %d rows, want one more", tbl, before[tbl], after[tbl])
			}
		}
		s.Sites["LYS-OFC"] = stacktest.SiteRef{ID: c.Site.ID, Code: "LYS-OFC", Region: "EMEA"}

		s.Unchanged(t, func() {
			g.Query(t, s.Token(t, stacktest.EMEAManager), createSiteMutation, newSiteInput("LYS-OFC", nil)).Refused(t, "CONFLICT")
			g.Query(t, s.Token(t, stacktest.EMEAManager), createSiteMutation, newSiteInput("BOS-OFC", func(in map[string]any) {
				in["region"], in["countryCode"], in["timezone"] = "AMER", "US", "America/New_York"
			})).Refused(t, "FORBIDDEN")
		})
	})

	t.Run("a note over 2000 characters is refused", func(t *testing.T) {
		lon := s.Site(t, "LON-HQ")
		s.Unchanged(t, func() {
			g.Query(t, s.Token(t, stacktest.EMEAManager), stacktest.UpdateStatusMutation,
				stacktest.StatusInput(lon.ID, "ELEVATED", "OPEN", strings.Repeat("a", 2001), s.Version(t, "LON-HQ"))).RefusedField(t, "note")
		})
		// The limit counts characters, not bytes.
		note := strings.Repeat("é", 2000)
		p := s.SetStatus(t, g, stacktest.EMEAManager, "LON-HQ", "ELEVATED", "OPEN", note)
		if p.Site.Status.Note != note {
			t.Errorf("a 2000-character note came back as %d characters", len([]rune(p.Site.Status.Note)))
		}
	})

	t.Run("a stale expectedVersion is CONFLICT", func(t *testing.T) {
		par := s.Site(t, "PAR-OFC")
		s.SetStatus(t, g, stacktest.EMEAManager, "PAR-OFC", "ELEVATED", "OPEN", "first")
		current := s.Version(t, "PAR-OFC")
		s.Unchanged(t, func() {
			e := g.Query(t, s.Token(t, stacktest.EMEAManager), stacktest.UpdateStatusMutation, stacktest.StatusInput(par.ID, "HIGH", "OPEN", "second", current-1)).Refused(t, "CONFLICT")
			if !strings.Contains(e.Message, fmt.Sprintf("current version %d", current)) {
				t.Errorf("message %q does not give the current version", e.Message)
			}
			g.Query(t, s.Token(t, stacktest.EMEAManager), stacktest.UpdateStatusMutation, stacktest.StatusInput(par.ID, "HIGH", "OPEN", "", 0)).RefusedField(t, "expectedVersion")
		})
	})

	t.Run("a regional manager cannot change another region", func(t *testing.T) {
		s.Unchanged(t, func() {
			g.Query(t, s.Token(t, stacktest.EMEAManager), stacktest.UpdateStatusMutation,
				stacktest.StatusInput(s.Site(t, "CHI-OFC").ID, "HIGH", "OPEN", "", s.Version(t, "CHI-OFC"))).Refused(t, "FORBIDDEN")
			for _, op := range []string{"Ack", "Resolve"} {
				postOperation(t, g, s.Token(t, stacktest.EMEAManager), decisionMutations, op, map[string]any{"id": escalationID}).Refused(t, "FORBIDDEN")
			}
		})
	})

	t.Run("read-only roles read but change nothing", func(t *testing.T) {
		for _, subject := range []string{stacktest.TravelTeam, stacktest.Auditor, stacktest.ProtectionAgent} {
			t.Run(subject, func(t *testing.T) {
				tok := s.Token(t, subject)
				var board struct{ Sites struct{ Edges []any } }
				g.Query(t, tok, `{ sites(region: "EMEA") { edges { node { code status { level } } } } }`, nil).Decode(t, &board)
				if len(board.Sites.Edges) == 0 {
					t.Errorf("%s cannot read the board", subject)
				}
				s.Unchanged(t, func() {
					g.Query(t, tok, stacktest.UpdateStatusMutation,
						stacktest.StatusInput(s.Site(t, "FRA-DC").ID, "HIGH", "OPEN", "", s.Version(t, "FRA-DC"))).Refused(t, "FORBIDDEN")
					g.Query(t, tok, createSiteMutation, newSiteInput("GVA-OFC", func(in map[string]any) {
						in["countryCode"], in["timezone"] = "CH", "Europe/Zurich"
					})).Refused(t, "FORBIDDEN")
					for _, op := range []string{"Ack", "Resolve"} {
						postOperation(t, g, tok, decisionMutations, op, map[string]any{"id": escalationID}).Refused(t, "FORBIDDEN")
					}
				})
			})
		}
	})

	t.Run("a retried clientMutationId answers the same and changes once", func(t *testing.T) {
		mad := s.Site(t, "MAD-OFC")
		v := s.Version(t, "MAD-OFC")
		vars := stacktest.StatusInput(mad.ID, "HIGH", "RESTRICTED", "march on the avenue", v)
		vars["input"].(map[string]any)["clientMutationId"] = "retry-mad-1"
		var first, second struct{ UpdateSiteStatus stacktest.UpdatePayload }
		g.Query(t, s.Token(t, stacktest.EMEAManager), stacktest.UpdateStatusMutation, vars).Decode(t, &first)
		s.Unchanged(t, func() {
			g.Query(t, s.Token(t, stacktest.EMEAManager), stacktest.UpdateStatusMutation, vars).Decode(t, &second)
		})
		if first.UpdateSiteStatus.Site.Status.Version != v+1 {
			t.Errorf("first answer: version %d, want %d", first.UpdateSiteStatus.Site.Status.Version, v+1)
		}
		if f, sec := fmt.Sprintf("%+v", first.UpdateSiteStatus.Site), fmt.Sprintf("%+v", second.UpdateSiteStatus.Site); f != sec {
			t.Errorf("the retry answered differently:\nfirst  %s\nsecond %s", f, sec)
		}
		if id := second.UpdateSiteStatus.ClientMutationID; id == nil || *id != "retry-mad-1" {
			t.Errorf("clientMutationId not echoed on the retry: %v", id)
		}
		if got := s.Version(t, "MAD-OFC"); got != v+1 {
			t.Errorf("version is %d after a retried change from %d", got, v)
		}
		// The same ID from another caller is another mutation.
		var other struct{ UpdateSiteStatus stacktest.UpdatePayload }
		vars = stacktest.StatusInput(mad.ID, "ELEVATED", "OPEN", "calmer", v+1)
		vars["input"].(map[string]any)["clientMutationId"] = "retry-mad-1"
		g.Query(t, s.Token(t, stacktest.GlobalLead), stacktest.UpdateStatusMutation, vars).Decode(t, &other)
		if other.UpdateSiteStatus.Site.Status.Version != v+2 {
			t.Errorf("another caller's mutation with the same ID: version %d, want %d", other.UpdateSiteStatus.Site.Status.Version, v+2)
		}
	})

	t.Run("sites filters by region and level", func(t *testing.T) {
		s.SetStatus(t, g, stacktest.EMEAManager, "AMS-OFC", "HIGH", "RESTRICTED", "")
		s.SetStatus(t, g, stacktest.APACManager, "JKT-OFC", "HIGH", "OPEN", "")
		type board struct {
			Sites struct {
				Edges []struct {
					Node struct {
						Code   string
						Region struct{ Code string }
						Status struct{ Level string }
					}
				}
			}
		}
		fromDB := func(region, level string) []string {
			rows, err := s.Pool.Query(t.Context(), `SELECT code FROM sites WHERE ($1 = '' OR region = $1) AND ($2 = '' OR status_level = $2) ORDER BY code`, region, level)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var codes []string
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					t.Fatal(err)
				}
				codes = append(codes, c)
			}
			return codes
		}
		for _, f := range []struct{ region, level string }{{"EMEA", ""}, {"", "HIGH"}, {"EMEA", "HIGH"}, {"APAC", "CRITICAL"}, {"AMER", "CRITICAL"}} {
			var out board
			g.Query(t, s.Token(t, stacktest.Auditor), `query($region: String, $level: StatusLevel) {
				sites(region: $region, level: $level, first: 500) { edges { node { code region { code } status { level } } } } }`,
				map[string]any{"region": nilIfEmpty(f.region), "level": nilIfEmpty(f.level)}).Decode(t, &out)
			var codes []string
			for _, e := range out.Sites.Edges {
				codes = append(codes, e.Node.Code)
				if f.region != "" && e.Node.Region.Code != f.region || f.level != "" && e.Node.Status.Level != f.level {
					t.Errorf("filter %+v let through %+v", f, e.Node)
				}
			}
			if want := fromDB(f.region, f.level); !slices.Equal(codes, want) {
				t.Errorf("filter %+v: got %v, want %v", f, codes, want)
			}
		}
		if got := fromDB("", "HIGH"); !slices.Contains(got, "AMS-OFC") || !slices.Contains(got, "JKT-OFC") {
			t.Errorf("sites set HIGH are not HIGH in Postgres: %v", got)
		}
		g.Query(t, s.Token(t, stacktest.Auditor), `{ sites(region: "MARS") { edges { cursor } } }`, nil).RefusedField(t, "region")
	})

	t.Run("sites paginates with first and after", func(t *testing.T) {
		type page struct {
			Sites struct {
				Edges []struct {
					Cursor string
					Node   struct{ Code string }
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		var codes []string
		var after any
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("pagination does not end: %v", codes)
			}
			var p page
			g.Query(t, s.Token(t, stacktest.TravelTeam), `query($after: String) { sites(first: 5, after: $after) { edges { cursor node { code } } pageInfo { hasNextPage endCursor } } }`,
				map[string]any{"after": after}).Decode(t, &p)
			edges := p.Sites.Edges
			if len(edges) == 0 || len(edges) > 5 {
				t.Fatalf("page %d has %d edges", pages, len(edges))
			}
			if p.Sites.PageInfo.EndCursor == nil || *p.Sites.PageInfo.EndCursor != edges[len(edges)-1].Cursor {
				t.Errorf("page %d: endCursor %v is not the last edge's cursor %q", pages, p.Sites.PageInfo.EndCursor, edges[len(edges)-1].Cursor)
			}
			for _, e := range edges {
				codes = append(codes, e.Node.Code)
			}
			if !p.Sites.PageInfo.HasNextPage {
				if len(edges) == 5 && len(codes)%5 != 0 {
					t.Errorf("last page is full but hasNextPage is false")
				}
				break
			}
			if len(edges) != 5 {
				t.Errorf("page %d: %d edges yet hasNextPage", pages, len(edges))
			}
			after = *p.Sites.PageInfo.EndCursor
		}
		var total int
		if err := s.Pool.QueryRow(t.Context(), `SELECT count(*) FROM sites`).Scan(&total); err != nil {
			t.Fatal(err)
		}
		if len(codes) != total {
			t.Errorf("pages listed %d sites, Postgres holds %d", len(codes), total)
		}
		if !slices.IsSorted(codes) || len(slices.Compact(slices.Clone(codes))) != len(codes) {
			t.Errorf("pages are not in code order without repeats: %v", codes)
		}
		g.Query(t, s.Token(t, stacktest.TravelTeam), `{ sites(first: -1) { edges { cursor } } }`, nil).RefusedField(t, "first")
		g.Query(t, s.Token(t, stacktest.TravelTeam), `{ sites(first: 501) { edges { cursor } } }`, nil).RefusedField(t, "first")
		g.Query(t, s.Token(t, stacktest.TravelTeam), `{ sites(after: "bogus") { edges { cursor } } }`, nil).RefusedField(t, "after")
	})

	t.Run("statusHistory lists newest first, by pages", func(t *testing.T) {
		s.SetStatus(t, g, stacktest.EMEAManager, "WAW-OFC", "ELEVATED", "OPEN", "one")
		s.SetStatus(t, g, stacktest.EMEAManager, "WAW-OFC", "HIGH", "RESTRICTED", "two")
		s.SetStatus(t, g, stacktest.EMEAManager, "WAW-OFC", "NORMAL", "OPEN", "three")
		type history struct {
			Site struct {
				Code          string
				StatusHistory struct {
					Edges []struct {
						Cursor string
						Node   stacktest.StatusView
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   *string
					}
				}
			}
		}
		const q = `query($id: ID!, $first: Int, $after: String) { site(id: $id) { code statusHistory(first: $first, after: $after) {
			edges { cursor node { level posture note version updatedBy updatedAt } } pageInfo { hasNextPage endCursor } } } }`
		var p1, p2 history
		g.Query(t, s.Token(t, stacktest.Auditor), q, map[string]any{"id": s.Site(t, "WAW-OFC").ID, "first": 2}).Decode(t, &p1)
		h := p1.Site.StatusHistory
		if len(h.Edges) != 2 || !h.PageInfo.HasNextPage || h.Edges[0].Node.Version != 4 || h.Edges[1].Node.Version != 3 {
			t.Fatalf("first page: %+v", h)
		}
		if n := h.Edges[0].Node; n.Note != "three" || n.Level != "NORMAL" || n.UpdatedBy != stacktest.EMEAManager || n.UpdatedAt == "" {
			t.Errorf("newest entry = %+v", n)
		}
		g.Query(t, s.Token(t, stacktest.Auditor), q, map[string]any{"id": s.Site(t, "WAW-OFC").ID, "first": 10, "after": *h.PageInfo.EndCursor}).Decode(t, &p2)
		h2 := p2.Site.StatusHistory
		if len(h2.Edges) != 2 || h2.PageInfo.HasNextPage || h2.Edges[0].Node.Version != 2 || h2.Edges[1].Node.Version != 1 {
			t.Fatalf("second page: %+v", h2)
		}
		if n := h2.Edges[1].Node; n.Level != "NORMAL" || n.Posture != "OPEN" || n.UpdatedBy != "demo-loader" {
			t.Errorf("oldest entry = %+v", n)
		}
	})

	t.Run("node fetches sites and escalations by global ID", func(t *testing.T) {
		const q = `query($id: ID!) { node(id: $id) { __typename id
			... on Site { code region { code } }
			... on Escalation { status tier site { code } region { code } timeline { kind actor } } } }`
		var site struct {
			Node *struct {
				Typename string `json:"__typename"`
				ID       string
				Code     string
				Region   struct{ Code string }
			}
		}
		tok := s.Token(t, stacktest.ProtectionAgent)
		g.Query(t, tok, q, map[string]any{"id": s.Site(t, "SIN-HQ").ID}).Decode(t, &site)
		if site.Node == nil || site.Node.Typename != "Site" || site.Node.Code != "SIN-HQ" || site.Node.Region.Code != "APAC" || site.Node.ID != s.Site(t, "SIN-HQ").ID {
			t.Errorf("node(site) = %+v", site.Node)
		}
		var esc struct {
			Node *struct {
				Typename string `json:"__typename"`
				ID       string
				Status   string
				Site     struct{ Code string }
				Region   struct{ Code string }
				Timeline []struct{ Kind, Actor string }
			}
		}
		g.Query(t, tok, q, map[string]any{"id": escalationID}).Decode(t, &esc)
		if esc.Node == nil || esc.Node.Typename != "Escalation" || esc.Node.ID != escalationID || esc.Node.Status != "OPEN" ||
			esc.Node.Site.Code != "NYC-HQ" || esc.Node.Region.Code != "AMER" {
			t.Errorf("node(escalation) = %+v", esc.Node)
		} else if len(esc.Node.Timeline) == 0 || esc.Node.Timeline[0].Kind != "OPENED" || esc.Node.Timeline[0].Actor != stacktest.GlobalLead {
			t.Errorf("escalation timeline = %+v", esc.Node.Timeline)
		}
		var missing struct{ Node *struct{ ID string } }
		g.Query(t, tok, q, map[string]any{"id": siteGlobalID(uuid.New())}).Decode(t, &missing)
		if missing.Node != nil {
			t.Errorf("node(unknown site) = %+v, want null", missing.Node)
		}
		g.Query(t, tok, q, map[string]any{"id": "bogus"}).RefusedField(t, "id")
	})

	t.Run("escalations filters by region and status", func(t *testing.T) {
		type list struct {
			Escalations struct {
				Edges []struct {
					Cursor string
					Node   struct {
						ID     string
						Status string
						Site   struct{ Code string }
					}
				}
				PageInfo struct{ HasNextPage bool }
			}
		}
		const q = `query($region: String, $status: EscalationStatus) { escalations(region: $region, status: $status) {
			edges { cursor node { id status site { code } } } pageInfo { hasNextPage } } }`
		var amer, emea, resolved list
		g.Query(t, s.Token(t, stacktest.Auditor), q, map[string]any{"region": "AMER", "status": "OPEN"}).Decode(t, &amer)
		if e := amer.Escalations.Edges; len(e) != 1 || e[0].Node.ID != escalationID || e[0].Node.Site.Code != "NYC-HQ" || amer.Escalations.PageInfo.HasNextPage {
			t.Errorf("AMER open escalations = %+v", amer.Escalations)
		}
		g.Query(t, s.Token(t, stacktest.Auditor), q, map[string]any{"region": "EMEA"}).Decode(t, &emea)
		g.Query(t, s.Token(t, stacktest.Auditor), q, map[string]any{"status": "RESOLVED"}).Decode(t, &resolved)
		if len(emea.Escalations.Edges) != 0 || len(resolved.Escalations.Edges) != 0 {
			t.Errorf("EMEA: %+v; RESOLVED: %+v", emea.Escalations, resolved.Escalations)
		}
	})

	t.Run("regions", func(t *testing.T) {
		var out struct {
			Regions []struct{ Code, Name, Timezone string }
		}
		g.Query(t, s.Token(t, stacktest.Auditor), `{ regions { code name timezone } }`, nil).Decode(t, &out)
		want := []struct{ Code, Name, Timezone string }{
			{"AMER", "Americas", "America/New_York"},
			{"APAC", "Asia-Pacific", "Asia/Singapore"},
			{"EMEA", "Europe, Middle East and Africa", "Europe/London"},
		}
		if !slices.Equal(out.Regions, want) {
			t.Errorf("regions = %+v", out.Regions)
		}
	})

	t.Run("me", func(t *testing.T) {
		type viewer struct {
			Me struct {
				Subject, Name  string
				Roles, Regions []string
			}
		}
		var emil, theo viewer
		g.Query(t, s.Token(t, stacktest.EMEAManager), `{ me { subject name roles regions } }`, nil).Decode(t, &emil)
		if m := emil.Me; m.Subject != stacktest.EMEAManager || !strings.Contains(m.Name, "Emil") ||
			!slices.Equal(m.Roles, []string{"regional_manager"}) || !slices.Equal(m.Regions, []string{"EMEA"}) {
			t.Errorf("me (EMEA manager) = %+v", m)
		}
		r := g.Query(t, s.Token(t, stacktest.TravelTeam), `{ me { subject roles regions } }`, nil)
		r.Decode(t, &theo)
		if theo.Me.Subject != stacktest.TravelTeam || !slices.Equal(theo.Me.Roles, []string{"travel_team"}) || theo.Me.Regions == nil {
			t.Errorf("me (travel team, no regions) = %+v: %s", theo.Me, r.Data)
		}
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestRateLimit runs a gateway allowing 3 mutations per caller: the fourth
// is RATE_LIMITED and writes nothing, while another caller is unaffected.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	// An hour's window: the four mutations cannot straddle two windows.
	s := stacktest.New(t, stacktest.Options{NoWorker: true, RateLimit: 3, RateWindow: time.Hour})
	levels := []string{"ELEVATED", "HIGH", "ELEVATED"}
	for i, level := range levels {
		if p := s.SetStatus(t, s.GW, stacktest.EMEAManager, "STO-OFC", level, "OPEN", fmt.Sprint("change ", i+1)); p.Site.Status.Version != i+2 {
			t.Fatalf("change %d: version %d", i+1, p.Site.Status.Version)
		}
	}
	s.Unchanged(t, func() {
		e := s.GW.Query(t, s.Token(t, stacktest.EMEAManager), stacktest.UpdateStatusMutation,
			stacktest.StatusInput(s.Site(t, "STO-OFC").ID, "HIGH", "OPEN", "change 4", s.Version(t, "STO-OFC"))).Refused(t, "RATE_LIMITED")
		if !strings.Contains(e.Message, "limit 3") {
			t.Errorf("message %q does not give the limit", e.Message)
		}
		// The limit counts every mutation of the caller, not one field.
		s.GW.Query(t, s.Token(t, stacktest.EMEAManager), createSiteMutation, newSiteInput("LYS-OFC", nil)).Refused(t, "RATE_LIMITED")
	})
	// Reading is not limited, and the limit is per caller.
	var me struct{ Me struct{ Subject string } }
	s.GW.Query(t, s.Token(t, stacktest.EMEAManager), `{ me { subject } }`, nil).Decode(t, &me)
	if p := s.SetStatus(t, s.GW, stacktest.GlobalLead, "STO-OFC", "NORMAL", "OPEN", "another caller"); p.Site.Status.Version != 5 {
		t.Errorf("another caller's change: version %d, want 5", p.Site.Status.Version)
	}
}
