//! What a parsed config must pass before it is compiled into a snapshot:
//! what it names must load and compile. `config` only reads and checks text;
//! here the certificate files of the public listener, of `[integrations.tls]`
//! and of `[cluster]` are loaded, the `[models.*]` JSON Schemas and the
//! route- and model-selection expressions compiled, and every route compiled
//! for every stage (`routes`) — at `sockgate check`, at start and at each
//! reload — so a bad file, schema, key, URI or mapping is a config error with
//! its key, not a failed handshake or an unchecked body later.

mod routes;

use crate::config::{ClientTlsFiles, Config, ConfigError, ConfigErrors, EnvSource};
use crate::telemetry::access_format::AccessFormat;
use crate::tls::Tls;
use crate::tls::client::ClientTls;
use crate::validation::Model;

/// Parses config text and checks that it compiles: what `sockgate` runs.
pub fn parse(text: &str, env: &dyn EnvSource) -> Result<Config, ConfigErrors> {
    let config = Config::parse(text, env)?;
    check(&config).map(|()| config)
}

/// Every problem found in the material `config` names.
pub fn check(config: &Config) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    let mut push = |path: &str, reason: String| {
        errors.push(ConfigError {
            path: path.into(),
            reason,
        });
    };
    if let Some(files) = &config.server.tls
        && let Err(e) = Tls::load(files)
    {
        push("server.tls_cert_file", e);
    }
    if let Some(ca_file) = &config.server.tls_ca_file {
        let files = ClientTlsFiles {
            ca_file: Some(ca_file.clone()),
            system_roots: false,
            ..ClientTlsFiles::default()
        };
        if let Err(e) = ClientTls::load(&files) {
            push("server.tls_ca_file", e);
        }
    }
    if let Err(e) = ClientTls::load(&config.integrations.tls) {
        push("integrations.tls.ca_file", e);
    }
    let formats = [
        ("http.access_log_format", &config.http.access_log_format),
        (
            "websocket.access_log_format",
            &config.websocket.access_log_format,
        ),
    ];
    for (key, format) in formats {
        if let Some(Err(e)) = format.as_deref().map(AccessFormat::parse) {
            push(key, e);
        }
    }
    if let Some(cluster) = &config.cluster {
        let t = &cluster.tls;
        if t.ca_file.is_some() || t.cert_file.is_some() || t.key_file.is_some() {
            let files = ClientTlsFiles {
                ca_file: t.ca_file.clone(),
                system_roots: false,
                cert_file: t.cert_file.clone(),
                key_file: t.key_file.clone(),
                verify: true,
            };
            if let Err(e) = ClientTls::load(&files) {
                push("cluster.ca_file", e);
            }
        }
    }
    if let Err(e) = crate::routing::selection_expression(&config.websocket.selection) {
        push("websocket.route_selection_expression", e);
    }
    routes::check(config, &mut push);
    for (name, schema) in &config.models {
        if let Err(e) = Model::compile_value(name, schema) {
            push(&format!("models.{name}.schema"), e);
        }
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err(ConfigErrors(errors)),
    }
}

#[cfg(test)]
mod tests;
