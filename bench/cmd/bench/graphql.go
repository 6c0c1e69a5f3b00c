package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"meridian.dev/platform/site"
)

// The personas whose tokens the benchmark uses. Each region's manager
// updates the sites of their region, as on the product's own screens.
var managerOf = map[string]string{"AMER": "rm-amer-ana", "EMEA": "rm-emea-emil", "APAC": "rm-apac-aiko"}

const updateMutation = `mutation Update($input: UpdateSiteStatusInput!) {
  updateSiteStatus(input: $input) { site { id status { level version } } }
}`

const sitesQuery = `query Sites($after: String) {
  sites(first: 500, after: $after) { edges { cursor node { id code status { version } } } pageInfo { hasNextPage endCursor } }
}`

type gqlRequest struct {
	Query     string `json:"query"`
	Variables any    `json:"variables,omitempty"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) String() string {
	if code, ok := e.Extensions["code"]; ok {
		return fmt.Sprintf("%v: %s", code, e.Message)
	}
	return e.Message
}

type updateInput struct {
	SiteID          string `json:"siteId"`
	Level           string `json:"level"`
	Posture         string `json:"posture"`
	Note            string `json:"note"`
	ExpectedVersion int32  `json:"expectedVersion"`
}

type updateResponse struct {
	Data *struct {
		UpdateSiteStatus struct {
			Site struct {
				ID     string `json:"id"`
				Status struct {
					Level   string `json:"level"`
					Version int32  `json:"version"`
				} `json:"status"`
			} `json:"site"`
		} `json:"updateSiteStatus"`
	} `json:"data"`
	Errors []gqlError `json:"errors"`
}

// post sends one GraphQL request and decodes the answer into out.
func (e *env) post(ctx context.Context, token string, req gqlRequest, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.gateway+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.http.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}

// nextLevel alternates NORMAL and ELEVATED: neither escalates.
func nextLevel(l site.Level) site.Level {
	if l == site.LevelNormal {
		return site.LevelElevated
	}
	return site.LevelNormal
}

// updateViaGateway changes s's status through updateSiteStatus with the
// version the benchmark last saw, and advances it on success.
func (e *env) updateViaGateway(ctx context.Context, s *benchSite) error {
	level := nextLevel(s.level)
	var resp updateResponse
	err := e.post(ctx, e.tokens[managerOf[s.region]], gqlRequest{Query: updateMutation, Variables: map[string]any{
		"input": updateInput{SiteID: s.gid, Level: string(level), Posture: string(site.PostureOpen), Note: "benchmark", ExpectedVersion: s.version},
	}}, &resp)
	if err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("updateSiteStatus: %s", resp.Errors[0])
	}
	if resp.Data == nil {
		return fmt.Errorf("updateSiteStatus: no data")
	}
	got := resp.Data.UpdateSiteStatus.Site.Status
	if got.Version != s.version+1 || got.Level != string(level) {
		return fmt.Errorf("updateSiteStatus: got version %d level %s, want %d %s", got.Version, got.Level, s.version+1, level)
	}
	s.version, s.level = got.Version, level
	return nil
}

// resync reads a site's current version after a failed update, so the next
// one does not fail on a stale expectedVersion.
func (e *env) resync(ctx context.Context, s *benchSite) {
	_ = e.pool.QueryRow(ctx, `SELECT status_version, status_level FROM sites WHERE id = $1`, s.id).Scan(&s.version, &s.level)
}

// resolveGlobalIDs learns every site's GraphQL ID from the gateway itself,
// the way a client would, rather than rebuilding the opaque format.
func (e *env) resolveGlobalIDs(ctx context.Context) error {
	byCode := make(map[string]*benchSite, len(e.sites))
	for _, s := range e.sites {
		byCode[s.code] = s
	}
	var after *string
	for {
		var resp struct {
			Data *struct {
				Sites struct {
					Edges []struct {
						Node struct {
							ID   string `json:"id"`
							Code string `json:"code"`
						} `json:"node"`
					} `json:"edges"`
					PageInfo struct {
						HasNextPage bool    `json:"hasNextPage"`
						EndCursor   *string `json:"endCursor"`
					} `json:"pageInfo"`
				} `json:"sites"`
			} `json:"data"`
			Errors []gqlError `json:"errors"`
		}
		if err := e.post(ctx, e.tokens["gl-ada"], gqlRequest{Query: sitesQuery, Variables: map[string]any{"after": after}}, &resp); err != nil {
			return fmt.Errorf("list sites: %w", err)
		}
		if len(resp.Errors) > 0 || resp.Data == nil {
			return fmt.Errorf("list sites: %v", resp.Errors)
		}
		for _, edge := range resp.Data.Sites.Edges {
			if s, ok := byCode[edge.Node.Code]; ok {
				s.gid = edge.Node.ID
			}
		}
		if !resp.Data.Sites.PageInfo.HasNextPage {
			break
		}
		after = resp.Data.Sites.PageInfo.EndCursor
	}
	for _, s := range e.sites {
		if s.gid == "" {
			return fmt.Errorf("the gateway did not list site %s", s.code)
		}
	}
	return nil
}
