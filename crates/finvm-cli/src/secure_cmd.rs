//! The secure-platform commands: `seal`, `unseal`, `grant` and `run-sealed`
//! (HOST.md §8, crate `finvm-secure`).
//!
//! Secrets come only from files, environment variables or a terminal prompt,
//! never from command-line arguments, and never appear in any output, error
//! or trace. Everything is opened before anything runs: a wrong key or a
//! tampered byte ends in `DecryptionFailed: …` with a non-zero exit, nothing
//! executed and no plaintext written.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use finvm::api::RunOptions;
use finvm_secure::{
    dbv2, grant, load_secure, run_with_inputs, seal_output, unwrap_dek, Artifacts, Dek, Envelope,
    Grant, Kdf, KeyProvider, PassphraseProvider, SecureError, Target, WalletKeyProvider,
};

use super::{guarded, internal_error, print_trace, println_out, read_text, status_json};

/// Where the secret that opens (or receives) a grant comes from. Exactly one.
#[derive(Args, Debug)]
#[group(required = false, multiple = false)]
pub struct KeySource {
    /// Read the passphrase from this file (one trailing line break is ignored).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Read the passphrase from this environment variable.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
    /// Ask for the passphrase on the terminal.
    #[arg(long)]
    passphrase_prompt: bool,
    /// Read a secp256k1 wallet private key (64 hex digits, optional 0x) from this file.
    #[arg(long, value_name = "FILE")]
    wallet_key_file: Option<PathBuf>,
}

/// How a new passphrase grant derives its key (ignored for wallet grants).
#[derive(Args, Debug)]
pub struct KdfArgs {
    /// Key-derivation function of a new passphrase grant.
    #[arg(long, value_enum, default_value_t = KdfName::Argon2id)]
    kdf: KdfName,
    /// Argon2id passes (default 3, minimum 3) or PBKDF2 iterations (default and minimum 210000).
    #[arg(long, value_name = "N")]
    kdf_iterations: Option<u32>,
    /// Argon2id memory in KiB (default and minimum 65536).
    #[arg(long, value_name = "KIB")]
    kdf_memory: Option<u32>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum KdfName {
    #[value(name = "argon2id")]
    Argon2id,
    #[value(name = "pbkdf2-sha256")]
    Pbkdf2Sha256,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TargetName {
    Program,
    Inputs,
    Db,
    Output,
}

impl From<TargetName> for Target {
    fn from(t: TargetName) -> Target {
        match t {
            TargetName::Program => Target::Program,
            TargetName::Inputs => Target::Inputs,
            TargetName::Db => Target::Db,
            TargetName::Output => Target::Output,
        }
    }
}

/// `finvm seal`: seal a file with a project's data key, creating the key and
/// its first grant with `--new-grant`.
#[derive(Args, Debug)]
pub struct SealArgs {
    /// What the file holds: a program (sealed as is), input values (a JSON
    /// object of tagless values, sealed as compact JSON), a database
    /// plaintext or an output (sealed as is).
    #[arg(long, value_enum, requires = "file")]
    target: Option<TargetName>,
    /// The plaintext file to seal (omit it with --new-grant to only create a key and grant).
    #[arg(requires = "target")]
    file: Option<PathBuf>,
    /// The project's grant, opened with the key source to get the data key.
    #[arg(long, value_name = "FILE", conflicts_with = "new_grant")]
    grant: Option<PathBuf>,
    /// Create a new data key and write its grant for the key source here (never overwritten).
    #[arg(long, value_name = "FILE")]
    new_grant: Option<PathBuf>,
    #[command(flatten)]
    key: KeySource,
    /// With --new-grant: make a wallet grant for this secp256k1 public key
    /// (hex or base64, compressed or not) instead of using a key source.
    #[arg(long, value_name = "KEY", requires = "new_grant")]
    wallet_pub: Option<String>,
    #[command(flatten)]
    kdf: KdfArgs,
    /// Write the envelope here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `finvm grant`: give another holder access to a project's data key.
#[derive(Args, Debug)]
pub struct GrantArgs {
    /// The existing grant, opened with the key source.
    #[arg(long, value_name = "FILE")]
    grant: PathBuf,
    #[command(flatten)]
    key: KeySource,
    /// Where to write the new grant (never overwritten).
    #[arg(long, value_name = "FILE")]
    new_grant: PathBuf,
    /// New holder: a passphrase read from this file.
    #[arg(long, value_name = "FILE", group = "recipient")]
    to_passphrase_file: Option<PathBuf>,
    /// New holder: a passphrase read from this environment variable.
    #[arg(long, value_name = "VAR", group = "recipient")]
    to_passphrase_env: Option<String>,
    /// New holder: a passphrase typed on the terminal.
    #[arg(long, group = "recipient")]
    to_passphrase_prompt: bool,
    /// New holder: the wallet whose private key is in this file.
    #[arg(long, value_name = "FILE", group = "recipient")]
    to_wallet_key_file: Option<PathBuf>,
    /// New holder: the wallet with this secp256k1 public key (hex or base64).
    #[arg(long, value_name = "KEY", group = "recipient")]
    to_wallet_pub: Option<String>,
    #[command(flatten)]
    kdf: KdfArgs,
}

/// `finvm unseal`: open an envelope (or a legacy v2 database bundle).
#[derive(Args, Debug)]
pub struct UnsealArgs {
    /// The envelope file.
    file: PathBuf,
    /// The project's grant (not needed for a v2 database bundle, which takes a passphrase).
    #[arg(long, value_name = "FILE")]
    grant: Option<PathBuf>,
    #[command(flatten)]
    key: KeySource,
    /// Require the envelope to be of this target.
    #[arg(long, value_enum)]
    target: Option<TargetName>,
    /// Write the plaintext here (mode 0600) instead of stdout; nothing is written on failure.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `finvm run-sealed`: open a sealed program (and inputs), then run it as
/// `finvm run` does.
#[derive(Args, Debug)]
pub struct RunSealedArgs {
    /// The program: a `program` envelope or plaintext program JSON.
    program: PathBuf,
    /// The project's grant.
    #[arg(long, value_name = "FILE")]
    grant: PathBuf,
    #[command(flatten)]
    key: KeySource,
    /// The input values: an `inputs` envelope or a plaintext JSON object.
    #[arg(long, value_name = "FILE")]
    inputs: Option<PathBuf>,
    /// Print the run's JSON document sealed as an `output` envelope instead of in plaintext.
    #[arg(long)]
    seal_output: bool,
    /// Write the document here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print the execution trace to stderr.
    #[arg(long)]
    trace: bool,
    /// Run in performance mode, whatever the program's `performanceMode` says.
    #[arg(long)]
    performance_mode: bool,
}

/// The options with which `finvm live` and `finvm replay` open sealed
/// artefacts (the key source is `run-sealed`'s).
#[derive(Args, Debug)]
pub struct OpenArgs {
    /// The project's grant: opens a sealed program, inputs and store with the key source.
    #[arg(long, value_name = "FILE")]
    grant: Option<PathBuf>,
    #[command(flatten)]
    key: KeySource,
    /// The input values: an `inputs` envelope or a plaintext JSON object (needs --grant).
    #[arg(long, value_name = "FILE", requires = "grant")]
    inputs: Option<PathBuf>,
    /// Print every document (each round and the final one) sealed as an `output` envelope (needs --grant).
    #[arg(long, requires = "grant")]
    seal_output: bool,
}

/// Artefacts opened for a live run or a replay.
pub struct Opened {
    /// The program JSON text.
    pub program: String,
    /// The input values object as JSON text (`--inputs`).
    pub inputs: Option<String>,
    /// The database plaintext of a sealed store.
    pub store: Option<String>,
    /// The data key outputs are sealed with (`--seal-output`).
    pub seal_with: Option<Dek>,
}

/// Reads and opens everything `finvm live`/`replay` needs before anything
/// runs: the program, the inputs and `sealed_store` (a `db` envelope, opened
/// with the grant's data key, or a v2 bundle, opened with the passphrase).
/// Without `--grant` or a store the program is returned as read. Errors name
/// no secret; a wrong key or a tampered byte is `DecryptionFailed: …`.
pub fn open_for_run(
    args: &OpenArgs,
    program: &Path,
    sealed_store: Option<&Path>,
) -> Result<Opened, String> {
    let program = read_text(program)?;
    let grant = args.grant.as_deref().map(read_text).transpose()?;
    let inputs = args.inputs.as_deref().map(read_text).transpose()?;
    let store = sealed_store.map(read_text).transpose()?;
    let v2 = store.as_deref().is_some_and(dbv2::is_v2_bundle);
    if store.as_deref().is_some_and(|s| !v2 && !is_envelope(s)) {
        return Err("--sealed-store must be a `db` envelope or a v2 database bundle".into());
    }
    if grant.is_none() {
        if store.is_some() && !v2 {
            return Err("a `db` envelope needs --grant".into());
        }
        if store.is_none() && provider_given(&args.key) {
            return Err("a key source needs --grant".into());
        }
    }
    if grant.is_none() && store.is_none() {
        return Ok(Opened {
            program,
            inputs: None,
            store: None,
            seal_with: None,
        });
    }
    let fail = |Failure(msg)| msg;
    // One provider for the grant and a v2 bundle: a prompt is asked once.
    let passphrase = if v2 {
        Some(
            passphrase_provider(&args.key)
                .map_err(fail)?
                .ok_or("a v2 database bundle needs a passphrase")?,
        )
    } else {
        None
    };
    let other;
    let provider: &dyn KeyProvider = match &passphrase {
        Some(p) => p,
        None => {
            other = require_provider(&args.key).map_err(fail)?;
            other.as_ref()
        }
    };
    let (program, inputs, db, dek) = match &grant {
        Some(grant) => {
            let loaded = Grant::parse(grant)
                .and_then(|grant| {
                    load_secure(
                        &grant,
                        provider,
                        Artifacts {
                            program: &program,
                            inputs: inputs.as_deref(),
                            db: store.as_deref().filter(|_| !v2),
                        },
                    )
                })
                .map_err(|e| e.to_string())?;
            (
                loaded.program_json,
                loaded.inputs_values,
                loaded.db,
                Some(loaded.dek),
            )
        }
        None => (program, None, None, None),
    };
    let store = match (&passphrase, store) {
        (Some(p), Some(bundle)) => Some(p.open_v2_db_bundle(&bundle).map_err(|e| e.to_string())?),
        _ => db,
    };
    Ok(Opened {
        program,
        inputs,
        store,
        seal_with: dek.filter(|_| args.seal_output),
    })
}

/// A passphrase source made concrete; `None` when none was given, an error
/// for a wallet key.
fn passphrase_provider(key: &KeySource) -> Result<Option<PassphraseProvider>, Failure> {
    Ok(if let Some(path) = &key.passphrase_file {
        Some(PassphraseProvider::from_file(path)?)
    } else if let Some(var) = &key.passphrase_env {
        Some(PassphraseProvider::from_env(var)?)
    } else if key.passphrase_prompt {
        Some(PassphraseProvider::prompt(false)?)
    } else {
        None
    })
}

/// A failure of a seal/unseal/grant command: printed as `Error: <message>`.
struct Failure(String);

impl From<SecureError> for Failure {
    fn from(e: SecureError) -> Self {
        Failure(e.to_string())
    }
}

impl From<finvm_secure::DecryptionFailed> for Failure {
    fn from(e: finvm_secure::DecryptionFailed) -> Self {
        Failure(e.to_string())
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure(e)
    }
}

fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "Error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// A key source made concrete; `None` when no source option was given.
fn provider(key: &KeySource, confirm: bool) -> Result<Option<Box<dyn KeyProvider>>, Failure> {
    Ok(Some(if let Some(path) = &key.passphrase_file {
        Box::new(PassphraseProvider::from_file(path)?)
    } else if let Some(var) = &key.passphrase_env {
        Box::new(PassphraseProvider::from_env(var)?)
    } else if key.passphrase_prompt {
        Box::new(PassphraseProvider::prompt(confirm)?)
    } else if let Some(path) = &key.wallet_key_file {
        Box::new(WalletKeyProvider::from_hex_file(path)?)
    } else {
        return Ok(None);
    }))
}

fn require_provider(key: &KeySource) -> Result<Box<dyn KeyProvider>, Failure> {
    provider(key, false)?.ok_or_else(|| {
        Failure(
            "a key source is required: --passphrase-file, --passphrase-env, --passphrase-prompt or --wallet-key-file"
                .into(),
        )
    })
}

fn kdf_of(args: &KdfArgs) -> Result<Kdf, Failure> {
    match args.kdf {
        KdfName::Argon2id => Ok(Kdf::Argon2id {
            iterations: args.kdf_iterations.unwrap_or(3),
            memory_kib: args.kdf_memory.unwrap_or(65536),
            parallelism: 1,
        }),
        KdfName::Pbkdf2Sha256 => {
            if args.kdf_memory.is_some() {
                return Err(Failure("--kdf-memory applies to argon2id only".into()));
            }
            Ok(Kdf::Pbkdf2Sha256 {
                iterations: args.kdf_iterations.unwrap_or(210_000),
            })
        }
    }
}

/// The holder of a new grant.
enum Recipient {
    Passphrase(PassphraseProvider),
    Wallet([u8; 33]),
}

impl Recipient {
    fn grant(&self, dek: &Dek, kdf: &KdfArgs) -> Result<Grant, Failure> {
        Ok(match self {
            Recipient::Passphrase(p) => p.create_grant(dek, kdf_of(kdf)?)?,
            Recipient::Wallet(public) => grant::create_wallet_grant(public, dek)?,
        })
    }
}

fn recipient_of_key(key: &KeySource) -> Result<Option<Recipient>, Failure> {
    Ok(if let Some(path) = &key.passphrase_file {
        Some(Recipient::Passphrase(PassphraseProvider::from_file(path)?))
    } else if let Some(var) = &key.passphrase_env {
        Some(Recipient::Passphrase(PassphraseProvider::from_env(var)?))
    } else if key.passphrase_prompt {
        Some(Recipient::Passphrase(PassphraseProvider::prompt(true)?))
    } else if let Some(path) = &key.wallet_key_file {
        Some(Recipient::Wallet(
            WalletKeyProvider::from_hex_file(path)?.public_key(),
        ))
    } else {
        None
    })
}

fn read(path: &Path) -> Result<String, Failure> {
    read_text(path).map_err(Failure)
}

fn read_grant(path: &Path) -> Result<Grant, Failure> {
    Ok(Grant::parse(&read(path)?)?)
}

/// Writes `text` plus a newline to `path` with mode 0600 on Unix. A plain
/// write goes through a temporary file renamed into place; an `exclusive`
/// one creates the file itself and refuses an existing one (a grant is
/// never replaced). A failed write leaves nothing behind.
fn write_file(path: &Path, text: &str, exclusive: bool) -> Result<(), Failure> {
    let fail =
        |e: std::io::Error| Failure(format!("cannot write '{}': {}", path.display(), e.kind()));
    if exclusive && path.exists() {
        return Err(Failure(format!(
            "'{}' exists; refusing to replace a grant (the data key it holds would be lost)",
            path.display()
        )));
    }
    let target = if exclusive {
        path.to_path_buf()
    } else {
        let name = path
            .file_name()
            .ok_or_else(|| Failure(format!("'{}' is not a file path", path.display())))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => dir.join(tmp_name),
            None => PathBuf::from(tmp_name),
        }
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&target).map_err(fail)?;
    let result = file
        .write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            if exclusive {
                Ok(())
            } else {
                fs::rename(&target, path)
            }
        });
    if result.is_err() {
        let _ = fs::remove_file(&target);
    }
    result.map_err(fail)
}

fn emit(output: Option<&Path>, text: &str) -> Result<(), Failure> {
    match output {
        Some(path) => write_file(path, text, false),
        None => {
            println_out(text);
            Ok(())
        }
    }
}

fn is_envelope(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|j| Envelope::from_json(&j))
        .is_some()
}

/// The plaintext an envelope of `target` holds, from the file's text.
fn plaintext_for(target: Target, text: &str) -> Result<String, Failure> {
    if is_envelope(text) {
        return Err(Failure("the file is already sealed".into()));
    }
    match target {
        Target::Inputs => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v @ serde_json::Value::Object(_)) => Ok(v.to_string()),
            _ => Err(Failure(
                "inputs must be a JSON object of tagless values, e.g. {\"x\":{\"int\":\"42\"}}"
                    .into(),
            )),
        },
        _ => Ok(text.to_string()),
    }
}

/// `finvm seal`.
pub fn seal(args: SealArgs) -> ExitCode {
    finish(seal_inner(args))
}

fn seal_inner(args: SealArgs) -> Result<(), Failure> {
    // Read the plaintext first: no key is created for a file that cannot be sealed.
    let plaintext = match (&args.target, &args.file) {
        (Some(target), Some(file)) => Some((
            Target::from(*target),
            plaintext_for((*target).into(), &read(file)?)?,
        )),
        _ => None,
    };
    let dek = if let Some(path) = &args.new_grant {
        let recipient = match &args.wallet_pub {
            Some(public) => {
                if provider_given(&args.key) {
                    return Err(Failure(
                        "--wallet-pub and a key source cannot be combined".into(),
                    ));
                }
                Recipient::Wallet(grant::parse_public_key(public)?)
            }
            None => recipient_of_key(&args.key)?.ok_or_else(|| {
                Failure("--new-grant needs a key source or --wallet-pub for the new grant".into())
            })?,
        };
        if path.exists() {
            return Err(Failure(format!(
                "'{}' exists; refusing to replace a grant (the data key it holds would be lost)",
                path.display()
            )));
        }
        let dek = Dek::generate();
        let grant = recipient.grant(&dek, &args.kdf)?;
        write_file(path, &grant.to_json(), true)?;
        dek
    } else if let Some(path) = &args.grant {
        let grant = read_grant(path)?;
        unwrap_dek(&grant, require_provider(&args.key)?.as_ref())?
    } else {
        return Err(Failure("either --grant or --new-grant is required".into()));
    };
    match plaintext {
        Some((target, text)) => {
            let env = Envelope::seal(&dek, target, text.as_bytes());
            emit(args.output.as_deref(), &env.to_json())
        }
        None => Ok(()),
    }
}

fn provider_given(key: &KeySource) -> bool {
    key.passphrase_file.is_some()
        || key.passphrase_env.is_some()
        || key.passphrase_prompt
        || key.wallet_key_file.is_some()
}

/// `finvm grant`.
pub fn add_grant(args: GrantArgs) -> ExitCode {
    finish(add_grant_inner(args))
}

fn add_grant_inner(args: GrantArgs) -> Result<(), Failure> {
    let existing = read_grant(&args.grant)?;
    if args.new_grant.exists() {
        return Err(Failure(format!(
            "'{}' exists; refusing to replace a grant (the data key it holds would be lost)",
            args.new_grant.display()
        )));
    }
    let dek = unwrap_dek(&existing, require_provider(&args.key)?.as_ref())?;
    let recipient = if let Some(path) = &args.to_passphrase_file {
        Recipient::Passphrase(PassphraseProvider::from_file(path)?)
    } else if let Some(var) = &args.to_passphrase_env {
        Recipient::Passphrase(PassphraseProvider::from_env(var)?)
    } else if args.to_passphrase_prompt {
        Recipient::Passphrase(PassphraseProvider::prompt(true)?)
    } else if let Some(path) = &args.to_wallet_key_file {
        Recipient::Wallet(WalletKeyProvider::from_hex_file(path)?.public_key())
    } else if let Some(public) = &args.to_wallet_pub {
        Recipient::Wallet(grant::parse_public_key(public)?)
    } else {
        return Err(Failure(
            "a new holder is required: --to-passphrase-file, --to-passphrase-env, --to-passphrase-prompt, --to-wallet-key-file or --to-wallet-pub"
                .into(),
        ));
    };
    let grant = recipient.grant(&dek, &args.kdf)?;
    write_file(&args.new_grant, &grant.to_json(), true)
}

/// `finvm unseal`.
pub fn unseal(args: UnsealArgs) -> ExitCode {
    finish(unseal_inner(args))
}

fn unseal_inner(args: UnsealArgs) -> Result<(), Failure> {
    let text = read(&args.file)?;
    let plaintext = if dbv2::is_v2_bundle(&text) && args.grant.is_none() {
        if args.target.is_some_and(|t| !matches!(t, TargetName::Db)) {
            return Err(Failure(
                "DecryptionFailed: a v2 bundle is a database bundle".into(),
            ));
        }
        let passphrase = passphrase_provider(&args.key)?
            .ok_or_else(|| Failure("a v2 database bundle needs a passphrase".into()))?;
        passphrase.open_v2_db_bundle(&text)?
    } else {
        let grant_path = args
            .grant
            .as_ref()
            .ok_or_else(|| Failure("--grant is required".into()))?;
        let grant = read_grant(grant_path)?;
        // The envelope must at least be one before any key work.
        let env = Envelope::parse(&text)?;
        let dek = unwrap_dek(&grant, require_provider(&args.key)?.as_ref())?;
        match args.target {
            Some(t) => env.open_as(&dek, t.into())?,
            None => env.open(&dek)?,
        }
    };
    match &args.output {
        Some(path) => write_file(path, &plaintext, false),
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out
                .write_all(plaintext.as_bytes())
                .and_then(|()| out.flush());
            Ok(())
        }
    }
}

/// `finvm run-sealed`.
pub fn run_sealed(args: RunSealedArgs) -> ExitCode {
    let error_doc = |msg: String| {
        println_out(&status_json("error", &msg));
        ExitCode::FAILURE
    };
    let read_all = || -> Result<(String, String, Option<String>), String> {
        Ok((
            read_text(&args.program)?,
            read_text(&args.grant)?,
            args.inputs.as_deref().map(read_text).transpose()?,
        ))
    };
    let (program, grant_text, inputs) = match read_all() {
        Ok(files) => files,
        Err(msg) => return error_doc(msg),
    };
    let provider = match require_provider(&args.key) {
        Ok(p) => p,
        Err(Failure(msg)) => return error_doc(msg),
    };
    let loaded = Grant::parse(&grant_text).and_then(|grant| {
        load_secure(
            &grant,
            provider.as_ref(),
            Artifacts {
                program: &program,
                inputs: inputs.as_deref(),
                db: None,
            },
        )
    });
    drop(provider);
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            // Nothing was decoded or run; there is no key to seal with.
            println_out(&status_json("failed", &e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let opts = RunOptions {
        performance_mode: args.performance_mode.then_some(true),
        collect_trace: args.trace,
    };
    let program_json = &loaded.program_json;
    let inputs_values = loaded.inputs_values.as_deref();
    let (doc, ok) = match guarded(|| run_with_inputs(program_json, inputs_values, &opts)) {
        Ok(report) => {
            if args.trace {
                print_trace(&report.trace);
            }
            (report.json, report.ok)
        }
        Err(panic_msg) => (status_json("failed", &internal_error(&panic_msg)), false),
    };
    let doc = if args.seal_output {
        seal_output(&loaded.dek, &doc).to_json()
    } else {
        doc
    };
    match emit(args.output.as_deref(), &doc) {
        Ok(()) if ok => ExitCode::SUCCESS,
        Ok(()) => ExitCode::FAILURE,
        Err(Failure(msg)) => error_doc(msg),
    }
}
