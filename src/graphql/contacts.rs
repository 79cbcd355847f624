//! Reaching people: `User.contactMethods`, `User.notificationRules`, `addContactMethod`,
//! `removeContactMethod`, `addNotificationRule`, `removeNotificationRule`,
//! `sendTestNotification`, and the delivery fields of `Notification`. The rules live in
//! `domain::contact` and `store::contacts`.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};

pub use super::webhooks::NotificationStatus;

use super::error::{api_error, code, coded};
use super::scalars::DateTime;
use super::types::{UserObject, principal, store};
use crate::domain::contact::{self as domain_contact, ContactMethod, NotificationRule};
use crate::domain::{self, ContactMethodId, DomainError};
use crate::store::NewContactMethod;
use crate::store::contacts::may_manage_contacts;

/// What a contact method is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ContactKind", remote = "domain_contact::ContactKind")]
pub enum ContactKind {
    /// An email address (sent over SMTP).
    Email,
    /// A Slack (or Mattermost) incoming-webhook URL.
    Slack,
    /// An http(s) URL that receives the signed `incident.page` envelope.
    Webhook,
}

/// A way to reach a person. Its target and signing secret are read by its owner and by
/// admins only.
pub struct ContactMethodObject(pub ContactMethod);

#[Object(name = "ContactMethod")]
impl ContactMethodObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<UserObject> {
        store(ctx)
            .state()
            .user_any(self.0.user_id)
            .map(UserObject)
            .ok_or_else(|| coded(code::INTERNAL, "the contact method's user is missing"))
    }
    async fn kind(&self) -> ContactKind {
        self.0.kind.into()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The email address or URL; null unless you are its owner or an admin.
    async fn target(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        let by = principal(ctx)?;
        Ok(may_manage_contacts(by, self.0.user_id).then_some(self.0.target.0.as_str()))
    }
    /// `WEBHOOK` only: the key of its `X-Klaxon-Signature` (HMAC-SHA256 of the body);
    /// null otherwise, or unless you are its owner or an admin.
    async fn signing_secret(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        let by = principal(ctx)?;
        Ok(self
            .0
            .signing_secret
            .as_ref()
            .filter(|_| may_manage_contacts(by, self.0.user_id))
            .map(|s| s.0.as_str()))
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// Notify the user on `contactMethod` `delayMs` after they are paged, unless the incident
/// was acknowledged or resolved first.
pub struct NotificationRuleObject(pub NotificationRule);

#[Object(name = "NotificationRule")]
impl NotificationRuleObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<UserObject> {
        store(ctx)
            .state()
            .user_any(self.0.user_id)
            .map(UserObject)
            .ok_or_else(|| coded(code::INTERNAL, "the rule's user is missing"))
    }
    async fn contact_method(&self, ctx: &Context<'_>) -> Result<ContactMethodObject> {
        store(ctx)
            .contact_method(self.0.contact_method_id)
            .map(ContactMethodObject)
            .ok_or_else(|| coded(code::INTERNAL, "the rule's contact method is missing"))
    }
    /// How long after the page (0 = at once; at most one day).
    async fn delay_ms(&self) -> i32 {
        i32::try_from(self.0.delay_ms).unwrap_or(i32::MAX)
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// What a test notification came to.
#[derive(SimpleObject)]
#[graphql(name = "TestNotification")]
pub struct TestNotification {
    /// Whether the channel accepted the test message.
    pub ok: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
}

/// A new contact method.
#[derive(InputObject)]
pub struct AddContactMethodInput {
    /// Whose (yourself, or anyone for an admin).
    pub user_id: ID,
    /// What it is.
    pub kind: ContactKind,
    /// Its name, 1 to 200 characters.
    pub name: String,
    /// An email address (EMAIL), a Slack incoming-webhook URL (SLACK) or an http(s) URL
    /// (WEBHOOK); no credentials in URLs. Loopback and private addresses are allowed.
    pub target: String,
}

/// A new notification rule.
#[derive(InputObject)]
pub struct AddNotificationRuleInput {
    /// Whose.
    pub user_id: ID,
    /// One of their contact methods.
    pub contact_method_id: ID,
    /// How long after the page: 0 (at once) to 86,400,000 (one day).
    pub delay_ms: i32,
}

/// The contact lists of a user, for `User.contactMethods` / `User.notificationRules`:
/// empty unless the caller is the user or an admin.
pub(crate) fn contacts_for(
    ctx: &Context<'_>,
    user: domain::UserId,
) -> Result<std::sync::Arc<domain_contact::UserContacts>> {
    let by = principal(ctx)?;
    if may_manage_contacts(by, user) {
        Ok(store(ctx).state().contacts_of(user))
    } else {
        Ok(Default::default())
    }
}

/// Reaching people: the mutations.
#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    /// Adds a contact method to a user (the user themself, or an admin). A WEBHOOK method
    /// gets a `signingSecret`.
    async fn add_contact_method(
        &self,
        ctx: &Context<'_>,
        input: AddContactMethodInput,
    ) -> Result<ContactMethodObject> {
        store(ctx)
            .add_contact_method(
                principal(ctx)?,
                NewContactMethod {
                    user_id: input.user_id.0,
                    kind: input.kind.into(),
                    name: input.name,
                    target: input.target,
                },
            )
            .await
            .map(ContactMethodObject)
            .map_err(api_error)
    }

    /// Removes a contact method, and every notification rule that sends to it.
    async fn remove_contact_method(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        store(ctx)
            .remove_contact_method(principal(ctx)?, &id)
            .await
            .map(|id| ID(id.to_string()))
            .map_err(api_error)
    }

    /// Adds a notification rule (at most 20 per user).
    async fn add_notification_rule(
        &self,
        ctx: &Context<'_>,
        input: AddNotificationRuleInput,
    ) -> Result<NotificationRuleObject> {
        store(ctx)
            .add_notification_rule(
                principal(ctx)?,
                &input.user_id,
                &input.contact_method_id,
                i64::from(input.delay_ms),
            )
            .await
            .map(NotificationRuleObject)
            .map_err(api_error)
    }

    /// Removes a notification rule.
    async fn remove_notification_rule(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        store(ctx)
            .remove_notification_rule(principal(ctx)?, &id)
            .await
            .map(|id| ID(id.to_string()))
            .map_err(api_error)
    }

    /// Sends a clearly marked test message to a contact method now and waits for its
    /// channel's answer (at most 15 s).
    async fn send_test_notification(
        &self,
        ctx: &Context<'_>,
        contact_method_id: ID,
    ) -> Result<TestNotification> {
        let by = principal(ctx)?;
        let store = store(ctx);
        let id: ContactMethodId = contact_method_id.parse().map_err(api_error)?;
        let method = store
            .contact_method(id)
            .filter(|m| may_manage_contacts(by, m.user_id))
            .ok_or_else(|| {
                api_error(DomainError::not_found("contact method", id).at("contactMethodId"))
            })?;
        let user = store
            .state()
            .user(method.user_id)
            .ok_or_else(|| api_error(DomainError::not_found("user", method.user_id)))?;
        let channels = store
            .channels()
            .ok_or_else(|| coded(code::INTERNAL, "the page channels are not running"))?;
        Ok(
            match channels
                .send_test(&user, &method, store.clock().now())
                .await
            {
                Ok(()) => TestNotification {
                    ok: true,
                    error: None,
                },
                Err(e) => TestNotification {
                    ok: false,
                    error: Some(e.message),
                },
            },
        )
    }
}
