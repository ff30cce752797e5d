"""GraphQL documents shaped as Sourcegraph's own clients send them, one per client operation.

Written for sitemail's tests: each selects what the named operation of the web app
(`client/web/src/...`) or of `src` (`cmd/src/...`) selects, with the same operation name and
variables, so a client generated from Sourcegraph's schema works here unchanged.
"""

from __future__ import annotations

# --- fragments -------------------------------------------------------------------------------

SRC_USER_FIELDS = """
fragment UserFields on User {
  id username displayName siteAdmin
  organizations { nodes { id name displayName } }
  emails { email verified }
  url
}"""

SRC_ORG_FIELDS = """
fragment OrgFields on Org {
  id name displayName
  members { nodes { id username } }
}"""

ACCESS_TOKEN_FIELDS = """
fragment AccessTokenFields on AccessToken {
  id scopes note createdAt lastUsedAt
  subject { username }
  creator { username }
}"""

CODE_MONITOR_FIELDS = """
fragment CodeMonitorFields on Monitor {
  id description enabled
  trigger { ... on MonitorQuery { id query } }
  actions { nodes { ... on MonitorEmail { id enabled recipients { nodes { id } } } } }
}"""

# --- src-cli: users --------------------------------------------------------------------------

SRC_USERS_CREATE = """
mutation CreateUser($username: String!, $email: String!) {
  createUser(username: $username, email: $email) { resetPasswordURL }
}"""

SRC_USERS_COUNT = "query UsersTotalCountCountUsers { users { totalCount } }"

SRC_USERS_DELETE = """
mutation DeleteUser($user: ID!) { deleteUser(user: $user) { alwaysNil } }"""

SRC_USERS_GET = (
    """
query User($username: String, $email: String) {
  user(username: $username, email: $email) { ...UserFields }
}"""
    + SRC_USER_FIELDS
)

SRC_USERS_LIST = (
    """
query Users($first: Int, $query: String) {
  users(first: $first, query: $query) { nodes { ...UserFields } }
}"""
    + SRC_USER_FIELDS
)

SRC_USERS_LIST_TAG = (
    """
query Users($first: Int, $query: String, $tag: String) {
  users(first: $first, query: $query, tag: $tag) { nodes { ...UserFields } }
}"""
    + SRC_USER_FIELDS
)

SRC_PRUNE_CURRENT_USER = "query getCurrentUser { currentUser { username } }"

SRC_PRUNE_TOTAL = "query getTotalUsers { site { users { totalCount } } }"

SRC_PRUNE_INACTIVE = """
query getInactiveUsers($limit: Int, $offset: Int) {
  site { users { nodes(limit: $limit, offset: $offset) {
    id username email siteAdmin lastActiveAt deletedAt
  } } }
}"""

# --- src-cli: organizations ------------------------------------------------------------------

SRC_ORGS_CREATE = """
mutation CreateOrg($name: String!, $displayName: String!) {
  createOrganization(name: $name, displayName: $displayName) { id }
}"""

SRC_ORGS_DELETE = """
mutation DeleteOrganization($organization: ID!) {
  deleteOrganization(organization: $organization) { alwaysNil }
}"""

SRC_ORGS_GET = (
    """
query Organization($name: String!) { organization(name: $name) { ...OrgFields } }"""
    + SRC_ORG_FIELDS
)

SRC_ORGS_LIST = (
    """
query Organizations($first: Int, $query: String) {
  organizations(first: $first, query: $query) { nodes { ...OrgFields } }
}"""
    + SRC_ORG_FIELDS
)

ADD_USER_TO_ORGANIZATION = """
mutation AddUserToOrganization($organization: ID!, $username: String!) {
  addUserToOrganization(organization: $organization, username: $username) { alwaysNil }
}"""

# --- web: user emails ------------------------------------------------------------------------

WEB_USER_EMAILS = """
query UserEmails($user: ID!) {
  node(id: $user) {
    ... on User { emails { email isPrimary verified verificationPending viewerCanManuallyVerify } }
  }
}"""

WEB_SENDS_VERIFICATION = "query SiteFlags { site { sendsEmailVerificationEmails } }"

WEB_ADD_USER_EMAIL = """
mutation AddUserEmail($user: ID!, $email: String!) {
  addUserEmail(user: $user, email: $email) { alwaysNil }
}"""

WEB_REMOVE_USER_EMAIL = """
mutation RemoveUserEmail($user: ID!, $email: String!) {
  removeUserEmail(user: $user, email: $email) { alwaysNil }
}"""

WEB_SET_USER_EMAIL_PRIMARY = """
mutation SetUserEmailPrimary($user: ID!, $email: String!) {
  setUserEmailPrimary(user: $user, email: $email) { alwaysNil }
}"""

WEB_SET_USER_EMAIL_VERIFIED = """
mutation SetUserEmailVerified($user: ID!, $email: String!, $verified: Boolean!) {
  setUserEmailVerified(user: $user, email: $email, verified: $verified) { alwaysNil }
}"""

WEB_RESEND_VERIFICATION_EMAIL = """
mutation ResendVerificationEmail($user: ID!, $email: String!) {
  resendVerificationEmail(user: $user, email: $email) { alwaysNil }
}"""

# --- web: access tokens ----------------------------------------------------------------------

WEB_ACCESS_TOKENS = (
    """
query AccessTokens($user: ID!, $first: Int) {
  node(id: $user) {
    __typename
    ... on User { id accessTokens(first: $first) { ...AccessTokensConnectionFields } }
  }
}
fragment AccessTokensConnectionFields on AccessTokenConnection {
  nodes { ...AccessTokenFields }
  totalCount
  pageInfo { hasNextPage }
}"""
    + ACCESS_TOKEN_FIELDS
)

WEB_CREATE_ACCESS_TOKEN = """
mutation CreateAccessToken($user: ID!, $scopes: [String!]!, $note: String!) {
  createAccessToken(user: $user, scopes: $scopes, note: $note) { id token }
}"""

WEB_DELETE_ACCESS_TOKEN = """
mutation DeleteAccessToken($tokenID: ID!) { deleteAccessToken(byID: $tokenID) { alwaysNil } }"""

WEB_SITE_ADMIN_ACCESS_TOKENS = (
    """
query SiteAdminAccessTokens($first: Int) {
  site { accessTokens(first: $first) { ...SiteAdminAccessTokenConnectionFields } }
}
fragment SiteAdminAccessTokenConnectionFields on AccessTokenConnection {
  nodes { ...AccessTokenFields }
  totalCount
  pageInfo { hasNextPage }
}"""
    + ACCESS_TOKEN_FIELDS
)

# --- web: site admin -------------------------------------------------------------------------

WEB_USERS = """
query Users($first: Int, $query: String) {
  users(first: $first, query: $query) { nodes { ...UserNodeFields } totalCount }
}
fragment UserNodeFields on User {
  id username displayName
  emails { email verified verificationPending viewerCanManuallyVerify isPrimary }
  createdAt siteAdmin
  organizations { nodes { name } }
  tags
}"""

WEB_ORGANIZATIONS = """
query Organizations($first: Int, $query: String) {
  organizations(first: $first, query: $query) { ...OrganizationsConnectionFields }
}
fragment OrganizationsConnectionFields on OrgConnection {
  nodes { ...OrganizationFields }
  totalCount
}
fragment OrganizationFields on Org {
  id name displayName createdAt
  latestSettings { createdAt contents }
  members { totalCount }
}"""

WEB_SITE = """
query Site {
  site {
    __typename id canReloadSite
    configuration { id effectiveContents validationMessages }
  }
}"""

WEB_UPDATE_SITE_CONFIGURATION = """
mutation UpdateSiteConfiguration($lastID: Int!, $input: String!) {
  updateSiteConfiguration(lastID: $lastID, input: $input)
}"""

WEB_SET_USER_IS_SITE_ADMIN = """
mutation SetUserIsSiteAdmin($userID: ID!, $siteAdmin: Boolean!) {
  setUserIsSiteAdmin(userID: $userID, siteAdmin: $siteAdmin) { alwaysNil }
}"""

WEB_RANDOMIZE_USER_PASSWORD = """
mutation RandomizeUserPassword($user: ID!) {
  randomizeUserPassword(user: $user) { resetPasswordURL }
}"""

WEB_DELETE_USER = """
mutation DeleteUser($user: ID!, $hard: Boolean) {
  deleteUser(user: $user, hard: $hard) { alwaysNil }
}"""

WEB_CREATE_USER = """
mutation CreateUser($username: String!, $email: String) {
  createUser(username: $username, email: $email) { resetPasswordURL }
}"""

WEB_DELETE_ORGANIZATION = """
mutation DeleteOrganization($organization: ID!, $hard: Boolean) {
  deleteOrganization(organization: $organization, hard: $hard) { alwaysNil }
}"""

WEB_USERS_MANAGEMENT_LIST = """
query UsersManagementUsersList(
  $limit: Int!, $offset: Int!,
  $lastActiveAt: SiteUsersDateRangeInput, $deletedAt: SiteUsersDateRangeInput,
  $createdAt: SiteUsersDateRangeInput, $eventsCount: SiteUsersNumberRangeInput,
  $query: String, $orderBy: SiteUserOrderBy, $descending: Boolean, $siteAdmin: Boolean
) {
  site {
    users(query: $query, lastActiveAt: $lastActiveAt, siteAdmin: $siteAdmin,
          deletedAt: $deletedAt, createdAt: $createdAt, eventsCount: $eventsCount) {
      totalCount
      nodes(limit: $limit, offset: $offset, orderBy: $orderBy, descending: $descending) {
        id username displayName email siteAdmin eventsCount createdAt lastActiveAt deletedAt
      }
    }
  }
}"""

WEB_DELETE_USERS = """
mutation DeleteUsers($userIDs: [ID!]!) { deleteUsers(users: $userIDs) { alwaysNil } }"""

WEB_DELETE_USERS_FOREVER = """
mutation DeleteUsersForever($userIDs: [ID!]!) {
  deleteUsers(users: $userIDs, hard: true) { alwaysNil }
}"""

WEB_RECOVER_USERS = """
mutation RecoverUsers($userIDs: [ID!]!) { recoverUsers(userIDs: $userIDs) { alwaysNil } }"""

# --- web: organization members and invitations -----------------------------------------------

WEB_ORGANIZATION_MEMBERS = """
query OrganizationMembers($id: ID!) {
  node(id: $id) {
    ... on Org {
      viewerCanAdminister
      members { nodes { id username displayName avatarURL } totalCount }
    }
  }
}"""

WEB_INVITE_USER_TO_ORGANIZATION = """
mutation InviteUserToOrganization($organization: ID!, $username: String!) {
  inviteUserToOrganization(organization: $organization, username: $username) {
    ...InviteUserToOrganizationFields
  }
}
fragment InviteUserToOrganizationFields on InviteUserToOrganizationResult {
  sentInvitationEmail invitationURL
}"""

WEB_REMOVE_USER_FROM_ORGANIZATION = """
mutation RemoveUserFromOrganization($user: ID!, $organization: ID!) {
  removeUserFromOrganization(user: $user, organization: $organization) { alwaysNil }
}"""

# --- web: code monitoring --------------------------------------------------------------------

WEB_CREATE_CODE_MONITOR = """
mutation CreateCodeMonitor(
  $monitor: MonitorInput!, $trigger: MonitorTriggerInput!, $actions: [MonitorActionInput!]!
) {
  createCodeMonitor(monitor: $monitor, trigger: $trigger, actions: $actions) { description }
}"""

WEB_LIST_USER_CODE_MONITORS = (
    """
query ListUserCodeMonitors($id: ID!, $first: Int, $after: String) {
  node(id: $id) {
    __typename
    ... on User { monitors(first: $first, after: $after) { ...ListCodeMonitors } }
  }
}
fragment ListCodeMonitors on MonitorConnection {
  nodes { ...CodeMonitorFields }
  totalCount
  pageInfo { endCursor hasNextPage }
}"""
    + CODE_MONITOR_FIELDS
)

WEB_TOGGLE_CODE_MONITOR = """
mutation ToggleCodeMonitorEnabled($id: ID!, $enabled: Boolean!) {
  toggleCodeMonitor(id: $id, enabled: $enabled) { id enabled }
}"""

WEB_FETCH_CODE_MONITOR = """
query FetchCodeMonitor($id: ID!) {
  node(id: $id) {
    ... on Monitor {
      id description
      owner { id namespaceName }
      enabled
      actions { nodes { ... on MonitorEmail { id recipients { nodes { id url } } enabled } } }
      trigger { ... on MonitorQuery { id query } }
    }
  }
}"""

WEB_UPDATE_CODE_MONITOR = (
    """
mutation UpdateCodeMonitor(
  $monitor: MonitorEditInput!, $trigger: MonitorEditTriggerInput!,
  $actions: [MonitorEditActionInput!]!
) {
  updateCodeMonitor(monitor: $monitor, trigger: $trigger, actions: $actions) {
    ...CodeMonitorFields
  }
}"""
    + CODE_MONITOR_FIELDS
)

WEB_DELETE_CODE_MONITOR = """
mutation DeleteCodeMonitor($id: ID!) { deleteCodeMonitor(id: $id) { alwaysNil } }"""

WEB_RESET_TRIGGER_QUERY_TIMESTAMPS = """
mutation ResetTriggerQueryTimestamps($id: ID!) {
  resetTriggerQueryTimestamps(id: $id) { alwaysNil }
}"""

WEB_TRIGGER_TEST_EMAIL_ACTION = """
mutation TriggerTestEmailAction(
  $namespace: ID!, $description: String!, $email: MonitorEmailInput!
) {
  triggerTestEmailAction(namespace: $namespace, description: $description, email: $email) {
    alwaysNil
  }
}"""

WEB_SEND_TEST_WEBHOOK = """
mutation SendTestWebhook($namespace: ID!, $description: String!, $webhook: MonitorWebhookInput!) {
  triggerTestWebhookAction(namespace: $namespace, description: $description, webhook: $webhook) {
    alwaysNil
  }
}"""

WEB_SEND_TEST_SLACK_WEBHOOK = """
mutation SendTestSlackWebhook(
  $namespace: ID!, $description: String!, $slackWebhook: MonitorSlackWebhookInput!
) {
  triggerTestSlackWebhookAction(
    namespace: $namespace, description: $description, slackWebhook: $slackWebhook
  ) { alwaysNil }
}"""

WEB_MONITOR_TRIGGER_EVENTS = """
query MonitorTriggerEvents(
  $first: Int, $after: String, $triggerEventsFirst: Int, $triggerEventsAfter: String
) {
  currentUser {
    monitors(first: $first, after: $after) {
      nodes { ...CodeMonitorWithEvents }
      totalCount
      pageInfo { endCursor hasNextPage }
    }
  }
}
fragment CodeMonitorTriggerEvents on MonitorQuery {
  events(first: $triggerEventsFirst, after: $triggerEventsAfter) {
    nodes { ...MonitorTriggerEventWithActions }
    totalCount
    pageInfo { endCursor hasNextPage }
  }
}
fragment MonitorTriggerEventWithActions on MonitorTriggerEvent {
  id status message timestamp resultCount query
  actions {
    nodes {
      ... on MonitorWebhook { __typename events { ...MonitorActionEvents } }
      ... on MonitorEmail { __typename events { ...MonitorActionEvents } }
      ... on MonitorSlackWebhook { __typename events { ...MonitorActionEvents } }
      ... on MonitorBatchChange { __typename events { ...MonitorActionEvents } }
    }
  }
}
fragment CodeMonitorWithEvents on Monitor {
  description id
  trigger { ... on MonitorQuery { query ...CodeMonitorTriggerEvents } }
}
fragment MonitorActionEvents on MonitorActionEventConnection {
  nodes { id status message timestamp }
}"""


def operations() -> dict[str, str]:
    """Every document above by its constant's name (fragments excluded)."""
    return {
        name: value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, str) and not name.endswith("_FIELDS")
    }
