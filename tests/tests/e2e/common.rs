//! What every end-to-end test shares: the real `twin` binary, a private world for each
//! test (vault, HOME, XDG folders and TMPDIR inside one temporary folder), and checks of
//! the command line's output contract.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, ExitStatus, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The passphrase every test vault starts with.
pub const PASS: &str = "correct horse battery staple";

/// The `twin` binary, built from the current sources.
///
/// `cargo test -p twin-e2e` does not build another package's binaries, and a stale
/// `target/debug/twin` would test old code. So the first call runs
/// `cargo build -p twin-cli --bin twin` into the same target folder and profile as this
/// test binary (cargo sets `CARGO` for the tests it runs). `TWIN_BIN` overrides all this.
pub fn twin_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("TWIN_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("the test binary knows its path");
        // target/<profile>/deps/<this test>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in target/<profile>/deps")
            .to_owned();
        let bin = profile_dir.join(format!("twin{}", std::env::consts::EXE_SUFFIX));
        if let Some(cargo) = std::env::var_os("CARGO") {
            let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
            let mut build = StdCommand::new(cargo);
            build
                .args(["build", "--quiet", "-p", "twin-cli", "--bin", "twin"])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            match profile_dir.file_name().and_then(OsStr::to_str) {
                Some("debug") => {}
                Some("release") => {
                    build.arg("--release");
                }
                Some(other) => {
                    build.args(["--profile", other]);
                }
                None => {}
            }
            let status = build.status().expect("could not run cargo to build `twin`");
            assert!(
                status.success(),
                "`cargo build -p twin-cli --bin twin` failed; fix the build, or set TWIN_BIN"
            );
        }
        assert!(
            bin.is_file(),
            "the `twin` binary is not at {}: run `cargo build -p twin-cli` first, or set TWIN_BIN",
            bin.display()
        );
        bin
    })
}

/// What one run of `twin` produced.
#[derive(Debug)]
pub struct Out {
    /// What was run, for messages.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts a failure in the contract's form — exit non-zero, exactly one line on
    /// stderr, `twin: <message> [code: <code>]`, never a panic — and returns the line.
    pub fn fails_with(&self, code: &str) -> &str {
        assert!(
            !self.status.success(),
            "{} should have failed with {code}, but succeeded\nstdout: {}",
            self.what,
            self.stdout
        );
        assert_no_panic(self);
        let line = self.stderr.trim_end_matches('\n');
        assert_eq!(
            line.lines().count(),
            1,
            "{}: stderr must be one line, was {:?}",
            self.what,
            self.stderr
        );
        assert!(
            line.starts_with("twin: ") && line.ends_with(&format!(" [code: {code}]")),
            "{}: expected `twin: … [code: {code}]`, got {line:?}",
            self.what
        );
        line
    }

    /// The stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}): {}", self.what, self.stdout))
    }
}

/// Neither a Rust panic nor the CLI's panic hook ran.
pub fn assert_no_panic(out: &Out) {
    for bad in [
        "panicked",
        "internal error",
        "RUST_BACKTRACE",
        "[code: internal]",
    ] {
        assert!(
            !out.stderr.contains(bad),
            "{}: stderr shows a panic: {}",
            out.what,
            out.stderr
        );
    }
}

/// One test's private world.
#[derive(Debug)]
pub struct World {
    root: tempfile::TempDir,
    /// The vault folder passed with `--vault`.
    pub vault: PathBuf,
    /// The passphrase `run` gives through TWIN_PASSPHRASE.
    pub pass: String,
}

impl World {
    pub fn new() -> World {
        let root = tempfile::Builder::new()
            .prefix("twin-e2e-")
            .tempdir()
            .expect("a temporary folder");
        for d in ["home/.cache", "home/.local/share", "home/.config", "tmp"] {
            fs::create_dir_all(root.path().join(d)).expect("a folder in the test's world");
        }
        let vault = root.path().join("vault");
        World {
            root,
            vault,
            pass: PASS.to_owned(),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    pub fn xdg_data(&self) -> PathBuf {
        self.root().join("home/.local/share")
    }
    pub fn xdg_cache(&self) -> PathBuf {
        self.root().join("home/.cache")
    }
    pub fn tmpdir(&self) -> PathBuf {
        self.root().join("tmp")
    }

    /// A `twin` command with a clean environment (only this world's folders and no TWIN_*
    /// variables), stdin not a terminal, and no `--vault`.
    pub fn bare(&self) -> StdCommand {
        let mut c = StdCommand::new(twin_bin());
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.home())
            .env("XDG_DATA_HOME", self.xdg_data())
            .env("XDG_CACHE_HOME", self.xdg_cache())
            .env("XDG_CONFIG_HOME", self.root().join("home/.config"))
            .env("TMPDIR", self.tmpdir())
            .env("LC_ALL", "C.UTF-8")
            .current_dir(self.root())
            .stdin(Stdio::null());
        c
    }

    /// A `twin --vault DIR` command with TWIN_PASSPHRASE set to `self.pass`.
    pub fn cmd(&self) -> StdCommand {
        let mut c = self.bare();
        c.arg("--vault")
            .arg(&self.vault)
            .env("TWIN_PASSPHRASE", &self.pass);
        c
    }

    /// Runs a prepared command, with `stdin` written to it if given.
    pub fn exec(&self, cmd: StdCommand, stdin: Option<&str>) -> Out {
        let what = format!(
            "`twin {}`",
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut c = assert_cmd::Command::from_std(cmd);
        if let Some(s) = stdin {
            c.write_stdin(s.to_owned());
        }
        // Retried: another build sharing target/ may be replacing the binary right now.
        let mut tries = 0;
        let o = loop {
            match c.output() {
                Ok(o) => break o,
                Err(e) if tries < 20 => {
                    tries += 1;
                    eprintln!("{what}: could not start ({e}); retrying");
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
                Err(e) => panic!("{what}: could not start {}: {e}", twin_bin().display()),
            }
        };
        Out {
            what,
            status: o.status,
            stdout: String::from_utf8(o.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(o.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Runs `twin --vault DIR ARGS…` with TWIN_PASSPHRASE.
    pub fn run(&self, args: &[&str]) -> Out {
        let mut c = self.cmd();
        c.args(args);
        self.exec(c, None)
    }

    /// Runs with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = self.cmd();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        self.exec(c, None)
    }

    /// Runs with `--passphrase-stdin` and `stdin`, without TWIN_PASSPHRASE.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        let mut c = self.bare();
        c.arg("--vault")
            .arg(&self.vault)
            .arg("--passphrase-stdin")
            .args(args);
        self.exec(c, Some(stdin))
    }

    /// Runs and asserts success with nothing on stderr.
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_success(&out);
        out
    }

    /// Runs and asserts the failure contract with `code`; returns the stderr line.
    pub fn fails(&self, args: &[&str], code: &str) -> String {
        self.run(args).fails_with(code).to_owned()
    }

    /// `twin init --yes`; returns the recovery code it printed.
    pub fn init(&self) -> String {
        let out = self.ok(&["init", "--yes"]);
        recovery_code_in(&out.stdout)
            .unwrap_or_else(|| panic!("init printed no recovery code:\n{}", out.stdout))
    }

    /// The field's current value (`twin get PATH --json`), `None` if empty.
    pub fn get(&self, path: &str) -> Option<Value> {
        let v = self.ok(&["get", path, "--json"]).json();
        assert_eq!(v["path"], path);
        match &v["value"] {
            Value::Null => None,
            other => Some(other.clone()),
        }
    }

    /// The field's text value.
    pub fn get_str(&self, path: &str) -> Option<String> {
        self.get(path)
            .map(|v| v.as_str().expect("a text field").to_owned())
    }

    /// `twin status --json` (no passphrase).
    pub fn status(&self) -> Value {
        self.ok(&["status", "--json"]).json()
    }

    /// The current database file, from `status --json`.
    pub fn database(&self) -> PathBuf {
        PathBuf::from(
            self.status()["database"]
                .as_str()
                .expect("status names the database"),
        )
    }

    /// `twin audit --json`.
    pub fn audit(&self) -> Vec<Value> {
        match self.ok(&["audit", "--json"]).json() {
            Value::Array(a) => a,
            other => panic!("audit --json is not a list: {other}"),
        }
    }

    /// Asserts `twin audit verify --json` finds the log whole and never cut short.
    pub fn assert_audit_intact(&self) {
        let r = self.ok(&["audit", "verify", "--json"]).json();
        assert_eq!(r["first_broken"], Value::Null, "audit chain broken: {r}");
        assert_eq!(r["cut_short"], serde_json::json!([]), "audit log cut: {r}");
        assert!(r["entries"].as_u64().unwrap_or(0) >= 1, "{r}");
    }
}

/// Asserts exit 0 and an empty stderr.
pub fn assert_success(out: &Out) {
    assert!(
        out.status.success(),
        "{} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.what,
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.is_empty(),
        "{} succeeded but wrote to stderr: {}",
        out.what,
        out.stderr
    );
}

/// The first `XXXXX-XXXXX-…` (8 groups of 5 letters or digits) in `text`.
pub fn recovery_code_in(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| {
            let groups: Vec<&str> = w.split('-').collect();
            groups.len() == 8
                && groups
                    .iter()
                    .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_alphanumeric()))
        })
        .map(str::to_owned)
}

/// Every regular file under `dir` (recursively), with its bytes.
pub fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                let bytes = fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
                out.insert(p, bytes);
            }
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Random bytes from the operating system, as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("/dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The names of the files directly in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
