//! Posting JSON to the outside world (outbound webhooks, Slack, webhook contact methods):
//! one shared client, bounded time and memory per attempt, and the `X-Klaxon-Signature`.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// No answer within this long is a timeout (the contract's 5 s).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this much of an answer's body is read (for the error message); the rest is
/// dropped with the connection, so a 100 MB answer costs nothing.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// The longest error text kept on a delivery.
const MAX_ERROR_CHARS: usize = 300;

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Klaxon-Signature";
/// The header carrying the delivery id (the same on every retry).
pub const DELIVERY_HEADER: &str = "X-Klaxon-Delivery";

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The answer's status, when there was an answer.
    pub status: Option<u16>,
    /// Why it did not deliver (`None` when it did).
    pub error: Option<String>,
    /// How long it took.
    pub duration: Duration,
}

impl Attempt {
    /// A `2xx` answer.
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }

    /// Worth trying again: a `429`, a `5xx`, a timeout or no connection. Any other `4xx`
    /// (or a redirect, which is not followed) will not get better by itself.
    pub fn retryable(&self) -> bool {
        match self.status {
            None => self.error.is_some(),
            Some(status) => status == 429 || status >= 500,
        }
    }
}

/// The shared HTTP client for everything Klaxon posts.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    client: reqwest::Client,
}

impl Outbound {
    /// A client with the contract's 5 s limit per attempt, no redirects (a signed delivery
    /// goes where it was configured to go, or nowhere), and Klaxon's user agent.
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Klaxon/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|error| {
                // Only a broken TLS backend gets here; keep paging with the defaults.
                tracing::error!(%error, "could not configure the HTTP client; using defaults");
                reqwest::Client::new()
            });
        Self { client }
    }

    /// POSTs `body` as JSON with `headers`; never fails, reports what happened.
    pub async fn post_json(&self, url: &str, body: &[u8], headers: &[(&str, String)]) -> Attempt {
        let started = Instant::now();
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let outcome = async {
            let mut response = request.send().await.map_err(describe)?;
            let status = response.status().as_u16();
            if response.status().is_success() {
                return Ok(status);
            }
            // Read a little of the answer for the error, never all of it.
            let mut answer = Vec::new();
            while answer.len() < MAX_ANSWER_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            answer.truncate(MAX_ANSWER_BYTES);
            let text = String::from_utf8_lossy(&answer);
            let text = text.trim();
            let error = if text.is_empty() {
                format!("answered {status}")
            } else {
                format!("answered {status}: {text}")
            };
            Err((Some(status), error))
        }
        .await;
        let duration = started.elapsed();
        match outcome {
            Ok(status) => Attempt {
                status: Some(status),
                error: None,
                duration,
            },
            Err((status, error)) => Attempt {
                status,
                error: Some(cut(&error)),
                duration,
            },
        }
    }

    /// POSTs a signed envelope: `X-Klaxon-Signature: v1=<hex HMAC-SHA256 of body>` and
    /// `X-Klaxon-Delivery: <delivery>`.
    pub async fn post_signed(
        &self,
        url: &str,
        body: &[u8],
        secret: &[u8],
        delivery: &str,
    ) -> Attempt {
        let headers = [
            (SIGNATURE_HEADER, sign(secret, body)),
            (DELIVERY_HEADER, delivery.to_owned()),
        ];
        self.post_json(url, body, &headers).await
    }
}

/// `v1=<lower-case hex HMAC-SHA256 of body keyed with secret>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(3 + digest.len() * 2);
    out.push_str("v1=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether `header` is the right signature of `body` (constant time).
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = sign(secret, body);
    expected.as_bytes().ct_eq(header.trim().as_bytes()).into()
}

/// A transport error a person can read (without the URL, which may carry a token).
fn describe(error: reqwest::Error) -> (Option<u16>, String) {
    let what = if error.is_timeout() {
        "no answer within 5 s"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_request() {
        "the request failed"
    } else {
        "the answer could not be read"
    };
    let mut source = std::error::Error::source(&error);
    let mut detail = String::new();
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    let error = if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {detail}")
    };
    (None, error)
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_CHARS {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(MAX_ERROR_CHARS).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "v1=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify(b"jefe", b"what do ya want for nothing?", &sig));
    }

    #[test]
    fn what_is_retried() {
        let at = |status: Option<u16>, error: Option<&str>| Attempt {
            status,
            error: error.map(str::to_owned),
            duration: Duration::ZERO,
        };
        assert!(at(Some(500), Some("x")).retryable());
        assert!(at(Some(503), Some("x")).retryable());
        assert!(at(Some(429), Some("x")).retryable());
        assert!(at(None, Some("could not connect")).retryable());
        assert!(!at(Some(400), Some("x")).retryable());
        assert!(!at(Some(404), Some("x")).retryable());
        assert!(!at(Some(301), Some("x")).retryable());
        assert!(at(Some(204), None).delivered());
    }
}
