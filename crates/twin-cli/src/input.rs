//! Passphrases, recovery codes and confirmations: from the terminal, from standard input
//! (`--passphrase-stdin`) or from environment variables (tests and automation).

use std::io::{BufRead, IsTerminal, Read};

use twin_vault::Passphrase;
use zeroize::Zeroizing;

use crate::{Failure, fail};

/// Where secrets come from for this run.
pub(crate) struct Secrets {
    stdin: bool,
    /// The current passphrase once read: a command that unlocks twice (to list backups,
    /// then to stop shares) reads it once.
    current: Option<Zeroizing<String>>,
}

impl Secrets {
    pub(crate) fn new(stdin: bool) -> Self {
        Secrets {
            stdin,
            current: None,
        }
    }

    fn line(&mut self, what: &str) -> Result<Zeroizing<String>, Failure> {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            fail(
                "input",
                format!("could not read the {what} from standard input: {e}"),
            )
        })?;
        let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
        if trimmed.is_empty() {
            return Err(fail(
                "no-passphrase",
                format!("standard input ended before the {what}"),
            ));
        }
        Ok(trimmed)
    }

    fn prompt(&self, prompt: &str, what: &str) -> Result<Zeroizing<String>, Failure> {
        if !std::io::stdin().is_terminal() {
            return Err(fail(
                "no-passphrase",
                format!("no {what} given: type it at a terminal, or use --passphrase-stdin"),
            ));
        }
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| fail("input", format!("could not read the {what}: {e}")))
    }

    /// The current passphrase.
    pub(crate) fn passphrase(&mut self, prompt: &str) -> Result<Passphrase, Failure> {
        let text = if let Some(t) = &self.current {
            t.clone()
        } else if self.stdin {
            self.line("passphrase")?
        } else if let Some(v) = env("TWIN_PASSPHRASE") {
            v
        } else {
            self.prompt(prompt, "passphrase")?
        };
        if !text.is_empty() {
            self.current = Some(text.clone());
        }
        Ok(Passphrase::new(text.to_string()))
    }

    /// The current passphrase if the citizen gives one, for something that can be done
    /// without it: from standard input or TWIN_PASSPHRASE as usual, at a terminal asked
    /// with `prompt` (an empty answer skips); `None` when there is none to be had.
    pub(crate) fn optional_passphrase(&mut self, prompt: &str) -> Option<Passphrase> {
        if self.current.is_none()
            && !self.stdin
            && env("TWIN_PASSPHRASE").is_none()
            && !std::io::stdin().is_terminal()
        {
            return None;
        }
        self.passphrase(prompt)
            .ok()
            .filter(|p| !p.expose().is_empty())
    }

    /// A new passphrase: asked twice on a terminal.
    pub(crate) fn new_passphrase(
        &mut self,
        prompt: &str,
        var: &str,
    ) -> Result<Passphrase, Failure> {
        let text = if self.stdin {
            self.line("new passphrase")?
        } else if let Some(v) = env(var) {
            v
        } else {
            let first = self.prompt(prompt, "new passphrase")?;
            let again = self.prompt("Type it again: ", "new passphrase")?;
            if first != again {
                return Err(fail(
                    "passphrase-mismatch",
                    "the two passphrases were different; nothing was changed",
                ));
            }
            first
        };
        Ok(Passphrase::new(text.to_string()))
    }

    /// A field value from the rest of standard input, without its final line break.
    pub(crate) fn value(&mut self) -> Result<Zeroizing<String>, Failure> {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_to_string(&mut text)
            .map_err(|e| {
                fail(
                    "input",
                    format!("could not read the value from standard input: {e}"),
                )
            })?;
        let trimmed = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        Ok(Zeroizing::new(trimmed.to_owned()))
    }

    /// A recovery code.
    pub(crate) fn recovery_code(&mut self) -> Result<Zeroizing<String>, Failure> {
        if self.stdin {
            self.line("recovery code")
        } else if let Some(v) = env("TWIN_RECOVERY_CODE") {
            Ok(v)
        } else {
            self.prompt("Recovery code: ", "recovery code")
        }
    }
}

fn env(var: &str) -> Option<Zeroizing<String>> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Zeroizing::new)
}

/// Asks the citizen to type `word`; without a terminal, refuses and names `--yes`.
pub(crate) fn confirm(prompt: &str, word: &str, command: &str) -> Result<bool, Failure> {
    can_confirm(command)?;
    eprint!("{prompt}");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| fail("input", format!("could not read your answer: {e}")))?;
    Ok(answer.trim().eq_ignore_ascii_case(word))
}

/// Refuses, before anything is read or changed, a confirmation that cannot be asked
/// (no terminal), naming `--yes`.
pub(crate) fn can_confirm(command: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            "confirmation-needed",
            format!(
                "`twin {command}` asks for confirmation; add --yes when running it from a script"
            ),
        ));
    }
    Ok(())
}
