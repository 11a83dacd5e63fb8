//! What a parsed config must pass before it is compiled into a snapshot:
//! what it names must load and compile. `config` only reads and checks text;
//! the certificate files of the public listener, of `[integrations.tls]` and
//! of `[cluster]` are loaded here; the `[models.*]` JSON Schemas and the
//! route- and model-selection expressions compiled, once at `sockgate check`, at start and at
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
    if let Err(e) = crate::routing::selection_expression(&config.websocket.selection) {
        push("websocket.route_selection_expression", e);
    }
    // Every stage serves the same routes: each route's expression once.
    let routes = config
        .stages
        .first()
        .map(|s| s.routes.as_slice())
        .unwrap_or_default();
    for route in routes {
        let selection = route
            .validation
            .as_ref()
            .and_then(|v| v.selection.as_deref());
        if let Some(Err(e)) = selection.map(crate::routing::Template::parse) {
            let bare = route
                .key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let key = if bare {
                route.key.clone()
            } else {
                format!("{:?}", route.key)
            };
            let at = format!("routes.{key}.model_selection_expression");
            push(&at, e.to_string());
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
        let text = "[websocket]\nroute_selection_expression = \"${request.body.action\"\n[stages.prod]\n[routes.\"$default\"]\nintegration = { type = \"mock\" }\nrequest_models = { \"$default\" = \"M\" }\nmodel_selection_expression = \"$request.header.x\"\n[models.M]\nschema = '{}'\n";
        let config = Config::parse(text, &env).unwrap();
        let err = super::check(&config).unwrap_err().to_string();
        assert!(
            err.contains("websocket.route_selection_expression: unclosed"),
            "{err}"
        );
        assert!(
            err.contains("routes.\"$default\".model_selection_expression"),
            "{err}"
        );
        let text =
            "[websocket]\nroute_selection_expression = \"$context.routeKey\"\n[stages.prod]\n";
        let config = Config::parse(text, &env).unwrap();
        let err = super::check(&config).unwrap_err().to_string();
        assert!(err.contains("may only use $request.body"), "{err}");
        let text = "[stages.prod]\n[integrations.tls]\nca_file = \"/nonexistent-ca.pem\"\n";
        let config = Config::parse(text, &env).unwrap();
        let err = super::check(&config).unwrap_err().to_string();
        assert!(err.contains("integrations.tls.ca_file"), "{err}");
    }
}
