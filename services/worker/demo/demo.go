// Package demo holds Meridian's demonstration data: real sites in real
// cities with true coordinates and IANA zones, and one persona per role.
package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"meridian.dev/platform/auth"
	"meridian.dev/platform/directory"
	"meridian.dev/platform/escalation"
	"meridian.dev/platform/schedule"
	"meridian.dev/platform/site"
)

// Sites are 36 offices across the three regions.
var Sites = []site.NewSite{
	// AMER
	{Code: "NYC-HQ", Name: "New York Headquarters", Region: "AMER", CountryCode: "US", City: "New York", Latitude: 40.7128, Longitude: -74.0060, Timezone: "America/New_York", Criticality: "CRITICAL"},
	{Code: "CHI-OFC", Name: "Chicago Office", Region: "AMER", CountryCode: "US", City: "Chicago", Latitude: 41.8781, Longitude: -87.6298, Timezone: "America/Chicago", Criticality: "HIGH"},
	{Code: "SFO-OFC", Name: "San Francisco Office", Region: "AMER", CountryCode: "US", City: "San Francisco", Latitude: 37.7749, Longitude: -122.4194, Timezone: "America/Los_Angeles", Criticality: "HIGH"},
	{Code: "DEN-DC", Name: "Denver Data Center", Region: "AMER", CountryCode: "US", City: "Denver", Latitude: 39.7392, Longitude: -104.9903, Timezone: "America/Denver", Criticality: "CRITICAL"},
	{Code: "TOR-OFC", Name: "Toronto Office", Region: "AMER", CountryCode: "CA", City: "Toronto", Latitude: 43.6532, Longitude: -79.3832, Timezone: "America/Toronto", Criticality: "MEDIUM"},
	{Code: "MEX-OFC", Name: "Mexico City Office", Region: "AMER", CountryCode: "MX", City: "Mexico City", Latitude: 19.4326, Longitude: -99.1332, Timezone: "America/Mexico_City", Criticality: "MEDIUM"},
	{Code: "SAO-OFC", Name: "São Paulo Office", Region: "AMER", CountryCode: "BR", City: "São Paulo", Latitude: -23.5505, Longitude: -46.6333, Timezone: "America/Sao_Paulo", Criticality: "HIGH"},
	{Code: "BOG-OFC", Name: "Bogotá Office", Region: "AMER", CountryCode: "CO", City: "Bogotá", Latitude: 4.7110, Longitude: -74.0721, Timezone: "America/Bogota", Criticality: "MEDIUM"},
	{Code: "BUE-OFC", Name: "Buenos Aires Office", Region: "AMER", CountryCode: "AR", City: "Buenos Aires", Latitude: -34.6037, Longitude: -58.3816, Timezone: "America/Argentina/Buenos_Aires", Criticality: "LOW"},
	{Code: "SCL-OFC", Name: "Santiago Office", Region: "AMER", CountryCode: "CL", City: "Santiago", Latitude: -33.4489, Longitude: -70.6693, Timezone: "America/Santiago", Criticality: "LOW"},
	{Code: "LIM-OFC", Name: "Lima Office", Region: "AMER", CountryCode: "PE", City: "Lima", Latitude: -12.0464, Longitude: -77.0428, Timezone: "America/Lima", Criticality: "LOW"},
	{Code: "YVR-OFC", Name: "Vancouver Office", Region: "AMER", CountryCode: "CA", City: "Vancouver", Latitude: 49.2827, Longitude: -123.1207, Timezone: "America/Vancouver", Criticality: "MEDIUM"},
	// EMEA
	{Code: "LON-HQ", Name: "London Regional Headquarters", Region: "EMEA", CountryCode: "GB", City: "London", Latitude: 51.5074, Longitude: -0.1278, Timezone: "Europe/London", Criticality: "CRITICAL"},
	{Code: "PAR-OFC", Name: "Paris Office", Region: "EMEA", CountryCode: "FR", City: "Paris", Latitude: 48.8566, Longitude: 2.3522, Timezone: "Europe/Paris", Criticality: "HIGH"},
	{Code: "FRA-DC", Name: "Frankfurt Data Center", Region: "EMEA", CountryCode: "DE", City: "Frankfurt am Main", Latitude: 50.1109, Longitude: 8.6821, Timezone: "Europe/Berlin", Criticality: "CRITICAL"},
	{Code: "AMS-OFC", Name: "Amsterdam Office", Region: "EMEA", CountryCode: "NL", City: "Amsterdam", Latitude: 52.3676, Longitude: 4.9041, Timezone: "Europe/Amsterdam", Criticality: "MEDIUM"},
	{Code: "MAD-OFC", Name: "Madrid Office", Region: "EMEA", CountryCode: "ES", City: "Madrid", Latitude: 40.4168, Longitude: -3.7038, Timezone: "Europe/Madrid", Criticality: "MEDIUM"},
	{Code: "MIL-OFC", Name: "Milan Office", Region: "EMEA", CountryCode: "IT", City: "Milan", Latitude: 45.4642, Longitude: 9.1900, Timezone: "Europe/Rome", Criticality: "MEDIUM"},
	{Code: "STO-OFC", Name: "Stockholm Office", Region: "EMEA", CountryCode: "SE", City: "Stockholm", Latitude: 59.3293, Longitude: 18.0686, Timezone: "Europe/Stockholm", Criticality: "LOW"},
	{Code: "WAW-OFC", Name: "Warsaw Office", Region: "EMEA", CountryCode: "PL", City: "Warsaw", Latitude: 52.2297, Longitude: 21.0122, Timezone: "Europe/Warsaw", Criticality: "LOW"},
	{Code: "DXB-OFC", Name: "Dubai Office", Region: "EMEA", CountryCode: "AE", City: "Dubai", Latitude: 25.2048, Longitude: 55.2708, Timezone: "Asia/Dubai", Criticality: "HIGH"},
	{Code: "JNB-OFC", Name: "Johannesburg Office", Region: "EMEA", CountryCode: "ZA", City: "Johannesburg", Latitude: -26.2041, Longitude: 28.0473, Timezone: "Africa/Johannesburg", Criticality: "HIGH"},
	{Code: "NBO-OFC", Name: "Nairobi Office", Region: "EMEA", CountryCode: "KE", City: "Nairobi", Latitude: -1.2921, Longitude: 36.8219, Timezone: "Africa/Nairobi", Criticality: "MEDIUM"},
	{Code: "LOS-OFC", Name: "Lagos Office", Region: "EMEA", CountryCode: "NG", City: "Lagos", Latitude: 6.5244, Longitude: 3.3792, Timezone: "Africa/Lagos", Criticality: "HIGH"},
	// APAC
	{Code: "SIN-HQ", Name: "Singapore Regional Headquarters", Region: "APAC", CountryCode: "SG", City: "Singapore", Latitude: 1.3521, Longitude: 103.8198, Timezone: "Asia/Singapore", Criticality: "CRITICAL"},
	{Code: "TYO-OFC", Name: "Tokyo Office", Region: "APAC", CountryCode: "JP", City: "Tokyo", Latitude: 35.6762, Longitude: 139.6503, Timezone: "Asia/Tokyo", Criticality: "HIGH"},
	{Code: "HKG-OFC", Name: "Hong Kong Office", Region: "APAC", CountryCode: "HK", City: "Hong Kong", Latitude: 22.3193, Longitude: 114.1694, Timezone: "Asia/Hong_Kong", Criticality: "HIGH"},
	{Code: "SHA-OFC", Name: "Shanghai Office", Region: "APAC", CountryCode: "CN", City: "Shanghai", Latitude: 31.2304, Longitude: 121.4737, Timezone: "Asia/Shanghai", Criticality: "HIGH"},
	{Code: "SYD-OFC", Name: "Sydney Office", Region: "APAC", CountryCode: "AU", City: "Sydney", Latitude: -33.8688, Longitude: 151.2093, Timezone: "Australia/Sydney", Criticality: "MEDIUM"},
	{Code: "MEL-OFC", Name: "Melbourne Office", Region: "APAC", CountryCode: "AU", City: "Melbourne", Latitude: -37.8136, Longitude: 144.9631, Timezone: "Australia/Melbourne", Criticality: "LOW"},
	{Code: "BOM-OFC", Name: "Mumbai Office", Region: "APAC", CountryCode: "IN", City: "Mumbai", Latitude: 19.0760, Longitude: 72.8777, Timezone: "Asia/Kolkata", Criticality: "HIGH"},
	{Code: "BLR-DC", Name: "Bengaluru Data Center", Region: "APAC", CountryCode: "IN", City: "Bengaluru", Latitude: 12.9716, Longitude: 77.5946, Timezone: "Asia/Kolkata", Criticality: "CRITICAL"},
	{Code: "SEL-OFC", Name: "Seoul Office", Region: "APAC", CountryCode: "KR", City: "Seoul", Latitude: 37.5665, Longitude: 126.9780, Timezone: "Asia/Seoul", Criticality: "MEDIUM"},
	{Code: "JKT-OFC", Name: "Jakarta Office", Region: "APAC", CountryCode: "ID", City: "Jakarta", Latitude: -6.2088, Longitude: 106.8456, Timezone: "Asia/Jakarta", Criticality: "MEDIUM"},
	{Code: "MNL-OFC", Name: "Manila Office", Region: "APAC", CountryCode: "PH", City: "Manila", Latitude: 14.5995, Longitude: 120.9842, Timezone: "Asia/Manila", Criticality: "LOW"},
	{Code: "AKL-OFC", Name: "Auckland Office", Region: "APAC", CountryCode: "NZ", City: "Auckland", Latitude: -36.8485, Longitude: 174.7633, Timezone: "Pacific/Auckland", Criticality: "LOW"},
}

// Personas are one person per role (a regional manager per region), named so
// a newcomer can tell at a glance what each token may do.
var Personas = []directory.Person{
	{Subject: "gl-ada", Name: "Ada Global (global lead)", Email: "ada@meridian.example", Roles: []string{auth.RoleGlobalLead}, Regions: []string{"AMER", "EMEA", "APAC"}},
	{Subject: "rm-amer-ana", Name: "Ana Americas (regional manager, AMER)", Email: "ana@meridian.example", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"AMER"}},
	{Subject: "rm-emea-emil", Name: "Emil Europe (regional manager, EMEA)", Email: "emil@meridian.example", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"EMEA"}},
	{Subject: "rm-apac-aiko", Name: "Aiko Asia (regional manager, APAC)", Email: "aiko@meridian.example", Roles: []string{auth.RoleRegionalManager}, Regions: []string{"APAC"}},
	{Subject: "tt-theo", Name: "Theo Travel (travel team)", Email: "theo@meridian.example", Roles: []string{auth.RoleTravelTeam}},
	{Subject: "pa-petra", Name: "Petra Protect (protection agent)", Email: "petra@meridian.example", Roles: []string{auth.RoleProtectionAgent}},
	{Subject: "pa-liam", Name: "Liam Lead (protection detail leader)", Email: "liam@meridian.example", Roles: []string{auth.RoleProtectionAgent}},
	{Subject: "pa-omar", Name: "Omar Other (protection agent, on no demo detail)", Email: "omar@meridian.example", Roles: []string{auth.RoleProtectionAgent}},
	{Subject: "au-aude", Name: "Aude Audit (auditor)", Email: "aude@meridian.example", Roles: []string{auth.RoleAuditor}},
	{Subject: "ad-adam", Name: "Adam Admin (admin)", Email: "adam@meridian.example", Roles: []string{auth.RoleAdmin}, Regions: []string{"AMER", "EMEA", "APAC"}},
}

// Rotations give each region a daily on-call turn, handed over at 09:00 in
// the region's own zone, between its regional manager and the global lead.
var Rotations = []schedule.Rotation{
	{Region: "AMER", Name: "primary", TimeZone: "America/New_York", Kind: schedule.Daily, HandoffTime: "09:00", Start: "2026-01-05", Participants: []string{"rm-amer-ana", "gl-ada"}},
	{Region: "EMEA", Name: "primary", TimeZone: "Europe/London", Kind: schedule.Daily, HandoffTime: "09:00", Start: "2026-01-05", Participants: []string{"rm-emea-emil", "gl-ada"}},
	{Region: "APAC", Name: "primary", TimeZone: "Asia/Singapore", Kind: schedule.Daily, HandoffTime: "09:00", Start: "2026-01-05", Participants: []string{"rm-apac-aiko", "gl-ada"}},
}

// Load inserts the personas, rotations and every demo site not yet present.
// Running it again changes nothing.
func Load(ctx context.Context, pool *pgxpool.Pool) (created int, err error) {
	people := directory.NewStore(pool)
	for _, p := range Personas {
		if err := people.Upsert(ctx, p); err != nil {
			return 0, err
		}
	}
	schedules := schedule.NewStore(pool)
	for _, r := range Rotations {
		existing, err := schedules.Rotations(ctx, r.Region)
		if err != nil {
			return 0, err
		}
		if !slices.ContainsFunc(existing, func(e schedule.Rotation) bool { return e.Name == r.Name }) {
			if _, err := schedules.CreateRotation(ctx, "demo-loader", r); err != nil {
				return 0, fmt.Errorf("demo rotation %s/%s: %w", r.Region, r.Name, err)
			}
		}
	}
	sites := site.NewStore(pool, escalation.NewStore(pool))
	allow := func(string) error { return nil }
	for _, s := range Sites {
		_, err := sites.Create(ctx, "demo-loader", s, allow)
		if errors.Is(err, site.ErrCodeUsed) {
			continue
		}
		if err != nil {
			return created, fmt.Errorf("demo site %s: %w", s.Code, err)
		}
		created++
	}
	return created, nil
}

// Tokens mints one token per persona.
func Tokens(cfg auth.Config, ttl time.Duration) (map[string]string, error) {
	out := make(map[string]string, len(Personas))
	for _, p := range Personas {
		tok, err := auth.Mint(cfg, auth.Identity{Subject: p.Subject, Name: p.Name, Roles: p.Roles, Regions: p.Regions}, ttl)
		if err != nil {
			return nil, err
		}
		out[p.Subject] = tok
	}
	return out, nil
}
