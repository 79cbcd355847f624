//! Email pages over SMTP with `lettre` (STARTTLS when the server offers it, TLS from the
//! start for `smtps://`; rustls, no OpenSSL). Each page is a plain-text and an HTML part
//! with the incident, its service, severity and level, who else is on the policy, a link
//! to it, and one-click Acknowledge / Resolve pages.

use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::notifier::{Message, Notifier, NotifyError};
use crate::domain::contact::ContactKind;

/// One SMTP conversation may take this long before the attempt counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends pages as email.
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why `--smtp-url` or `--smtp-from` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SmtpConfigError(pub String);

impl EmailNotifier {
    /// From `smtp://[user:pass@]host[:port]` (STARTTLS when offered; port 25 by default)
    /// or `smtps://[user:pass@]host[:port]` (TLS from the start; port 465), sending as
    /// `from`.
    pub fn new(url: &str, from: &str) -> Result<Self, SmtpConfigError> {
        let bad = |why: String| SmtpConfigError(format!("--smtp-url: {why}"));
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a URL ({e})")))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("names no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| bad(format!("TLS setup failed: {e}")))
        };
        let (port, tls) = match parsed.scheme() {
            "smtp" => (parsed.port().unwrap_or(25), Tls::Opportunistic(tls(&host)?)),
            "smtps" => (parsed.port().unwrap_or(465), Tls::Wrapper(tls(&host)?)),
            other => {
                return Err(bad(format!(
                    "the scheme must be smtp:// or smtps://, not {other}://"
                )));
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if !parsed.username().is_empty() {
            let decode = |s: &str| {
                percent_decode(s).ok_or_else(|| bad("the user or password is badly escaped".into()))
            };
            let user = decode(parsed.username())?;
            let password = decode(parsed.password().unwrap_or(""))?;
            builder = builder.credentials(Credentials::new(user, password));
        }
        let from: Mailbox = from.parse().map_err(|e| {
            SmtpConfigError(format!(
                "--smtp-from: not an address ({e}); e.g. 'Klaxon <klaxon@example.com>'"
            ))
        })?;
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The subject, plain text and HTML of a message.
pub fn compose(message: &Message<'_>) -> (String, String, String) {
    let subject = message.headline();
    let Some(about) = message.about else {
        let text = format!(
            "This is a test notification from Klaxon.\n\nIf you can read it, pages to {} reach this address.\n",
            message.user.name
        );
        let html = format!(
            "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>Klaxon test notification</h2><p>If you can read it, pages to {} reach this address.</p></body></html>",
            escape(&message.user.name)
        );
        return (subject, text, html);
    };
    let incident = &about.incident;
    let severity = incident.severity.upper();
    let assignee = about.assignee();
    let others = if about.others.is_empty() {
        "nobody else".to_owned()
    } else {
        about.others.join(", ")
    };
    let reason = message.page.map_or("", |p| p.reason.as_str());
    let mut text = format!(
        "{title}\n\nSeverity: {severity}\nService: {service}\nEscalation level: {level}\nAssigned to: {assignee}\nAlso on the escalation policy: {others}\nWhy you: {reason}\n",
        title = incident.title,
        service = about.service(),
        level = incident.escalation_level,
    );
    if let Some(description) = incident.description().filter(|d| !d.is_empty()) {
        text.push_str(&format!("\n{description}\n"));
    }
    text.push_str(&format!("\nOpen the incident: {}\n", about.url()));
    if let (Some(ack), Some(resolve)) = (&about.acknowledge_url, &about.resolve_url) {
        text.push_str(&format!("Acknowledge: {ack}\nResolve: {resolve}\n"));
    }
    if !message.more.is_empty() {
        text.push_str(&format!(
            "\nAnd {} more incidents (bundled: this address got too many messages this minute):\n",
            message.more.len()
        ));
        for more in message.more {
            text.push_str(&format!(
                "- [{}] {} {}\n",
                more.incident.severity.upper(),
                more.incident.title,
                more.url()
            ));
        }
    }
    let button = |href: &str, label: &str, colour: &str| {
        format!(
            "<a href=\"{}\" style=\"display:inline-block;padding:10px 18px;margin-right:8px;background:{colour};color:#fff;text-decoration:none;border-radius:4px\">{label}</a>",
            escape(href)
        )
    };
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{title}</h2><table cellpadding=\"4\"><tr><th align=\"left\">Severity</th><td>{severity}</td></tr><tr><th align=\"left\">Service</th><td>{service}</td></tr><tr><th align=\"left\">Escalation level</th><td>{level}</td></tr><tr><th align=\"left\">Assigned to</th><td>{assignee}</td></tr><tr><th align=\"left\">Also on the policy</th><td>{others}</td></tr><tr><th align=\"left\">Why you</th><td>{reason}</td></tr></table>",
        title = escape(&incident.title),
        service = escape(about.service()),
        level = incident.escalation_level,
        assignee = escape(assignee),
        others = escape(&others),
        reason = escape(reason),
    );
    if let Some(description) = incident.description().filter(|d| !d.is_empty()) {
        html.push_str(&format!(
            "<p style=\"white-space:pre-wrap\">{}</p>",
            escape(description)
        ));
    }
    html.push_str("<p>");
    if let (Some(ack), Some(resolve)) = (&about.acknowledge_url, &about.resolve_url) {
        html.push_str(&button(ack, "Acknowledge", "#b45309"));
        html.push_str(&button(resolve, "Resolve", "#15803d"));
    }
    html.push_str(&button(&about.url(), "Open in Klaxon", "#1d4ed8"));
    html.push_str("</p>");
    if !message.more.is_empty() {
        html.push_str(&format!(
            "<h3>And {} more incidents</h3><ul>",
            message.more.len()
        ));
        for more in message.more {
            html.push_str(&format!(
                "<li>[{}] <a href=\"{}\">{}</a></li>",
                more.incident.severity.upper(),
                escape(&more.url()),
                escape(&more.incident.title)
            ));
        }
        html.push_str("</ul>");
    }
    html.push_str("</body></html>");
    (subject, text, html)
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Notifier for EmailNotifier {
    fn channel(&self) -> &str {
        "email"
    }

    fn send<'a>(&'a self, message: &'a Message<'a>) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let address = match message.method {
                Some(method) if method.kind == ContactKind::Email => method.target.0.as_str(),
                _ => message.user.email.as_str(),
            };
            let to: Mailbox = address
                .parse()
                .map_err(|e| NotifyError::permanent(format!("not an email address: {e}")))?;
            let (subject, text, html) = compose(message);
            let email = lettre::Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(subject)
                .multipart(MultiPart::alternative_plain_html(text, html))
                .map_err(|e| NotifyError::permanent(format!("could not build the email: {e}")))?;
            // Every SMTP failure is retried, a 5xx too: a relay's "mailbox unavailable" is
            // often a passing state, and a page is worth the few extra attempts.
            match self.transport.send(email).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(NotifyError::transient(format!(
                    "SMTP: the server refused it: {e}"
                ))),
                Err(e) => Err(NotifyError::transient(format!("SMTP: {e}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn smtp_urls() {
        assert!(EmailNotifier::new("smtp://127.0.0.1:2525", "Klaxon <k@example.com>").is_ok());
        assert!(EmailNotifier::new("smtps://u:p%40ss@mail.example.com", "k@example.com").is_ok());
        assert!(EmailNotifier::new("http://mail.example.com", "k@example.com").is_err());
        assert!(EmailNotifier::new("smtp://", "k@example.com").is_err());
        assert!(EmailNotifier::new("smtp://mail.example.com", "not an address").is_err());
        assert_eq!(percent_decode("p%40ss").as_deref(), Some("p@ss"));
        assert_eq!(percent_decode("bad%4"), None);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
