// Every GraphQL operation the UI sends. Typed against the schema by gql.tada:
// a schema change that breaks one of these fails `npm run build`.
import { graphql, type ResultOf } from './graphql';

export const UserFields = graphql(`
  fragment UserFields on User { id name email phone }
`);

export const ActorFields = graphql(`
  fragment ActorFields on Actor { kind name user { id name } }
`);

/** Who is calling and with what role; read once after login. */
export const AccessQuery = graphql(
  `
  query Access {
    access { role actor { ...ActorFields } }
    me { id name email role }
  }
`,
  [ActorFields],
);

export const RotationFields = graphql(
  `
  fragment RotationFields on RotationEntry { startTime endTime user { ...UserFields } }
`,
  [UserFields],
);

export const PolicyFields = graphql(
  `
  fragment PolicyFields on EscalationPolicy {
    initialTimeoutMs repeat acknowledgeTimeoutMs
    escalationLevels { timeoutMs user { ...UserFields } schedule { id name } }
  }
`,
  [UserFields],
);

/** What every view of an incident shows. */
export const IncidentCore = graphql(
  `
  fragment IncidentCore on Incident {
    id title severity state triggeredAt acknowledgedAt resolvedAt
    escalationLevel alertCount nextEscalationAt canEscalate snoozedUntil acknowledgeTimeoutAt pagingHeld
    service { id name }
    schedule { id name }
    assignedTo { ...UserFields }
    escalationPolicy { ...PolicyFields }
  }
`,
  [UserFields, PolicyFields],
);

/**
 * A list row or a board card: the core plus just enough history to tell which
 * of two copies of an incident is newer. Kept light: the server weighs list
 * fields by page size against its complexity limit.
 */
export const IncidentRow = graphql(
  `
  fragment IncidentRow on Incident {
    ...IncidentCore
    escalationHistory { at }
    notifications { id at delivered }
  }
`,
  [IncidentCore],
);

/** Everything the incident page shows, timeline included. */
export const IncidentDetail = graphql(
  `
  fragment IncidentDetail on Incident {
    ...IncidentCore
    description dedupKey
    acknowledgedBy { ...ActorFields }
    resolvedBy { ...ActorFields }
    escalationHistory { fromLevel toLevel reason at to { ...UserFields } actor { ...ActorFields } }
    notifications {
      id channel reason at delivered status attempts lastError
      contactMethod { id kind name }
      user { ...UserFields }
    }
    timeline { at kind message actor { ...ActorFields } }
  }
`,
  [IncidentCore, UserFields, ActorFields],
);

export const IncidentEventsSubscription = graphql(
  `
  subscription IncidentEvents {
    incidentEvents { kind at incident { ...IncidentDetail } }
  }
`,
  [IncidentDetail],
);

export const ScheduleSummary = graphql(
  `
  fragment ScheduleSummary on Schedule {
    id name timeZone
    service { id name }
    onCall { ...UserFields }
    currentShift { end source }
    rotation { ...RotationFields }
    escalationPolicy { ...PolicyFields }
  }
`,
  [UserFields, RotationFields, PolicyFields],
);

export const BoardQuery = graphql(
  `
  query Board {
    triggered: incidents(state: TRIGGERED, first: 100) { totalCount nodes { ...IncidentRow } }
    acknowledged: incidents(state: ACKNOWLEDGED, first: 100) { totalCount nodes { ...IncidentRow } }
    resolved: incidents(state: RESOLVED, first: 1) { totalCount }
    schedules { ...ScheduleSummary }
    services { id name maintenanceUntil }
  }
`,
  [IncidentRow, ScheduleSummary],
);

export const IncidentsQuery = graphql(
  `
  query Incidents($state: IncidentState, $serviceId: ID, $severity: Severity, $search: String, $first: Int) {
    incidents(state: $state, serviceId: $serviceId, severity: $severity, search: $search, first: $first) {
      totalCount
      pageInfo { hasNextPage }
      nodes { ...IncidentRow }
    }
  }
`,
  [IncidentRow],
);

/** What monitors sent with an incident: read by the incident page only (events do not carry it). */
export const AlertFields = graphql(`
  fragment AlertFields on Alert {
    kind status summary source severity fingerprint
    integration { id name }
    labels { key value }
    annotations { key value }
    fields { key value }
    links { href text }
    startsAt endsAt receivedAt
  }
`);

export const IncidentQuery = graphql(
  `
  query Incident($id: ID!) { incident(id: $id) { ...IncidentDetail alerts { ...AlertFields } } }
`,
  [IncidentDetail, AlertFields],
);

export const TriggerIncidentMutation = graphql(
  `
  mutation TriggerIncident($input: TriggerIncidentInput!) {
    triggerIncident(input: $input) { ...IncidentDetail }
  }
`,
  [IncidentDetail],
);

export const AcknowledgeMutation = graphql(
  `
  mutation AcknowledgeIncident($id: ID!) { acknowledgeIncident(id: $id) { ...IncidentDetail } }
`,
  [IncidentDetail],
);

export const ResolveMutation = graphql(
  `
  mutation ResolveIncident($id: ID!) { resolveIncident(id: $id) { ...IncidentDetail } }
`,
  [IncidentDetail],
);

export const EscalateMutation = graphql(
  `
  mutation EscalateIncident($id: ID!) { escalateIncident(id: $id) { ...IncidentDetail } }
`,
  [IncidentDetail],
);

export const AddNoteMutation = graphql(
  `
  mutation AddNote($incidentId: ID!, $text: String!) { addNote(incidentId: $incidentId, text: $text) { ...IncidentDetail } }
`,
  [IncidentDetail],
);

export const ReassignMutation = graphql(
  `
  mutation ReassignIncident($id: ID!, $userId: ID!) { reassignIncident(id: $id, userId: $userId) { ...IncidentDetail } }
`,
  [IncidentDetail],
);

export const SnoozeMutation = graphql(
  `
  mutation SnoozeIncident($id: ID!, $durationMs: Int!) { snoozeIncident(id: $id, durationMs: $durationMs) { ...IncidentDetail } }
`,
  [IncidentDetail],
);

export const UpdateSchedulePolicyMutation = graphql(
  `
  mutation UpdateSchedulePolicy($id: ID!, $input: UpdateScheduleInput!) { updateSchedule(id: $id, input: $input) { ...ScheduleSummary } }
`,
  [ScheduleSummary],
);

/** The analytics page: everything over one window. */
export const AnalyticsQuery = graphql(`
  query Analytics($from: DateTime!, $to: DateTime!, $serviceId: ID, $timeZone: String) {
    analytics(from: $from, to: $to, serviceId: $serviceId, timeZone: $timeZone) {
      from to timeZone
      incidentCount acknowledgedCount resolvedCount escalatedCount
      mttaMs mttrMs mttaP50Ms mttaP90Ms mttrP50Ms mttrP90Ms
      byService { service { id name } incidentCount acknowledgedCount resolvedCount mttaMs mttrMs }
      byResponder { user { id name } incidentCount pagesReceived acknowledgedCount mttaMs mttrMs }
      daily { date incidentCount lowCount mediumCount highCount mttaMs mttrMs }
      onCallLoad { user { id name } onCallMs pages nightPages }
    }
  }
`);

export const SchedulesQuery = graphql(
  `
  query Schedules { schedules { ...ScheduleSummary } }
`,
  [ScheduleSummary],
);

export const RotationLayerFields = graphql(`
  fragment RotationLayerFields on Rotation {
    id name timeZone start shiftLength shiftUnit
    participants { id name }
    restriction { weekdays startTime endTime }
  }
`);

export const OverrideFields = graphql(`
  fragment OverrideFields on ScheduleOverride { id start end user { id name } replaces { id name } }
`);

/** The schedule page: layers, overrides and the rendered timeline over `from..to`. */
export const ScheduleQuery = graphql(
  `
  query Schedule($id: ID!, $from: DateTime!, $to: DateTime!) {
    schedule(id: $id) {
      ...ScheduleSummary
      calendarUrl
      rotations { ...RotationLayerFields }
      overrides { ...OverrideFields }
      shifts(from: $from, to: $to) { start end source user { id name } }
      coverageGaps(from: $from, to: $to) { start end }
    }
  }
`,
  [ScheduleSummary, RotationLayerFields, OverrideFields],
);

export const AddRotationMutation = graphql(
  `
  mutation AddRotation($input: AddRotationInput!) { addRotation(input: $input) { ...RotationLayerFields } }
`,
  [RotationLayerFields],
);

export const RemoveRotationMutation = graphql(`
  mutation RemoveRotation($id: ID!) { removeRotation(id: $id) { id } }
`);

export const AddOverrideMutation = graphql(
  `
  mutation AddOverride($input: AddOverrideInput!) { addOverride(input: $input) { ...OverrideFields } }
`,
  [OverrideFields],
);

export const RemoveOverrideMutation = graphql(`
  mutation RemoveOverride($id: ID!) { removeOverride(id: $id) { id } }
`);

export const OnCallChangedSubscription = graphql(`
  subscription OnCallChanged($scheduleId: ID) {
    onCallChanged(scheduleId: $scheduleId) { at schedule { id name } from { id name } to { id name } }
  }
`);

export const CreateScheduleMutation = graphql(
  `
  mutation CreateSchedule($input: CreateScheduleInput!) { createSchedule(input: $input) { ...ScheduleSummary } }
`,
  [ScheduleSummary],
);

/** Options for the forms' pickers. */
export const PickersQuery = graphql(
  `
  query Pickers {
    users { ...UserFields }
    services { id name }
    schedules { id name service { id name } }
  }
`,
  [UserFields],
);

export const ServicesQuery = graphql(`
  query Services { services { id name description maintenanceUntil schedules { id name } } }
`);

export const CreateServiceMutation = graphql(`
  mutation CreateService($input: CreateServiceInput!) { createService(input: $input) { id name description } }
`);

export const UsersQuery = graphql(
  `
  query Users { users { ...UserFields role hasPassword } }
`,
  [UserFields],
);

export const CreateUserMutation = graphql(
  `
  mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { ...UserFields role hasPassword } }
`,
  [UserFields],
);

export const UpdateUserMutation = graphql(
  `
  mutation UpdateUser($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { ...UserFields role hasPassword } }
`,
  [UserFields],
);

export const RotateCalendarUrlMutation = graphql(`
  mutation RotateCalendarUrl($scheduleId: ID!) { rotateCalendarUrl(scheduleId: $scheduleId) { id calendarUrl } }
`);

export const ApiTokenFields = graphql(`
  fragment ApiTokenFields on ApiToken { id name role createdAt expiresAt lastUsedAt revokedAt }
`);

export const ApiTokensQuery = graphql(
  `
  query ApiTokens { apiTokens { ...ApiTokenFields } }
`,
  [ApiTokenFields],
);

export const CreateApiTokenMutation = graphql(
  `
  mutation CreateApiToken($input: CreateApiTokenInput!) {
    createApiToken(input: $input) { token apiToken { ...ApiTokenFields } }
  }
`,
  [ApiTokenFields],
);

export const RevokeApiTokenMutation = graphql(
  `
  mutation RevokeApiToken($id: ID!) { revokeApiToken(id: $id) { ...ApiTokenFields } }
`,
  [ApiTokenFields],
);

export const SessionsQuery = graphql(`
  query Sessions { sessions { id createdAt lastSeenAt expiresAt userAgent current } }
`);

export const EndSessionMutation = graphql(`
  mutation EndSession($id: ID!) { endSession(id: $id) { id } }
`);

export const EndOtherSessionsMutation = graphql(`
  mutation EndOtherSessions { endOtherSessions }
`);

export const ChangePasswordMutation = graphql(`
  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
    changePassword(currentPassword: $currentPassword, newPassword: $newPassword)
  }
`);

export const IntegrationFields = graphql(`
  fragment IntegrationFields on Integration { id name kind key url hasSecret createdAt lastEventAt }
`);

/** A schedule's monitoring integrations (key and most urls null unless ADMIN). */
export const ScheduleIntegrationsQuery = graphql(
  `
  query ScheduleIntegrations($id: ID!) { schedule(id: $id) { id integrations { ...IntegrationFields } } }
`,
  [IntegrationFields],
);

export const CreateIntegrationMutation = graphql(
  `
  mutation CreateIntegration($input: CreateIntegrationInput!) { createIntegration(input: $input) { ...IntegrationFields } }
`,
  [IntegrationFields],
);

export const RotateIntegrationKeyMutation = graphql(
  `
  mutation RotateIntegrationKey($id: ID!) { rotateIntegrationKey(id: $id) { ...IntegrationFields } }
`,
  [IntegrationFields],
);

export const SetIntegrationSecretMutation = graphql(
  `
  mutation SetIntegrationSecret($id: ID!, $secret: String) { setIntegrationSecret(id: $id, secret: $secret) { ...IntegrationFields } }
`,
  [IntegrationFields],
);

export const DeleteIntegrationMutation = graphql(`
  mutation DeleteIntegration($id: ID!) { deleteIntegration(id: $id) }
`);

export const HeartbeatFields = graphql(`
  fragment HeartbeatFields on Heartbeat {
    id name intervalMs url lastBeatAt state nextDeadlineAt createdAt
    incident { id title }
  }
`);

export const ScheduleHeartbeatsQuery = graphql(
  `
  query ScheduleHeartbeats($id: ID!) { schedule(id: $id) { id heartbeats { ...HeartbeatFields } } }
`,
  [HeartbeatFields],
);

export const CreateHeartbeatMutation = graphql(
  `
  mutation CreateHeartbeat($input: CreateHeartbeatInput!) { createHeartbeat(input: $input) { ...HeartbeatFields } }
`,
  [HeartbeatFields],
);

export const DeleteHeartbeatMutation = graphql(`
  mutation DeleteHeartbeat($id: ID!) { deleteHeartbeat(id: $id) }
`);

export const StartMaintenanceMutation = graphql(`
  mutation StartMaintenance($serviceId: ID!, $until: DateTime!) {
    startMaintenance(serviceId: $serviceId, until: $until) { id name maintenanceUntil }
  }
`);

export const EndMaintenanceMutation = graphql(`
  mutation EndMaintenance($serviceId: ID!) { endMaintenance(serviceId: $serviceId) { id name maintenanceUntil } }
`);

/** A way to reach a person; `target` and `signingSecret` are null unless owner or admin. */
export const ContactMethodFields = graphql(`
  fragment ContactMethodFields on ContactMethod { id kind name target signingSecret createdAt }
`);

export const NotificationRuleFields = graphql(`
  fragment NotificationRuleFields on NotificationRule { id delayMs createdAt contactMethod { id kind name } }
`);

/** One user's contact methods and notification rules (their own and admins only). */
export const UserNotificationsQuery = graphql(
  `
  query UserNotifications($id: ID!) {
    user(id: $id) {
      id name
      contactMethods { ...ContactMethodFields }
      notificationRules { ...NotificationRuleFields }
    }
  }
`,
  [ContactMethodFields, NotificationRuleFields],
);

export const AddContactMethodMutation = graphql(
  `
  mutation AddContactMethod($input: AddContactMethodInput!) { addContactMethod(input: $input) { ...ContactMethodFields } }
`,
  [ContactMethodFields],
);

export const RemoveContactMethodMutation = graphql(`
  mutation RemoveContactMethod($id: ID!) { removeContactMethod(id: $id) }
`);

export const AddNotificationRuleMutation = graphql(
  `
  mutation AddNotificationRule($input: AddNotificationRuleInput!) { addNotificationRule(input: $input) { ...NotificationRuleFields } }
`,
  [NotificationRuleFields],
);

export const RemoveNotificationRuleMutation = graphql(`
  mutation RemoveNotificationRule($id: ID!) { removeNotificationRule(id: $id) }
`);

export const SendTestNotificationMutation = graphql(`
  mutation SendTestNotification($contactMethodId: ID!) { sendTestNotification(contactMethodId: $contactMethodId) { ok error } }
`);

/** A user's own page. */
export const UserQuery = graphql(
  `
  query User($id: ID!) { user(id: $id) { ...UserFields role hasPassword } }
`,
  [UserFields],
);

export const WebhookDeliveryFields = graphql(`
  fragment WebhookDeliveryFields on WebhookDelivery {
    id eventType status attempts responseStatus lastError createdAt lastAttemptAt durationMs nextAttemptAt
    incident { id title }
  }
`);

export const WebhookFields = graphql(
  `
  fragment WebhookFields on Webhook {
    id url events failing createdAt
    service { id name }
    deliveries { ...WebhookDeliveryFields }
  }
`,
  [WebhookDeliveryFields],
);

/** The admin webhooks page: every webhook with its latest deliveries, and the services to pick from. */
export const WebhooksQuery = graphql(
  `
  query Webhooks { webhooks { ...WebhookFields } services { id name } }
`,
  [WebhookFields],
);

export const CreateWebhookMutation = graphql(
  `
  mutation CreateWebhook($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { ...WebhookFields } } }
`,
  [WebhookFields],
);

export const DeleteWebhookMutation = graphql(`
  mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }
`);

export type User = ResultOf<typeof UserFields>;
export type Actor = ResultOf<typeof ActorFields>;
export type Access = ResultOf<typeof AccessQuery>;
export type Role = Access['access']['role'];
export type ApiToken = ResultOf<typeof ApiTokenFields>;
export type Session = ResultOf<typeof SessionsQuery>['sessions'][number];
export type UserRow = ResultOf<typeof UsersQuery>['users'][number];
export type Incident = ResultOf<typeof IncidentDetail>;
export type IncidentLite = ResultOf<typeof IncidentRow>;
export type Schedule = ResultOf<typeof ScheduleSummary>;
export type Rotation = ResultOf<typeof RotationFields>;
export type Policy = ResultOf<typeof PolicyFields>;
export type RotationLayer = ResultOf<typeof RotationLayerFields>;
export type Override = ResultOf<typeof OverrideFields>;
export type ScheduleDetail = NonNullable<ResultOf<typeof ScheduleQuery>['schedule']>;
export type Shift = ScheduleDetail['shifts'][number];
export type Gap = ScheduleDetail['coverageGaps'][number];
export type OnCallChange = ResultOf<typeof OnCallChangedSubscription>['onCallChanged'];
export type IncidentEvent = ResultOf<typeof IncidentEventsSubscription>['incidentEvents'];
export type TimelineEntry = Incident['timeline'][number];
export type Analytics = ResultOf<typeof AnalyticsQuery>['analytics'];
export type IncidentState = Incident['state'];
export type Severity = Incident['severity'];
export type Alert = ResultOf<typeof AlertFields>;
export type Integration = ResultOf<typeof IntegrationFields>;
export type IntegrationKind = Integration['kind'];
export type Heartbeat = ResultOf<typeof HeartbeatFields>;
export type HeartbeatState = Heartbeat['state'];
export type ContactMethod = ResultOf<typeof ContactMethodFields>;
export type ContactKind = ContactMethod['kind'];
export type NotificationRule = ResultOf<typeof NotificationRuleFields>;
export type IncidentNotification = Incident['notifications'][number];
export type NotificationStatus = IncidentNotification['status'];
export type Webhook = ResultOf<typeof WebhookFields>;
export type WebhookDelivery = ResultOf<typeof WebhookDeliveryFields>;
export type IncidentEventKind = IncidentEvent['kind'];
