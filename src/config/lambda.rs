//! AWS Lambda as a backend: a function reference (name, partial ARN, function
//! ARN, or API Gateway's invoke ARN), and `[integrations.lambda]` — region,
//! endpoint override and credentials.
//!
//! A function is checked here to the characters AWS allows in a name, an
//! account, a region and a qualifier, so what reaches the Invoke path and the
//! signature is always one of those forms. Credentials are resolved as the AWS
//! SDKs do, minus what needs the network (SSO, instance and container
//! roles): keys in the config (values or `env:`), else the process's
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, else the
//! shared credentials file, which is read again once a second (rotation without
//! a restart or a reload).

use std::path::PathBuf;

use super::Config;
use super::env::{self, EnvSource};
use super::reader::{Errors, Section};

/// A Lambda function an integration or authorizer invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaFunction {
    /// The `FunctionName` of the Invoke path: a name, `ACCOUNT:function:NAME`,
    /// or a function ARN, each possibly with `:QUALIFIER`.
    pub name: String,
    /// The function's region: from its ARN, else `[integrations.lambda]
    /// region` (filled in when the config is read).
    pub region: Option<String>,
}

/// `[integrations.lambda]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LambdaConfig {
    /// Region of functions named without an ARN (`AWS_REGION`,
    /// `AWS_DEFAULT_REGION` by default).
    pub region: Option<String>,
    /// `scheme://host[:port]` to call instead of `https://lambda.REGION.amazonaws.com`
    /// (LocalStack, an emulator).
    pub endpoint: Option<http::Uri>,
    /// Where the signing keys come from.
    pub credentials: Credentials,
}

/// Where Lambda calls' signing keys come from.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// Keys fixed for this config's life.
    Fixed(AwsKeys),
    /// An AWS shared credentials file (INI), read again once a second.
    File {
        /// Its path.
        path: PathBuf,
        /// The `[profile]` read.
        profile: String,
    },
    /// None found: a Lambda call fails (a config with Lambda backends is refused).
    #[default]
    Missing,
}

/// One set of AWS keys.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsKeys {
    /// `AKIA…` or `ASIA…`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Fixed(k) => f.debug_tuple("Fixed").field(k).finish(),
            Credentials::File { path, profile } => f
                .debug_struct("File")
                .field("path", path)
                .field("profile", profile)
                .finish(),
            Credentials::Missing => f.write_str("Missing"),
        }
    }
}

/// Reads a function reference, as written in `uri` (after stage variables).
/// `None` when the text is not an ARN-shaped reference (then it must be a URL).
pub fn parse_function(text: &str) -> Option<Result<LambdaFunction, String>> {
    const INVOKE: &str = ":lambda:path/2015-03-31/functions/";
    if !text.starts_with("arn:") {
        return None;
    }
    // API Gateway's own form: arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations.
    let inner = match text.split_once(INVOKE) {
        Some((_, rest)) => match rest.strip_suffix("/invocations") {
            Some(arn) => arn,
            None => return Some(Err(format!("{text:?}: an invoke ARN ends in /invocations"))),
        },
        None => text,
    };
    Some(function_arn(inner).ok_or_else(|| {
        format!("{text:?} is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])")
    }))
}

/// Reads `function = "…"`: a name, a partial ARN or a function ARN.
pub fn parse_function_name(text: &str) -> Result<LambdaFunction, String> {
    if text.starts_with("arn:") {
        return function_arn(text).ok_or_else(|| format!("{text:?} is not a Lambda function ARN"));
    }
    let parts: Vec<&str> = text.split(':').collect();
    let ok = match parts.as_slice() {
        [name] => is_name(name),
        [name, q] => is_name(name) && is_qualifier(q),
        [account, "function", name, rest @ ..] if rest.len() <= 1 => {
            is_account(account) && is_name(name) && rest.iter().all(|q| is_qualifier(q))
        }
        _ => false,
    };
    ok.then(|| LambdaFunction {
        name: text.to_owned(),
        region: None,
    })
    .ok_or_else(|| {
        format!(
            "{text:?} is not a function name (1-64 letters, digits, - or _, optionally :QUALIFIER)"
        )
    })
}

fn function_arn(arn: &str) -> Option<LambdaFunction> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [
        "arn",
        partition,
        "lambda",
        region,
        account,
        "function",
        name,
        rest @ ..,
    ] = parts.as_slice()
    else {
        return None;
    };
    let ok = partition.starts_with("aws")
        && partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        && is_region(region)
        && is_account(account)
        && is_name(name)
        && rest.len() <= 1
        && rest.iter().all(|q| is_qualifier(q));
    ok.then(|| LambdaFunction {
        name: arn.to_owned(),
        region: Some((*region).to_owned()),
    })
}

fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A version (`$LATEST`, `7`) or an alias.
pub fn is_qualifier(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'$'))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `us-east-1`, `us-gov-west-1`, `cn-north-1`: lower-case words and a digit.
pub fn is_region(s: &str) -> bool {
    (4..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `[integrations.lambda]`.
pub(super) fn read_lambda(mut s: Section<'_>, env: &dyn EnvSource) -> LambdaConfig {
    let region = match s.string("region") {
        Some(r) if is_region(r) => Some(r.to_owned()),
        Some(r) => {
            s.error("region", format!("{r:?} is not an AWS region"));
            None
        }
        None => ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| env.get(v).filter(|r| is_region(r))),
    };
    let endpoint = s.string("endpoint").and_then(|e| match endpoint(e) {
        Ok(uri) => Some(uri),
        Err(why) => {
            s.error("endpoint", why);
            None
        }
    });
    let credentials = read_credentials(&mut s, env);
    s.finish();
    LambdaConfig {
        region,
        endpoint,
        credentials,
    }
}

/// An endpoint override: `http(s)://host[:port]`, nothing after.
fn endpoint(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    let authority = uri.authority().map_or("", |a| a.as_str());
    let bare = matches!(uri.path(), "" | "/") && uri.query().is_none();
    match uri.scheme_str() {
        Some("http" | "https") if bare && crate::authority::valid_authority(authority) => Ok(uri),
        _ => Err(format!("{text:?} is not http(s)://host[:port]")),
    }
}

fn read_credentials(s: &mut Section<'_>, env: &dyn EnvSource) -> Credentials {
    let id = s.string("access_key_id");
    let secret = s.string("secret_access_key");
    let token = s.string("session_token");
    let file = s.string("credentials_file");
    let profile = s.string("profile");
    if let (Some(id), Some(secret)) = (id, secret) {
        if file.is_some() {
            s.error(
                "credentials_file",
                "give keys or a credentials file, not both",
            );
        }
        let id = env::secret(s, "access_key_id", id, env);
        let secret = env::secret(s, "secret_access_key", secret, env);
        let token = token.and_then(|t| env::secret(s, "session_token", t, env));
        return match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => Credentials::Fixed(AwsKeys {
                access_key_id,
                secret_access_key,
                session_token: token,
            }),
            _ => Credentials::Missing,
        };
    }
    if id.is_some() || secret.is_some() || token.is_some() {
        s.error(
            "access_key_id",
            "access_key_id and secret_access_key go together",
        );
        return Credentials::Missing;
    }
    let profile = profile
        .map(str::to_owned)
        .or_else(|| env.get("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into());
    if let Some(path) = file {
        return Credentials::File {
            path: path.into(),
            profile,
        };
    }
    if let (Some(id), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Credentials::Fixed(AwsKeys {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env.get("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()),
        });
    }
    let path = env
        .get("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            env.get("HOME")
                .map(|h| PathBuf::from(h).join(".aws/credentials"))
        });
    match path {
        Some(path) if std::path::Path::new(&path).is_file() => Credentials::File { path, profile },
        _ => Credentials::Missing,
    }
}

impl LambdaConfig {
    /// Fills in a function's region from `[integrations.lambda]`; the
    /// reasons it cannot be called (no region, no credentials), if any.
    pub fn settle(&self, f: &mut LambdaFunction) -> Vec<&'static str> {
        if f.region.is_none() {
            f.region.clone_from(&self.region);
        }
        let mut why = Vec::new();
        if f.region.is_none() {
            why.push(
                "no region: use a function ARN, or set [integrations.lambda] region or AWS_REGION",
            );
        }
        if self.credentials == Credentials::Missing {
            why.push("no AWS credentials: set [integrations.lambda] keys or credentials_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        }
        why
    }
}

/// Settles the request authorizers' Lambda functions: one named as a
/// hosted function (`[functions.NAME]`) is that; any other gets its region
/// and credentials checked. (Routes' are settled per stage when compiled,
/// once their stage variables are filled in.)
pub(super) fn settle(config: &mut Config, errors: &Errors) -> bool {
    let functions = &config.functions;
    let lambda = &config.integrations.lambda;
    let mut ok = true;
    for (name, a) in &mut config.authorizers {
        let super::AuthorizerConfig::Request(r) = a else {
            continue;
        };
        if let super::Backend::Lambda(f) = &r.backend
            && super::hosts(functions, &f.name)
        {
            r.backend = super::Backend::Hosted(f.name.clone());
        }
        if let super::Backend::Lambda(f) = &mut r.backend {
            for why in lambda.settle(f) {
                errors.push(format!("authorizers.{name}.uri"), why);
                ok = false;
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_references() {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:chat-send";
        let f = parse_function(arn).unwrap().unwrap();
        assert_eq!(
            (f.name.as_str(), f.region.as_deref()),
            (arn, Some("eu-west-1"))
        );
        let invoke = format!(
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{arn}:live/invocations"
        );
        let f = parse_function(&invoke).unwrap().unwrap();
        assert_eq!(f.name, format!("{arn}:live"));
        assert!(parse_function("http://x").is_none());
        for bad in [
            "arn:aws:lambda:eu-west-1:123456789012:function:a/b",
            "arn:aws:lambda:eu-west-1:12345:function:a",
            "arn:aws:lambda:EU:123456789012:function:a",
            "arn:aws:lambda:eu-west-1:123456789012:function:a:b:c",
            "arn:aws:lambda:eu-west-1:123456789012:function:a:b%2F",
            "arn:aws:s3:::bucket",
        ] {
            assert!(parse_function(bad).unwrap().is_err(), "{bad}");
        }
        assert_eq!(parse_function_name("chat:$LATEST").unwrap().region, None);
        assert!(parse_function_name("123456789012:function:chat").is_ok());
        for bad in ["", "a b", "a:b:c", "../x", "a?b=c", &"x".repeat(65)] {
            assert!(parse_function_name(bad).is_err(), "{bad:?}");
        }
    }
}
