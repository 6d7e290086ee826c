//! The client decrypt boundary (HOST.md §8.6, §8.8): unwrap the data key,
//! open the sealed artefacts, decode with the decrypted inputs, run.
//!
//! Everything is opened before anything is decoded or executed: a wrong key
//! or a tampered byte anywhere ends in `DecryptionFailed` with nothing run.

use crate::dek::Dek;
use crate::envelope::{target_mismatch, Envelope, Target};
use crate::error::DecryptionFailed;
use crate::grant::{unwrap_dek, Grant};
use crate::provider::KeyProvider;
use finvm::api::{completed_json, failed_json, run_program, trace_lines, RunOptions, RunReport};
use serde_json::{Map, Value as J};
use std::rc::Rc;

/// The artefacts of a sealed project, as stored (each is JSON text: an
/// envelope or plaintext).
#[derive(Clone, Copy, Debug, Default)]
pub struct Artifacts<'a> {
    /// The program: a `program` envelope, or plaintext program JSON.
    pub program: &'a str,
    /// The input values: an `inputs` envelope, or a plaintext values object.
    pub inputs: Option<&'a str>,
    /// A database bundle: a `db` envelope, or any other bundle text (passed through).
    pub db: Option<&'a str>,
}

/// Opened artefacts.
#[derive(Debug)]
pub struct Loaded {
    /// The program JSON text.
    pub program_json: String,
    /// The input values object as JSON text, when inputs were supplied.
    pub inputs_values: Option<String>,
    /// The database plaintext (a `db` envelope opened) or the bundle as given.
    pub db: Option<String>,
    /// The project's data key (to seal outputs).
    pub dek: Dek,
}

/// True when `text` is a `program` envelope (the reference's `isSealedProgram`).
pub fn is_sealed_program(text: &str) -> bool {
    serde_json::from_str::<J>(text)
        .ok()
        .and_then(|j| Envelope::from_json(&j))
        .is_some_and(|e| e.target == Target::Program.as_str())
}

fn envelope_of(text: &str) -> Option<Envelope> {
    serde_json::from_str::<J>(text)
        .ok()
        .and_then(|j| Envelope::from_json(&j))
}

/// Opens an artefact that must be of `target` if it is an envelope; plain
/// text is returned as it is.
fn open_artifact(dek: &Dek, text: &str, target: Target) -> Result<String, DecryptionFailed> {
    match envelope_of(text) {
        Some(env) => env.open_as(dek, target),
        None => Ok(text.to_string()),
    }
}

/// The reference's `loadSecure`: unwraps the data key with the grant and the
/// provider, then opens the program (`Program envelope target mismatch` for
/// an envelope of another role), the inputs and the database.
///
/// Unlike the reference, an envelope of another role given as inputs is
/// refused (`Inputs envelope target mismatch`) instead of being taken as
/// plaintext values, and a `db` envelope is opened here, before anything runs.
pub fn load_secure(
    grant: &Grant,
    provider: &dyn KeyProvider,
    artifacts: Artifacts<'_>,
) -> Result<Loaded, DecryptionFailed> {
    let dek = unwrap_dek(grant, provider)?;
    let program_json = open_artifact(&dek, artifacts.program, Target::Program)?;
    let inputs_values = artifacts
        .inputs
        .map(|t| open_artifact(&dek, t, Target::Inputs))
        .transpose()?;
    let db = artifacts
        .db
        .map(|t| match envelope_of(t) {
            Some(env) if env.target != Target::Db.as_str() => Err(target_mismatch(Target::Db)),
            Some(env) => env.open(&dek),
            None => Ok(t.to_string()),
        })
        .transpose()?;
    Ok(Loaded {
        program_json,
        inputs_values,
        db,
        dek,
    })
}

/// Runs a program with already-decrypted input values, as `finvm run` would
/// run the program with its `inputs.values` replaced (the reference's
/// `loadAndDecodeProgram` + `runJsonProgramResult`): a program without an
/// `inputs` key gets `{"schema":[],"values":{}}` first, so values it does not
/// declare are reported as unknown input fields.
pub fn run_with_inputs(
    program_json: &str,
    inputs_values: Option<&str>,
    opts: &RunOptions,
) -> RunReport {
    let failed = |e: String| RunReport {
        json: failed_json(&e),
        ok: false,
        trace: Vec::new(),
    };
    let mut root = match finvm::decode::parse_json(program_json) {
        Ok(root) => root,
        Err(e) => return failed(e),
    };
    if inputs_values.is_some() {
        if let Some(obj) = root.as_object_mut() {
            if !obj.contains_key("inputs") {
                let mut inputs = Map::new();
                inputs.insert("schema".into(), J::Array(Vec::new()));
                inputs.insert("values".into(), J::Object(Map::new()));
                obj.insert("inputs".into(), J::Object(inputs));
            }
        }
    }
    let program = match finvm::decode::decode_program_json(&root, inputs_values)
        .and_then(|doc| finvm::validate::compile(doc).map_err(|e| e.to_string()))
    {
        Ok(p) => Rc::new(p),
        Err(e) => return failed(e),
    };
    let out = run_program(program, opts);
    let trace = out.machine.as_ref().map(trace_lines).unwrap_or_default();
    match (&out.result, &out.machine) {
        (Ok(()), Some(m)) => RunReport {
            json: completed_json(m),
            ok: true,
            trace,
        },
        (Err(e), _) => RunReport {
            json: failed_json(e),
            ok: false,
            trace,
        },
        (Ok(()), None) => RunReport {
            json: failed_json("InternalError: a completed run has no machine"),
            ok: false,
            trace,
        },
    }
}

/// The outcome of [`run_sealed`].
#[derive(Debug)]
pub struct SealedRun {
    /// The run document (`{"status":"failed","error":"DecryptionFailed: …"}`
    /// when opening failed; nothing ran then).
    pub report: RunReport,
    /// The data key, when it could be unwrapped (to seal the output).
    pub dek: Option<Dek>,
}

/// The reference's `runSealedProgram` (non-live): open everything, then
/// decode and run. A `DecryptionFailed` becomes a failed run document and
/// nothing is executed.
pub fn run_sealed(
    grant: &Grant,
    provider: &dyn KeyProvider,
    artifacts: Artifacts<'_>,
    opts: &RunOptions,
) -> SealedRun {
    match load_secure(grant, provider, artifacts) {
        Ok(loaded) => SealedRun {
            report: run_with_inputs(&loaded.program_json, loaded.inputs_values.as_deref(), opts),
            dek: Some(loaded.dek),
        },
        Err(e) => SealedRun {
            report: RunReport {
                json: failed_json(&e.to_string()),
                ok: false,
                trace: Vec::new(),
            },
            dek: None,
        },
    }
}

/// Seals a run's output (a string payload as it is) as an `output` envelope.
pub fn seal_output(dek: &Dek, payload: &str) -> Envelope {
    Envelope::seal(dek, Target::Output, payload.as_bytes())
}

/// Seals a project's artefacts (the reference's `sealArtifacts`): the program
/// text as is, the input values as compact JSON, the database plaintext as is.
pub fn seal_artifacts(
    dek: &Dek,
    program_json: &str,
    inputs_values: Option<&Map<String, J>>,
    db_plaintext: Option<&str>,
) -> (Envelope, Option<Envelope>, Option<Envelope>) {
    (
        Envelope::seal(dek, Target::Program, program_json.as_bytes()),
        inputs_values.map(|v| {
            let text = serde_json::to_string(v).expect("JSON serialises");
            Envelope::seal(dek, Target::Inputs, text.as_bytes())
        }),
        db_plaintext.map(|d| Envelope::seal(dek, Target::Db, d.as_bytes())),
    )
}
