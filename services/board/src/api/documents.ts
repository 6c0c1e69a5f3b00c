// Every GraphQL document the board sends. Kept as plain strings: the board
// needs no client-side parser, so graphql-js stays out of its bundle.

const siteStatusFields = 'level posture note version updatedAt updatedBy';

const siteFields = `id code name countryCode city criticality
  location { latitude longitude } region { code } status { ${siteStatusFields} }`;

const timelineFields = 'at kind actor note tier recipient channel';

const escalationFields = `id status severity tier startedAt acknowledgedBy disposition
  region { code name }
  site { id code name }
  incident { id title kind location { latitude longitude } }
  timeline { ${timelineFields} }`;

export const viewerQuery = 'query Viewer { me { subject name roles regions } }';

/** The stream's position: taken before a snapshot, passed as every subscription's after. */
export const liveCursorQuery = 'query LiveCursor { liveCursor }';

export const boardBasicsQuery = `query BoardBasics {
  regions { code name }
  countryLevels { country { code name } level rule }
  impactRadii { kind assetType radiusKm }
}`;

export const sitesPageQuery = `query SitesPage($after: String) {
  sites(first: 500, after: $after) {
    edges { node { ${siteFields} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const siteQuery = `query Site($id: ID!) { site(id: $id) { ${siteFields} } }`;

export const sitePanelQuery = `query SitePanel($id: ID!) {
  site(id: $id) {
    ${siteFields}
    viewerCanUpdateStatus
    statusHistory(first: 10) { edges { node { ${siteStatusFields} } } }
  }
}`;

export const escalationsPageQuery = `query EscalationsPage($status: EscalationStatus!, $after: String) {
  escalations(status: $status, first: 100, after: $after) {
    edges { node { ${escalationFields} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const escalationPanelQuery = `query EscalationPanel($id: ID!) {
  escalation(id: $id) {
    ${escalationFields}
    policy { name version }
    viewerCan { acknowledge resolve escalateNow handOff addNote }
  }
}`;

export const updateSiteStatusMutation = `mutation UpdateSiteStatus($input: UpdateSiteStatusInput!) {
  updateSiteStatus(input: $input) {
    site { ${siteFields} }
    escalation { ${escalationFields} }
  }
}`;

const escalationPayload = `escalation { ${escalationFields} }`;

export const acknowledgeMutation = `mutation Acknowledge($input: AcknowledgeEscalationInput!) {
  acknowledgeEscalation(input: $input) { ${escalationPayload} } }`;
export const resolveMutation = `mutation Resolve($input: ResolveEscalationInput!) {
  resolveEscalation(input: $input) { ${escalationPayload} } }`;
export const escalateNowMutation = `mutation EscalateNow($input: EscalateNowInput!) {
  escalateNow(input: $input) { ${escalationPayload} } }`;
export const handOffMutation = `mutation HandOff($input: HandOffEscalationInput!) {
  handOffEscalation(input: $input) { ${escalationPayload} } }`;
export const addNoteMutation = `mutation AddNote($input: AddEscalationNoteInput!) {
  addEscalationNote(input: $input) { ${escalationPayload} } }`;

const placeFields = 'city countryCode location { latitude longitude }';

export const tripsAtRiskQuery = `query TripsAtRisk($at: Time!, $country: String, $after: String) {
  trips(minLevel: 3, at: $at, country: $country, first: 100, after: $after) {
    edges { node {
      id status traveller { subject name } risk { level reasons { text } }
      segments { id kind startsAt endsAt place { ${placeFields} } risk { level } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const whoIsWhereQuery = `query WhoIsWhere($country: String, $latitude: Float, $longitude: Float, $radiusKm: Float) {
  whoIsWhere(country: $country, latitude: $latitude, longitude: $longitude, radiusKm: $radiusKm) {
    traveller { subject name }
    trip { id status risk { level } }
    segment { id kind startsAt endsAt place { ${placeFields} } }
    distanceKm
  }
}`;

const detailFields = `id status region { code } protectee { name }
  lastPosition { latitude longitude at } maskedFields`;

export const activeDetailsQuery = `query ActiveDetails($after: String) {
  details(status: ACTIVE, first: 100, after: $after) { edges { node { ${detailFields} } } pageInfo { hasNextPage endCursor } }
}`;

// Subscriptions: each carries the cursor to resume from after a reconnect.

export const siteStatusChangedSubscription = `subscription SiteStatusChanged($after: String) {
  siteStatusChanged(after: $after) {
    cursor
    site { id code }
    current { ${siteStatusFields} }
  }
}`;

export const escalationUpdatedSubscription = `subscription EscalationUpdated($after: String) {
  escalationUpdated(after: $after) { cursor escalation { ${escalationFields} } }
}`;

export const advisoryChangedSubscription = `subscription AdvisoryChanged($after: String) {
  advisoryChanged(after: $after) {
    cursor country { code name } level previousLevel rule cause at
  }
}`;

export const tripRiskChangedSubscription = `subscription TripRiskChanged($after: String) {
  tripRiskChanged(after: $after) { cursor level previousLevel trip { id } }
}`;

export const detailUpdatedSubscription = `subscription DetailUpdated($detailId: ID!, $after: String) {
  detailUpdated(detailId: $detailId, after: $after) { cursor kind at detail { ${detailFields} } }
}`;
