//! Configuration from the environment, read in one place per function. Every missing or invalid variable
//! is collected, so a cold start fails once with all of them named rather than one at a time.

use std::{collections::HashMap, fmt};

/// A secret value. Its `Debug` and `Display` never show it, so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub missing: Vec<String>,
    pub invalid: Vec<(String, String)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("configuration error:")?;
        if !self.missing.is_empty() {
            write!(f, " missing environment variables: {}", self.missing.join(", "))?;
        }
        for (name, why) in &self.invalid {
            write!(f, " {name} is invalid ({why});")?;
        }
        Ok(())
    }
}

/// Reads variables from a source and remembers every problem until [`Env::finish`].
pub struct Env {
    vars: HashMap<String, String>,
    missing: Vec<String>,
    invalid: Vec<(String, String)>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self::from_map(std::env::vars())
    }

    /// Any set of variables: tests, and the local stack's defaults layered under the environment.
    pub fn from_map(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = vars.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect();
        Self { vars, missing: Vec::new(), invalid: Vec::new() }
    }

    pub fn required(&mut self, name: &str) -> String {
        match self.vars.get(name) {
            Some(value) => value.clone(),
            None => {
                self.missing.push(name.to_owned());
                String::new()
            }
        }
    }

    pub fn optional(&mut self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// Sets a variable from another source than the environment (a secret store read at cold start).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_owned(), value.into());
    }

    /// An optional variable parsed with `parse`, or `default` when absent.
    pub fn parsed<T>(&mut self, name: &str, default: T, parse: impl Fn(&str) -> Option<T>) -> T {
        match self.vars.get(name) {
            None => default,
            Some(raw) => parse(raw).unwrap_or_else(|| {
                self.invalid.push((name.to_owned(), format!("cannot parse `{raw}`")));
                default
            }),
        }
    }

    /// Records a configuration problem that is not about one variable's presence.
    pub fn invalid(&mut self, name: &str, why: impl Into<String>) {
        self.invalid.push((name.to_owned(), why.into()));
    }

    /// Ok when every required variable was present and every value parsed.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.missing.is_empty() && self.invalid.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { missing: self.missing, invalid: self.invalid })
        }
    }
}

/// The DynamoDB table, shared by every function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    pub table_name: String,
}

impl TableConfig {
    pub fn read(env: &mut Env) -> Self {
        Self { table_name: env.required("TABLE_NAME") }
    }
}

/// The Shopify app's credentials: API key (session token `aud`) and client secret (webhook HMAC and
/// session token signature), plus the previous secret while a rotation is under way. In AWS the
/// secrets live in Secrets Manager (`SHOPIFY_APP_SECRET_ID`, see `aws::resolve_app_secret`), which sets
/// `SHOPIFY_API_SECRET` and `SHOPIFY_API_SECRET_PREVIOUS` in the function's [`Env`] at cold start,
/// never in the process environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyAppConfig {
    pub api_key: String,
    pub api_secret: Secret,
    pub previous_api_secret: Option<Secret>,
}

impl ShopifyAppConfig {
    pub fn read(env: &mut Env) -> Self {
        Self {
            api_key: env.required("SHOPIFY_API_KEY"),
            api_secret: Secret::new(env.required("SHOPIFY_API_SECRET")),
            previous_api_secret: env.optional("SHOPIFY_API_SECRET_PREVIOUS").map(Secret::new),
        }
    }

    /// The secrets to try, current first.
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.api_secret).chain(self.previous_api_secret.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let mut e = env(&[("SHOPIFY_API_KEY", "k"), ("SHOPIFY_API_SECRET", " ")]);
        TableConfig::read(&mut e);
        ShopifyAppConfig::read(&mut e);
        let err = e.finish().unwrap_err();
        assert_eq!(err.missing, ["TABLE_NAME", "SHOPIFY_API_SECRET"]);
        assert!(err.to_string().contains("TABLE_NAME, SHOPIFY_API_SECRET"));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn invalid_values_are_reported() {
        let mut e = env(&[("N", "x")]);
        assert_eq!(e.parsed("N", 5u32, |v| v.parse().ok()), 5);
        assert_eq!(e.finish().unwrap_err().invalid[0].0, "N");
    }
}

/// The KMS key that seals secrets at rest (shop tokens, partner credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsConfig {
    pub key_id: String,
}

impl SecretsConfig {
    pub fn read(env: &mut Env) -> Self {
        Self { key_id: env.required("SECRETS_KEY_ID") }
    }
}
