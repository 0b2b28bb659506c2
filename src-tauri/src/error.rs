//! Errors as the UI receives them: a stable code and a plain message, never a stack.

use serde::Serialize;

/// What a failed command hands the UI.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UiError {
    /// Stable, for the UI to choose where to show it (`wrong-passphrase`, `invalid-value`, …).
    pub code: String,
    /// What happened and what to do, in plain words.
    pub message: String,
    /// After a wrong passphrase: seconds to wait before the next try.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_secs: Option<u64>,
}

impl UiError {
    /// An error of the app itself (not of the vault).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        UiError {
            code: code.to_owned(),
            message: message.into(),
            retry_in_secs: None,
        }
    }

    /// The vault is locked: the UI goes back to the unlock screen.
    pub fn locked() -> Self {
        UiError::new(
            "locked",
            "Your twin is locked. Unlock it with your passphrase to go on.",
        )
    }
}

impl From<twin_vault::VaultError> for UiError {
    fn from(e: twin_vault::VaultError) -> Self {
        UiError::new(e.code(), sentence(&e.to_string()))
    }
}

impl From<twin_sync::ClientError> for UiError {
    fn from(e: twin_sync::ClientError) -> Self {
        UiError::new(e.code(), sentence(&e.to_string()))
    }
}

/// Library messages are lower-case clauses made for `error: …` lines; the app shows them
/// as sentences.
pub(crate) fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return "Something went wrong.".to_owned(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_sentences() {
        assert_eq!(sentence("wrong passphrase"), "Wrong passphrase.");
        assert_eq!(sentence("done."), "Done.");
        assert_eq!(sentence(""), "Something went wrong.");
    }

    #[test]
    fn vault_errors_keep_their_code() {
        let e = UiError::from(twin_vault::VaultError::WrongPassphrase);
        assert_eq!(e.code, "wrong-passphrase");
        assert!(e.message.ends_with('.'));
        assert!(e.message.starts_with(char::is_uppercase));
    }
}
