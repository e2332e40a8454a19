//! wg-quick text format: parse and print. (Stub: being written.)

use super::TunnelConfig;

/// A config that could not be used, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ConfigError {
    /// 1-based line number in the text; 0 when the config did not come from text.
    pub line: usize,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// Placeholder until the parser lands.
    #[error("{0}")]
    Other(String),
}

impl TunnelConfig {
    /// Parses wg-quick text.
    ///
    /// # Errors
    /// [`ConfigError`] naming the line and the problem.
    pub fn parse_wg_quick(_text: &str) -> Result<Self, ConfigError> {
        Err(ConfigError {
            line: 0,
            kind: ConfigErrorKind::Other("not implemented".into()),
        })
    }

    /// Prints wg-quick text that parses back to an equal config.
    pub fn to_wg_quick(&self) -> String {
        String::new()
    }

    /// Checks a config built in code (e.g. over FFI) the way the parser checks text.
    ///
    /// # Errors
    /// [`ConfigError`] with `line` 0.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
