//! People's contact methods and notification rules: who may change them, how a page
//! decision becomes one notification per rule, and the timer that sends the later ones.

use std::sync::Arc;

use super::{CommandError, Store};
use crate::domain::contact::{
    self, ContactKind, ContactMethod, MAX_CONTACT_METHODS, MAX_NOTIFICATION_RULES, NotificationRule,
};
use crate::domain::incident::FollowUp;
use crate::domain::integration::IntegrationSecret;
use crate::domain::{
    ContactMethodId, DomainError, Event, Incident, IncidentId, Notification, NotificationId,
    NotificationRuleId, Principal, Role, UserId,
};

/// What `addContactMethod` takes, unvalidated.
#[derive(Clone, Debug)]
pub struct NewContactMethod {
    /// Whose.
    pub user_id: String,
    /// What it is.
    pub kind: ContactKind,
    /// Its name.
    pub name: String,
    /// The address or URL.
    pub target: String,
}

/// Whether `by` may read `user`'s contact targets and change their methods and rules:
/// the user themself, or an admin.
pub fn may_manage_contacts(by: &Principal, user: UserId) -> bool {
    by.role == Role::Admin || by.user_id() == Some(user)
}

fn require_manage(by: &Principal, user: UserId) -> Result<(), DomainError> {
    if may_manage_contacts(by, user) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(format!(
            "{} may not change another person's contact methods or notification rules; they or an admin can",
            by.actor.name
        )))
    }
}

impl Store {
    /// A contact method by id, with its owner.
    pub fn contact_method(&self, id: ContactMethodId) -> Option<ContactMethod> {
        self.state()
            .contacts
            .iter()
            .find_map(|entry| entry.method(id).cloned())
    }

    fn rule_owner(&self, id: NotificationRuleId) -> Option<UserId> {
        self.state()
            .contacts
            .iter()
            .find_map(|entry| entry.rules.iter().any(|r| r.id == id).then(|| *entry.key()))
    }

    /// Adds a contact method to a user (the user themself or an admin). A `WEBHOOK` one gets
    /// its signing secret here.
    pub async fn add_contact_method(
        &self,
        by: &Principal,
        input: NewContactMethod,
    ) -> Result<ContactMethod, CommandError> {
        let user_id: UserId = input
            .user_id
            .parse()
            .map_err(|e: DomainError| e.at("userId"))?;
        require_manage(by, user_id)?;
        let name = contact::parse_name(&input.name)?;
        let target = contact::parse_target(input.kind, &input.target)?;
        let _config = self.config_lock().await?;
        if self.state().user(user_id).is_none() {
            return Err(DomainError::not_found("user", user_id).at("userId").into());
        }
        if self.state().contacts_of(user_id).methods.len() >= MAX_CONTACT_METHODS {
            return Err(DomainError::invalid(
                "userId",
                format!("a user has at most {MAX_CONTACT_METHODS} contact methods"),
            )
            .into());
        }
        let method = ContactMethod {
            id: ContactMethodId::new(),
            user_id,
            kind: input.kind,
            name,
            target: IntegrationSecret(target),
            signing_secret: (input.kind == ContactKind::Webhook)
                .then(|| IntegrationSecret(crate::secret::random_secret("kxs_"))),
            created_at: self.shared.clock.now(),
        };
        self.commit(Event::ContactMethodAdded {
            method: method.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(method)
    }

    /// Removes a contact method and the rules that send to it.
    pub async fn remove_contact_method(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<ContactMethodId, CommandError> {
        let id: ContactMethodId = id.parse()?;
        let _config = self.config_lock().await?;
        let method = self
            .contact_method(id)
            .ok_or_else(|| DomainError::not_found("contact method", id))?;
        require_manage(by, method.user_id)?;
        self.commit(Event::ContactMethodRemoved {
            id,
            user_id: method.user_id,
            at: self.shared.clock.now(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(id)
    }

    /// Adds a notification rule: notify on `contact_method_id` `delay_ms` after a page.
    pub async fn add_notification_rule(
        &self,
        by: &Principal,
        user_id: &str,
        contact_method_id: &str,
        delay_ms: i64,
    ) -> Result<NotificationRule, CommandError> {
        let user_id: UserId = user_id.parse().map_err(|e: DomainError| e.at("userId"))?;
        require_manage(by, user_id)?;
        let method_id: ContactMethodId = contact_method_id
            .parse()
            .map_err(|e: DomainError| e.at("contactMethodId"))?;
        let delay_ms = contact::parse_delay(delay_ms)?;
        let _config = self.config_lock().await?;
        if self.state().user(user_id).is_none() {
            return Err(DomainError::not_found("user", user_id).at("userId").into());
        }
        let contacts = self.state().contacts_of(user_id);
        if contacts.method(method_id).is_none() {
            return Err(DomainError::not_found("contact method", method_id)
                .at("contactMethodId")
                .into());
        }
        if contacts.rules.len() >= MAX_NOTIFICATION_RULES {
            return Err(DomainError::invalid(
                "userId",
                format!("a user has at most {MAX_NOTIFICATION_RULES} notification rules"),
            )
            .into());
        }
        let rule = NotificationRule {
            id: NotificationRuleId::new(),
            user_id,
            contact_method_id: method_id,
            delay_ms,
            created_at: self.shared.clock.now(),
        };
        self.commit(Event::NotificationRuleAdded {
            rule: rule.clone(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(rule)
    }

    /// Removes a notification rule.
    pub async fn remove_notification_rule(
        &self,
        by: &Principal,
        id: &str,
    ) -> Result<NotificationRuleId, CommandError> {
        let id: NotificationRuleId = id.parse()?;
        let _config = self.config_lock().await?;
        let user_id = self
            .rule_owner(id)
            .ok_or_else(|| DomainError::not_found("notification rule", id))?;
        require_manage(by, user_id)?;
        self.commit(Event::NotificationRuleRemoved {
            id,
            user_id,
            at: self.shared.clock.now(),
            actor: by.actor.clone(),
        })
        .await?;
        Ok(id)
    }

    /// Fills in a page decision's channels from the paged user's rules: the soonest rule
    /// is the page itself, each other rule a follow-up with its own id and delay. A user
    /// without rules keeps the default channel (email when SMTP is set up, else the log).
    pub(super) fn plan_page(&self, page: &mut Notification) {
        let contacts = self.state().contacts_of(page.user_id);
        let mut plan = contacts.plan();
        let Some((first, method)) = plan.next() else {
            return;
        };
        page.channel = method.kind.channel().into();
        page.set_rule(method.id, first.delay_ms);
        page.set_follow_ups(
            plan.map(|(rule, method)| FollowUp {
                id: NotificationId::new(),
                contact_method_id: method.id,
                channel: method.kind.channel().to_owned(),
                delay_ms: rule.delay_ms,
            })
            .collect(),
        );
    }

    /// The notification timer of an incident: sends the pending rules that are due, if it
    /// is still triggered (an acknowledgement or resolution dropped them already).
    pub async fn notifications_due(&self, id: IncidentId) -> Result<Arc<Incident>, CommandError> {
        self.transition(id, &crate::domain::Actor::system(), |incident, now| {
            Ok(incident.notifications_due(now))
        })
        .await
    }
}
