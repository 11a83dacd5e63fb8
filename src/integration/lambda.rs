//! AWS Lambda's Invoke API as a backend: the signed request
//! (`POST /2015-03-31/functions/{FunctionName}/invocations`,
//! `X-Amz-Invocation-Type: RequestResponse`, SigV4 for service `lambda`) and
//! what its answer means.
//!
//! Keys are read per call from [`Keys`]: fixed ones, or an AWS shared
//! credentials file (at most 64 KiB), read again at most once a second — so
//! a credential helper that rewrites the file (IAM Roles Anywhere's
//! `aws_signing_helper update`, aws-vault, a cron job) rotates keys under a
//! running gateway.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;

use super::{CallError, LambdaError};
use crate::clock::{self, Instant};
use crate::config::{AwsKeys, Credentials, LambdaConfig, LambdaFunction};
use crate::sigv4::{self, Signed};

/// Lambda's synchronous payload limit, for the event and the result (6 MB).
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// Largest credentials file read: a few profiles are a few hundred bytes.
const MAX_CREDENTIALS_FILE: u64 = 64 << 10;
/// How often the credentials file is looked at for a change.
const RECHECK: Duration = Duration::from_secs(1);

/// The Lambda side of the integration client.
#[derive(Debug)]
pub struct Lambda {
    endpoint: Option<http::Uri>,
    keys: Keys,
}

#[derive(Debug)]
enum Keys {
    Fixed(Arc<AwsKeys>),
    File(KeyFile),
    Missing,
}

#[derive(Debug)]
struct KeyFile {
    path: PathBuf,
    profile: String,
    // A std mutex: held for a read of at most 64 KiB once a second, never
    // across an await.
    state: Mutex<FileState>,
}

#[derive(Debug, Default)]
struct FileState {
    checked: Option<Instant>,
    keys: Option<Arc<AwsKeys>>,
}

impl Lambda {
    /// From `[integrations.lambda]`.
    pub fn new(cfg: &LambdaConfig) -> Lambda {
        let keys = match &cfg.credentials {
            Credentials::Fixed(k) => Keys::Fixed(Arc::new(k.clone())),
            Credentials::File { path, profile } => Keys::File(KeyFile {
                path: path.clone(),
                profile: profile.clone(),
                state: Mutex::new(FileState::default()),
            }),
            Credentials::Missing => Keys::Missing,
        };
        if let Some(e) = &cfg.endpoint
            && e.scheme_str() == Some("http")
            && !matches!(e.host(), Some("localhost" | "127.0.0.1" | "[::1]"))
        {
            // The signature is safe to send in clear; a session token is not.
            tracing::warn!(
                endpoint = %e,
                "integrations.lambda.endpoint is plain http:// to another host: Lambda calls, and any session token, travel unencrypted."
            );
        }
        Lambda {
            endpoint: cfg.endpoint.clone(),
            keys,
        }
    }

    /// The signed Invoke request carrying `event` to `f`.
    pub fn request(
        &self,
        f: &LambdaFunction,
        event: Bytes,
    ) -> Result<http::Request<Bytes>, CallError> {
        if event.len() > MAX_PAYLOAD {
            return Err(CallError::Lambda(LambdaError::TooLarge));
        }
        let keys = self.keys()?;
        // The region is settled when the config is read.
        let region = f.region.as_deref().unwrap_or("us-east-1");
        let (scheme, authority) = match &self.endpoint {
            Some(e) => (
                e.scheme_str().unwrap_or("https"),
                e.authority().map_or("", |a| a.as_str()).to_owned(),
            ),
            None => ("https", default_host(region)),
        };
        let path = invoke_path(&f.name);
        let amz_date = sigv4::amz_date(clock::now_ms() / 1000);
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("content-type", b"application/json"),
            ("host", authority.as_bytes()),
            ("x-amz-date", amz_date.as_bytes()),
            ("x-amz-invocation-type", b"RequestResponse"),
        ];
        if let Some(token) = &keys.session_token {
            headers.push(("x-amz-security-token", token.as_bytes()));
        }
        let signed = Signed {
            method: "POST",
            path: &path,
            query: "",
            headers: &headers,
            body: &event,
        };
        let key = (keys.access_key_id.as_str(), keys.secret_access_key.as_str());
        let authorization = sigv4::sign_for(&signed, key, region, "lambda", &amz_date);
        let mut b = http::Request::post(format!("{scheme}://{authority}{path}"));
        for (name, value) in &headers {
            b = b.header(*name, *value);
        }
        b.header(http::header::AUTHORIZATION, authorization)
            .body(event)
            .map_err(|_| CallError::Failed("cannot build the Invoke request".into()))
    }

    fn keys(&self) -> Result<Arc<AwsKeys>, CallError> {
        let missing = || CallError::Failed("no AWS credentials for Lambda".into());
        match &self.keys {
            Keys::Fixed(k) => Ok(Arc::clone(k)),
            Keys::File(f) => f.current().ok_or_else(missing),
            Keys::Missing => Err(missing()),
        }
    }
}

/// `https://lambda.REGION.amazonaws.com`'s host (`.com.cn` in China).
fn default_host(region: &str) -> String {
    let suffix = if region.starts_with("cn-") { ".cn" } else { "" };
    format!("lambda.{region}.amazonaws.com{suffix}")
}

/// The Invoke path, the function name encoded as botocore encodes it (`:`
/// and `$` escaped; the name holds nothing else that needs it).
fn invoke_path(name: &str) -> String {
    let mut path = String::from("/2015-03-31/functions/");
    for c in name.chars() {
        match c {
            ':' => path.push_str("%3A"),
            '$' => path.push_str("%24"),
            c => path.push(c),
        }
    }
    path.push_str("/invocations");
    path
}

impl KeyFile {
    fn current(&self) -> Option<Arc<AwsKeys>> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = clock::now();
        if st
            .checked
            .is_none_or(|t| now.saturating_duration_since(t) >= RECHECK)
        {
            st.checked = Some(now);
            // Read whole each time rather than judged by its modification
            // time and size: a same-length rewrite within the file system's
            // timestamp granularity would look unchanged.
            st.keys = read_bounded(&self.path)
                .and_then(|text| read_profile(&text, &self.profile))
                .map(Arc::new);
        }
        st.keys.clone()
    }
}

/// The file's text, if it is at most [`MAX_CREDENTIALS_FILE`] bytes.
fn read_bounded(path: &std::path::Path) -> Option<String> {
    use std::io::Read as _;
    let mut text = String::new();
    let file = std::fs::File::open(path).ok()?;
    file.take(MAX_CREDENTIALS_FILE + 1)
        .read_to_string(&mut text)
        .ok()?;
    (text.len() as u64 <= MAX_CREDENTIALS_FILE).then_some(text)
}

/// The keys of `[profile]` in an AWS shared credentials file.
fn read_profile(text: &str, profile: &str) -> Option<AwsKeys> {
    let mut inside = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == profile;
            continue;
        }
        let Some((k, v)) = line.split_once('=').filter(|_| inside) else {
            continue;
        };
        let v = Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        match k.trim() {
            "aws_access_key_id" => id = v,
            "aws_secret_access_key" => secret = v,
            "aws_session_token" => token = v,
            _ => {}
        }
    }
    Some(AwsKeys {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

/// Reads Invoke's answer: `Ok` with the function's result and whether it is
/// a function error (`X-Amz-Function-Error`), or why Lambda gave none.
pub fn answer(resp: http::Response<Bytes>) -> Result<(Bytes, bool), CallError> {
    let status = resp.status().as_u16();
    let (head, body) = resp.into_parts();
    match status {
        200..=299 => Ok((body, head.headers.contains_key("x-amz-function-error"))),
        429 => Err(CallError::Lambda(LambdaError::Throttled)),
        413 => Err(CallError::Lambda(LambdaError::TooLarge)),
        500..=599 => Err(CallError::Lambda(LambdaError::Service(status))),
        _ => Err(CallError::Failed(format!(
            "Lambda refused the call: HTTP {status} {}",
            error_type(&head.headers)
        ))),
    }
}

/// AWS's error type (`ResourceNotFoundException`), for the log: only its
/// name's characters, at most 64 of them.
fn error_type(headers: &HeaderMap) -> String {
    let raw = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    raw.split(':')
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_profiles() {
        assert_eq!(
            invoke_path("arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST"),
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Af%3A%24LATEST/invocations"
        );
        let file = "[default]\naws_access_key_id = A\naws_secret_access_key=S\n\n[ci]\n# c\naws_access_key_id=B\naws_secret_access_key = T\naws_session_token = X\n";
        let k = read_profile(file, "ci").unwrap();
        assert_eq!(
            (k.access_key_id.as_str(), k.session_token.as_deref()),
            ("B", Some("X"))
        );
        assert_eq!(read_profile(file, "default").unwrap().session_token, None);
        assert!(read_profile(file, "other").is_none());
        assert_eq!(
            default_host("cn-north-1"),
            "lambda.cn-north-1.amazonaws.com.cn"
        );
    }
}
