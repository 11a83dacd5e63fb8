//! What a parsed config must pass before it is compiled into a snapshot:
//! what it names must load and compile. `config` only reads and checks text;
//! the certificate files of the public listener, of `[integrations.tls]` and
//! of `[cluster]` are loaded here, and the `[models.*]` JSON Schemas compiled, once at `sockgate check`, at start and at
//! each reload, so a bad file or schema is a config error with its key, not a
//! failed handshake or an unchecked body later.

use crate::config::{ClientTlsFiles, Config, ConfigError, ConfigErrors};
use crate::tls::Tls;
use crate::tls::client::ClientTls;
use crate::validation::Model;

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
    if let Err(e) = ClientTls::load(&config.integrations.tls) {
        push("integrations.tls.ca_file", e);
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
mod tests {
    use crate::config::Config;
    use std::collections::HashMap;

    #[test]
    fn schemas_compile_when_the_config_is_compiled() {
        let env = HashMap::new();
        let text = "[stages.prod]\n[models.Text]\nschema = 'nope'\n";
        let err = Config::parse(text, &env).unwrap_err().to_string();
        assert!(err.contains("models.Text.schema: not JSON"), "{err}");
        let text = "[stages.prod]\n[models.Bad]\nschema = '{\"type\":\"nonsense\"}'\n";
        let config = Config::parse(text, &env).unwrap();
        let err = super::check(&config).unwrap_err().to_string();
        assert!(
            err.contains("models.Bad.schema: not a valid schema"),
            "{err}"
        );
        let text = "[stages.prod]\n[integrations.tls]\nca_file = \"/nonexistent-ca.pem\"\n";
        let config = Config::parse(text, &env).unwrap();
        let err = super::check(&config).unwrap_err().to_string();
        assert!(err.contains("integrations.tls.ca_file"), "{err}");
    }
}
