package protection

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // movement time zones must load on hosts without a zoneinfo database
	"unicode/utf8"

	"github.com/google/uuid"

	"meridian.dev/platform/country"
	"meridian.dev/platform/fault"
)

// Limits on what the protection records carry. Errors name the API's input
// fields, so a client can point at the one at fault.
const (
	maxNameLen        = 200
	maxTitleLen       = 200
	maxAddressLen     = 500
	maxMedicalItems   = 50
	maxMedicalItemLen = 200
	maxContacts       = 20
	maxContactField   = 200
	maxPhoneLen       = 40
	maxVehicles       = 20
	maxPlateLen       = 20
	maxVehicleDescLen = 200
	maxPhotoRefLen    = 500
	maxCityLen        = 100
	maxVehicleLen     = 200
	maxRouteNotesLen  = 2000
	maxHavenNotesLen  = 2000
	maxNoteLen        = 4000
	maxPlaceLen       = 200
	maxEndNoteLen     = 500
	// MaxAgents bounds a detail's agents.
	MaxAgents = 50
	// MaxMovements and MaxSafeHavens bound a detail's plan.
	MaxMovements  = 200
	MaxSafeHavens = 200
	// maxNotedForSpan is how far from today an advance note's date may be:
	// further is a typo, not a plan.
	maxNotedForSpan = 10 * 365 * 24 * time.Hour
	// maxPositionAhead tolerates clocks of agents' devices running fast.
	maxPositionAhead = 5 * time.Minute
)

// BloodTypes are the blood types a profile may name.
var BloodTypes = []string{"A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"}

// checkText trims s and refuses it when it cannot be stored or is longer
// than max characters; min 1 makes it required.
func checkText(field, s string, minLen, maxLen int) (string, error) {
	s = strings.TrimSpace(s)
	if err := fault.CheckText(field, s); err != nil {
		return "", err
	}
	n := utf8.RuneCountInString(s)
	if n < minLen {
		return "", fault.Invalid(field, "is required")
	}
	if n > maxLen {
		return "", fault.Invalid(field, "must be at most %d characters", maxLen)
	}
	return s, nil
}

func checkName(field, s string) (string, error) { return checkText(field, s, 1, maxNameLen) }

func checkThreatLevel(field, level string) (string, error) {
	level = strings.ToUpper(strings.TrimSpace(level))
	if !slices.Contains(ThreatLevels, level) {
		return "", fault.Invalid(field, "must be one of %s", strings.Join(ThreatLevels, ", "))
	}
	return level, nil
}

// checkPhone accepts what people write phone numbers with, and at least
// one digit.
func checkPhone(field, phone string, required bool) (string, error) {
	minLen := 0
	if required {
		minLen = 1
	}
	phone, err := checkText(field, phone, minLen, maxPhoneLen)
	if err != nil || phone == "" {
		return phone, err
	}
	digits := 0
	for _, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune(" +-().", r):
		default:
			return "", fault.Invalid(field, "may hold only digits, spaces and + - ( ) .")
		}
	}
	if digits == 0 {
		return "", fault.Invalid(field, "must contain digits")
	}
	return phone, nil
}

// normalizeProfile validates a whole profile, naming fields by their path
// in ProfileInput ("profile.emergencyContacts[1].phone").
func normalizeProfile(p Profile) (Profile, error) {
	var err error
	if p.HomeAddress, err = checkText("profile.homeAddress", p.HomeAddress, 0, maxAddressLen); err != nil {
		return Profile{}, err
	}
	if p.PhotoRef, err = checkText("profile.photoRef", p.PhotoRef, 0, maxPhotoRefLen); err != nil {
		return Profile{}, err
	}
	if p.Medical != nil {
		m, err := normalizeMedical(*p.Medical)
		if err != nil {
			return Profile{}, err
		}
		p.Medical = m
	}
	if len(p.EmergencyContacts) > maxContacts {
		return Profile{}, fault.Invalid("profile.emergencyContacts", "at most %d", maxContacts)
	}
	contacts := make([]EmergencyContact, len(p.EmergencyContacts))
	for i, c := range p.EmergencyContacts {
		if contacts[i], err = normalizeContact(fmt.Sprintf("profile.emergencyContacts[%d]", i), c); err != nil {
			return Profile{}, err
		}
	}
	p.EmergencyContacts = contacts
	if len(p.Vehicles) > maxVehicles {
		return Profile{}, fault.Invalid("profile.vehicles", "at most %d", maxVehicles)
	}
	vehicles := make([]Vehicle, len(p.Vehicles))
	for i, v := range p.Vehicles {
		field := fmt.Sprintf("profile.vehicles[%d]", i)
		if vehicles[i].Plate, err = checkText(field+".plate", v.Plate, 1, maxPlateLen); err != nil {
			return Profile{}, err
		}
		if vehicles[i].Description, err = checkText(field+".description", v.Description, 0, maxVehicleDescLen); err != nil {
			return Profile{}, err
		}
	}
	p.Vehicles = vehicles
	return p, nil
}

// normalizeMedical validates medical notes; notes with nothing in them
// are no notes (nil).
func normalizeMedical(m Medical) (*Medical, error) {
	m.BloodType = strings.ToUpper(strings.TrimSpace(m.BloodType))
	if err := fault.CheckText("profile.medical.bloodType", m.BloodType); err != nil {
		return nil, err
	}
	if m.BloodType != "" && !slices.Contains(BloodTypes, m.BloodType) {
		return nil, fault.Invalid("profile.medical.bloodType", "must be one of %s", strings.Join(BloodTypes, " "))
	}
	var err error
	if m.Allergies, err = checkList("profile.medical.allergies", m.Allergies); err != nil {
		return nil, err
	}
	if m.Conditions, err = checkList("profile.medical.conditions", m.Conditions); err != nil {
		return nil, err
	}
	if m.BloodType == "" && len(m.Allergies) == 0 && len(m.Conditions) == 0 {
		return nil, nil
	}
	return &m, nil
}

func checkList(field string, items []string) ([]string, error) {
	if len(items) > maxMedicalItems {
		return nil, fault.Invalid(field, "at most %d items", maxMedicalItems)
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		item, err := checkText(fmt.Sprintf("%s[%d]", field, i), item, 1, maxMedicalItemLen)
		if err != nil {
			return nil, err
		}
		out = append(out, item)
	}
	return out, nil
}

func normalizeContact(field string, c EmergencyContact) (EmergencyContact, error) {
	var err error
	if c.Name, err = checkText(field+".name", c.Name, 1, maxContactField); err != nil {
		return c, err
	}
	if c.Phone, err = checkPhone(field+".phone", c.Phone, true); err != nil {
		return c, err
	}
	if c.Relation, err = checkText(field+".relation", c.Relation, 1, maxContactField); err != nil {
		return c, err
	}
	return c, nil
}

// profileFields names the parts of a profile that differ between two, for
// the audit log: which parts changed, never what they hold.
func profileFields(before, after Profile) []string {
	changed := []string{}
	add := func(name string, differ bool) {
		if differ {
			changed = append(changed, "profile."+name)
		}
	}
	add("homeAddress", before.HomeAddress != after.HomeAddress)
	add("medical", !medicalEqual(before.Medical, after.Medical))
	add("emergencyContacts", !slices.Equal(before.EmergencyContacts, after.EmergencyContacts))
	add("vehicles", !slices.Equal(before.Vehicles, after.Vehicles))
	add("photoRef", before.PhotoRef != after.PhotoRef)
	return changed
}

func medicalEqual(a, b *Medical) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.BloodType == b.BloodType && slices.Equal(a.Allergies, b.Allergies) && slices.Equal(a.Conditions, b.Conditions)
}

// checkCoordinates refuses NaN and out-of-range coordinates, naming
// prefix+"latitude" or prefix+"longitude".
func checkCoordinates(prefix string, lat, lon float64) error {
	if math.IsNaN(lat) || lat < -90 || lat > 90 {
		return fault.Invalid(prefix+"latitude", "must be between -90 and 90")
	}
	if math.IsNaN(lon) || lon < -180 || lon > 180 {
		return fault.Invalid(prefix+"longitude", "must be between -180 and 180")
	}
	return nil
}

// normalizePlace validates a place, naming field+".city" and so on.
func normalizePlace(field string, p Place) (Place, error) {
	var err error
	if p.City, err = checkText(field+".city", p.City, 1, maxCityLen); err != nil {
		return p, err
	}
	p.CountryCode = strings.ToUpper(strings.TrimSpace(p.CountryCode))
	if _, ok := country.Get(p.CountryCode); !ok {
		return p, fault.Invalid(field+".countryCode", "unknown country %q (an ISO 3166-1 alpha-2 code such as KE)", p.CountryCode)
	}
	return p, checkCoordinates(field+".", p.Latitude, p.Longitude)
}

// checkInterval validates a detail's own interval and grace.
func checkInterval(interval time.Duration) error {
	if interval < MinInterval || interval > MaxInterval {
		return fault.Invalid("checkInInterval", "must be between %d and %d seconds", int(MinInterval.Seconds()), int(MaxInterval.Seconds()))
	}
	if interval%time.Second != 0 {
		return fault.Invalid("checkInInterval", "must be whole seconds")
	}
	return nil
}

func checkGrace(grace time.Duration) error {
	if grace < 0 || grace > MaxGrace {
		return fault.Invalid("gracePeriod", "must be between 0 and %d seconds", int(MaxGrace.Seconds()))
	}
	if grace%time.Second != 0 {
		return fault.Invalid("gracePeriod", "must be whole seconds")
	}
	return nil
}

// normalizeSubjects trims, de-duplicates and checks a list of people.
func normalizeSubjects(field string, subjects []string) ([]string, error) {
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		s = strings.TrimSpace(s)
		if err := fault.CheckText(field, s); err != nil {
			return nil, err
		}
		if s == "" {
			return nil, fault.Invalid(field, "a subject is empty")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) > MaxAgents {
		return nil, fault.Invalid(field, "a detail has at most %d agents", MaxAgents)
	}
	slices.Sort(out)
	return out, nil
}

// normalizeNewDetail validates what createDetail can check without the
// database.
func normalizeNewDetail(n NewDetail) (NewDetail, error) {
	var err error
	if n.ProtecteeID == uuid.Nil {
		return n, fault.Invalid("protecteeId", "is required")
	}
	n.Region = strings.ToUpper(strings.TrimSpace(n.Region))
	if err := fault.CheckText("region", n.Region); err != nil {
		return n, err
	}
	if n.Leader, err = checkText("leader", n.Leader, 1, maxNameLen); err != nil {
		return n, err
	}
	if n.Agents, err = normalizeSubjects("agents", n.Agents); err != nil {
		return n, err
	}
	// The leader is on the detail as its leader; listed again as an agent
	// they would be counted twice.
	n.Agents = slices.DeleteFunc(n.Agents, func(s string) bool { return s == n.Leader })
	if n.StartsAt.IsZero() {
		return n, fault.Invalid("startsAt", "is required")
	}
	if n.EndsAt.IsZero() {
		return n, fault.Invalid("endsAt", "is required")
	}
	if !n.EndsAt.After(n.StartsAt) {
		return n, fault.Invalid("endsAt", "must be after startsAt")
	}
	n.StartsAt, n.EndsAt = n.StartsAt.UTC(), n.EndsAt.UTC()
	if n.ThreatLevel != "" {
		if n.ThreatLevel, err = checkThreatLevel("threatLevel", n.ThreatLevel); err != nil {
			return n, err
		}
	}
	if n.Interval != nil {
		if err := checkInterval(*n.Interval); err != nil {
			return n, err
		}
	}
	if n.Grace != nil {
		if err := checkGrace(*n.Grace); err != nil {
			return n, err
		}
	}
	return n, fault.CheckText("clientMutationId", n.ClientMutationID)
}

// normalizeNewMovement validates addMovement's input.
func normalizeNewMovement(n NewMovement) (NewMovement, error) {
	var err error
	if n.From, err = normalizePlace("from", n.From); err != nil {
		return n, err
	}
	if n.To, err = normalizePlace("to", n.To); err != nil {
		return n, err
	}
	if n.PlannedDeparture.IsZero() {
		return n, fault.Invalid("plannedDeparture", "is required")
	}
	if n.PlannedArrival.IsZero() {
		return n, fault.Invalid("plannedArrival", "is required")
	}
	if n.PlannedArrival.Before(n.PlannedDeparture) {
		return n, fault.Invalid("plannedArrival", "arrives before it departs")
	}
	n.PlannedDeparture, n.PlannedArrival = n.PlannedDeparture.UTC(), n.PlannedArrival.UTC()
	if n.DepartureZone, err = fault.CheckTimezone("departureTimezone", n.DepartureZone); err != nil {
		return n, err
	}
	if n.ArrivalZone, err = fault.CheckTimezone("arrivalTimezone", n.ArrivalZone); err != nil {
		return n, err
	}
	if n.Vehicle, err = checkText("vehicle", n.Vehicle, 0, maxVehicleLen); err != nil {
		return n, err
	}
	if n.RouteNotes, err = checkText("routeNotes", n.RouteNotes, 0, maxRouteNotesLen); err != nil {
		return n, err
	}
	return n, nil
}

// applyMovementChange applies c to m, validating each given field and the
// result, and names the fields whose value changed.
func applyMovementChange(m Movement, c MovementChange) (Movement, []string, error) {
	ch := movementChanges{}
	if c.Status != nil {
		status := strings.ToUpper(strings.TrimSpace(*c.Status))
		if !slices.Contains(MovementStatuses, status) {
			return m, nil, fault.Invalid("status", "must be one of %s", strings.Join(MovementStatuses, ", "))
		}
		ch.note("status", status != m.Status)
		m.Status = status
	}
	planned := []struct {
		name string
		in   *time.Time
		into *time.Time
	}{{"plannedDeparture", c.PlannedDeparture, &m.PlannedDeparture}, {"plannedArrival", c.PlannedArrival, &m.PlannedArrival}}
	for _, t := range planned {
		if err := ch.setTime(t.name, t.in, t.into); err != nil {
			return m, nil, err
		}
	}
	actual := []struct {
		name string
		in   *time.Time
		into **time.Time
	}{{"actualDeparture", c.ActualDeparture, &m.ActualDeparture}, {"actualArrival", c.ActualArrival, &m.ActualArrival}}
	for _, t := range actual {
		if t.in == nil {
			continue
		}
		v := time.Time{}
		if *t.into != nil {
			v = **t.into
		}
		if err := ch.setTime(t.name, t.in, &v); err != nil {
			return m, nil, err
		}
		*t.into = &v
	}
	if err := ch.setText("vehicle", c.Vehicle, maxVehicleLen, &m.Vehicle); err != nil {
		return m, nil, err
	}
	if err := ch.setText("routeNotes", c.RouteNotes, maxRouteNotesLen, &m.RouteNotes); err != nil {
		return m, nil, err
	}
	if m.PlannedArrival.Before(m.PlannedDeparture) {
		return m, nil, fault.Invalid("plannedArrival", "arrives before it departs")
	}
	if m.ActualArrival != nil && m.ActualDeparture != nil && m.ActualArrival.Before(*m.ActualDeparture) {
		return m, nil, fault.Invalid("actualArrival", "arrives before it departed")
	}
	return m, ch.changed, nil
}

// movementChanges collects the names of the fields a change changed.
type movementChanges struct{ changed []string }

func (c *movementChanges) note(name string, differ bool) {
	if differ {
		c.changed = append(c.changed, name)
	}
}

func (c *movementChanges) setTime(name string, in, into *time.Time) error {
	if in == nil {
		return nil
	}
	if in.IsZero() {
		return fault.Invalid(name, "must be a time")
	}
	v := in.UTC()
	c.note(name, !v.Equal(*into))
	*into = v
	return nil
}

func (c *movementChanges) setText(name string, in *string, maxLen int, into *string) error {
	if in == nil {
		return nil
	}
	v, err := checkText(name, *in, 0, maxLen)
	if err != nil {
		return err
	}
	c.note(name, v != *into)
	*into = v
	return nil
}

// normalizeNewSafeHaven validates addSafeHaven's input.
func normalizeNewSafeHaven(n NewSafeHaven) (NewSafeHaven, error) {
	n.Kind = strings.ToUpper(strings.TrimSpace(n.Kind))
	if !slices.Contains(SafeHavenKinds, n.Kind) {
		return n, fault.Invalid("kind", "must be one of %s", strings.Join(SafeHavenKinds, ", "))
	}
	var err error
	if n.Name, err = checkName("name", n.Name); err != nil {
		return n, err
	}
	if n.Place, err = normalizePlace("place", n.Place); err != nil {
		return n, err
	}
	if n.Phone, err = checkPhone("phone", n.Phone, false); err != nil {
		return n, err
	}
	if n.Notes, err = checkText("notes", n.Notes, 0, maxHavenNotesLen); err != nil {
		return n, err
	}
	return n, nil
}

// normalizeNewAdvanceNote validates addAdvanceNote's input; whether the
// movement belongs to the detail is checked in the writing transaction.
func normalizeNewAdvanceNote(n NewAdvanceNote, now time.Time) (NewAdvanceNote, error) {
	var err error
	if n.Note, err = checkText("note", n.Note, 1, maxNoteLen); err != nil {
		return n, err
	}
	if n.Place, err = checkText("place", n.Place, 0, maxPlaceLen); err != nil {
		return n, err
	}
	if n.NotedFor.IsZero() {
		return n, fault.Invalid("notedFor", "is required")
	}
	if d := n.NotedFor.Sub(now); d > maxNotedForSpan || d < -maxNotedForSpan {
		return n, fault.Invalid("notedFor", "must be within ten years of today")
	}
	n.NotedFor = n.NotedFor.UTC()
	return n, nil
}

// checkReport validates a reported position and gives it its time: now
// when none was given; a little ahead is a fast clock, more is refused.
func checkReport(p Point, at *time.Time, now time.Time) (Position, error) {
	if err := checkCoordinates("", p.Latitude, p.Longitude); err != nil {
		return Position{}, err
	}
	pos := Position{Point: p, At: now}
	if at != nil {
		if at.IsZero() {
			return Position{}, fault.Invalid("at", "must be a time")
		}
		if at.After(now.Add(maxPositionAhead)) {
			return Position{}, fault.Invalid("at", "is more than %d minutes in the future", int(maxPositionAhead.Minutes()))
		}
		pos.At = at.UTC().Truncate(time.Microsecond)
	}
	return pos, nil
}
