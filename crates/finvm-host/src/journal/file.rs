//! The JSON-lines file journal.
//!
//! One record per line, appended and fsynced:
//!
//! ```text
//! {"finvmJournal":1,"run":"default","nonce":"5f0c…"}                       header
//! {"intent":0,"kind":"await_reply","pid":"main","key":"k1","type_":"http.get","payload":{…}}
//! {"index":0,"kind":"await_reply","pid":"main","key":"k1","type_":"http.get","payload":{…},"result":{…}}
//! {"retry":3}                                         operator: entry 3 was not performed
//! {"retry":3,"set":false}                             the host performs entry 3 again
//! ```
//!
//! A result line is the reference journal entry with its `index` in front,
//! so `finvm journal show` (or `jq -c 'select(.result)'`) gives the
//! reference's journal. A line is durable once `fsync` returns; a trailing
//! line without its newline was never acknowledged and is dropped (and
//! truncated away when the file is next opened for writing).
//!
//! Opened read-only, a file that starts with `[` is read as a reference
//! journal (a JSON array of entries, e.g. one the JavaScript host wrote).
//!
//! A writer holds an exclusive `flock` on the file (Unix), so two live hosts
//! cannot append to one journal.

use super::{check_dense, new_nonce, Intent, JournalError, JournalStore, OpenMode, RunInfo, Slot};
use crate::convert::json_text;
use serde_json::{Map, Value as J};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A journal in one file.
pub struct FileJournal {
    path: PathBuf,
    info: RunInfo,
    /// The open file (append mode) of a writer; `None` when read-only.
    file: Option<File>,
    /// Slots read from a reference JSON array (read-only).
    array: Option<Vec<Slot>>,
    /// A writer's view of the slots, kept current as it appends.
    slots: Vec<Slot>,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> JournalError {
    JournalError(format!("journal {}: {what}: {e}", path.display()))
}

impl FileJournal {
    /// Opens (for [`OpenMode::Write`], creating) a file journal. `run`
    /// names the run of a new file; an existing file keeps its own.
    pub fn open(
        path: &str,
        run: Option<&str>,
        mode: OpenMode,
    ) -> Result<FileJournal, JournalError> {
        let path = PathBuf::from(path);
        let exists = path.exists();
        if !exists && mode == OpenMode::Read {
            return Err(JournalError(format!(
                "journal {}: no such file",
                path.display()
            )));
        }
        if !exists {
            return Self::create(path, run.unwrap_or(super::DEFAULT_RUN));
        }
        let mut text = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut text))
            .map_err(|e| io_err(&path, "read", e))?;
        let text = String::from_utf8(text)
            .map_err(|_| JournalError(format!("journal {}: not UTF-8", path.display())))?;
        if text.trim_start().starts_with('[') {
            if mode == OpenMode::Write {
                return Err(JournalError(format!(
                    "journal {}: a reference JSON-array journal is read-only (replay it, or start a new journal)",
                    path.display()
                )));
            }
            let slots = parse_array(&text)
                .map_err(|m| JournalError(format!("journal {}: {m}", path.display())))?;
            return Ok(FileJournal {
                path,
                info: RunInfo {
                    run: run.unwrap_or(super::DEFAULT_RUN).to_string(),
                    nonce: String::new(),
                },
                file: None,
                array: Some(slots),
                slots: Vec::new(),
            });
        }
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        const HEADER_START: &str = "{\"finvmJournal\":1,";
        let torn_header = complete == 0
            && (HEADER_START.starts_with(text.as_str()) || text.starts_with(HEADER_START));
        if torn_header && mode == OpenMode::Write {
            // Not even the header line became durable (the host was killed
            // while creating the journal): nothing was recorded, start over.
            // Anything else without a complete line is not ours: refuse it.
            std::fs::remove_file(&path).map_err(|e| io_err(&path, "remove a torn journal", e))?;
            return Self::create(path, run.unwrap_or(super::DEFAULT_RUN));
        }
        let header = text[..complete].lines().next().unwrap_or("");
        let info = parse_header(header)
            .map_err(|m| JournalError(format!("journal {}: {m}", path.display())))?;
        let what = format!("journal {}", path.display());
        let mut slots = Vec::new();
        let file = if mode == OpenMode::Write {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| io_err(&path, "open", e))?;
            lock_exclusive(&f, &path)?;
            if complete < text.len() {
                // A torn last line: it was never acknowledged as durable.
                f.set_len(complete as u64)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| io_err(&path, "truncate a torn last line", e))?;
            }
            let mut f = f;
            f.seek(SeekFrom::End(0))
                .map_err(|e| io_err(&path, "seek", e))?;
            slots = parse_lines(&text, &what)?;
            Some(f)
        } else {
            None
        };
        Ok(FileJournal {
            path,
            info,
            file,
            array: None,
            slots,
        })
    }

    fn create(path: PathBuf, run: &str) -> Result<FileJournal, JournalError> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, "create", e))?;
        lock_exclusive(&f, &path)?;
        let info = RunInfo {
            run: run.to_string(),
            nonce: new_nonce(),
        };
        let mut m = Map::new();
        m.insert("finvmJournal".into(), J::from(1));
        m.insert("run".into(), J::String(info.run.clone()));
        m.insert("nonce".into(), J::String(info.nonce.clone()));
        let line = json_text(&J::Object(m)) + "\n";
        f.write_all(line.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io_err(&path, "write", e))?;
        sync_parent_dir(&path);
        Ok(FileJournal {
            path,
            info,
            file: Some(f),
            array: None,
            slots: Vec::new(),
        })
    }

    fn append(&mut self, lines: &str) -> Result<(), JournalError> {
        let path = self.path.clone();
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| JournalError(format!("journal {}: opened read-only", path.display())))?;
        f.write_all(lines.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| io_err(&path, "append", e))
    }
}

fn parse_header(line: &str) -> Result<RunInfo, String> {
    let j: J = serde_json::from_str(line).map_err(|_| "not a FinVM journal (bad header line)")?;
    let o = j
        .as_object()
        .ok_or("not a FinVM journal (bad header line)")?;
    if o.get("finvmJournal").and_then(J::as_i64) != Some(1) {
        return Err("not a FinVM journal (unknown header version)".into());
    }
    let s = |k: &str| {
        o.get(k)
            .and_then(J::as_str)
            .map(str::to_string)
            .ok_or(format!("journal header lacks '{k}'"))
    };
    Ok(RunInfo {
        run: s("run")?,
        nonce: s("nonce")?,
    })
}

fn parse_array(text: &str) -> Result<Vec<Slot>, String> {
    let j: J = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let items = j.as_array().ok_or("a journal must be an array")?;
    items
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let o = e.as_object().ok_or(format!("entry {i} is not an object"))?;
            Ok(Slot {
                index: i as u64,
                intent: Intent::from_members(o).map_err(|m| format!("entry {i}: {m}"))?,
                result: Some(o.get("result").cloned().unwrap_or(J::Null)),
                retry: false,
            })
        })
        .collect()
}

fn index_of(o: &Map<String, J>, key: &str) -> Option<u64> {
    o.get(key).and_then(J::as_u64)
}

/// Replays the record lines (after the header) into slots.
fn parse_lines(text: &str, what: &str) -> Result<Vec<Slot>, JournalError> {
    let mut slots: Vec<Slot> = Vec::new();
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    for (n, line) in text[..complete].lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: &str| JournalError(format!("{what}: line {}: {m}", n + 1));
        let j: J = serde_json::from_str(line).map_err(|e| bad(&format!("invalid JSON: {e}")))?;
        let o = j.as_object().ok_or_else(|| bad("not an object"))?;
        if let Some(i) = index_of(o, "intent") {
            if i != slots.len() as u64 {
                return Err(bad(&format!(
                    "intent {i} out of order (expected {})",
                    slots.len()
                )));
            }
            slots.push(Slot {
                index: i,
                intent: Intent::from_members(o).map_err(|m| bad(&m))?,
                result: None,
                retry: false,
            });
        } else if let Some(i) = index_of(o, "index") {
            let intent = Intent::from_members(o).map_err(|m| bad(&m))?;
            let result = o.get("result").cloned().unwrap_or(J::Null);
            if i == slots.len() as u64 {
                slots.push(Slot {
                    index: i,
                    intent,
                    result: Some(result),
                    retry: false,
                });
            } else {
                let s = slots
                    .get_mut(i as usize)
                    .ok_or_else(|| bad(&format!("entry {i} has no intent")))?;
                if s.intent != intent {
                    return Err(bad(&format!("entry {i} does not match its intent")));
                }
                s.result = Some(result);
                s.retry = false;
            }
        } else if let Some(i) = index_of(o, "retry") {
            let set = o.get("set").and_then(J::as_bool).unwrap_or(true);
            match slots.get_mut(i as usize) {
                Some(s) if s.result.is_none() => s.retry = set,
                _ => {
                    return Err(bad(&format!(
                        "retry mark for entry {i}, which is not in doubt"
                    )))
                }
            }
        } else {
            return Err(bad("unknown record"));
        }
    }
    check_dense(&slots, what)?;
    Ok(slots)
}

impl JournalStore for FileJournal {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn load(&mut self) -> Result<Vec<Slot>, JournalError> {
        if let Some(a) = &self.array {
            return Ok(a.clone());
        }
        if self.file.is_some() {
            return Ok(self.slots.clone());
        }
        let mut text = String::new();
        File::open(&self.path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(|e| io_err(&self.path, "read", e))?;
        parse_lines(&text, &format!("journal {}", self.path.display()))
    }

    fn record_intents(&mut self, first: u64, intents: &[Intent]) -> Result<(), JournalError> {
        if first != self.slots.len() as u64 {
            return Err(JournalError(format!(
                "journal: intent {first} out of order (next is {})",
                self.slots.len()
            )));
        }
        let mut s = String::new();
        for (i, intent) in intents.iter().enumerate() {
            let mut m = Map::new();
            m.insert("intent".into(), J::from(first + i as u64));
            m.extend(intent.members());
            s.push_str(&json_text(&J::Object(m)));
            s.push('\n');
        }
        self.append(&s)?;
        for (i, intent) in intents.iter().enumerate() {
            self.slots.push(Slot {
                index: first + i as u64,
                intent: intent.clone(),
                result: None,
                retry: false,
            });
        }
        Ok(())
    }

    fn record_results(&mut self, results: &[(u64, J)]) -> Result<(), JournalError> {
        // The entry line repeats the intent so that it is a complete
        // reference entry on its own.
        let mut s = String::new();
        for (index, result) in results {
            let slot = self
                .slots
                .get(*index as usize)
                .ok_or_else(|| JournalError(format!("journal: no intent recorded at {index}")))?;
            if slot.result.is_some() {
                return Err(JournalError(format!(
                    "journal: entry {index} already has a result"
                )));
            }
            let mut m = Map::new();
            m.insert("index".into(), J::from(*index));
            m.extend(slot.intent.members());
            m.insert("result".into(), result.clone());
            s.push_str(&json_text(&J::Object(m)));
            s.push('\n');
        }
        self.append(&s)?;
        for (index, result) in results {
            let slot = &mut self.slots[*index as usize];
            slot.result = Some(result.clone());
            slot.retry = false;
        }
        Ok(())
    }

    fn set_retry(&mut self, index: u64, retry: bool) -> Result<(), JournalError> {
        match self.slots.get(index as usize) {
            Some(s) if s.result.is_none() => {}
            _ => {
                return Err(JournalError(format!(
                    "journal: entry {index} is not in doubt"
                )))
            }
        }
        if retry {
            self.append(&format!("{{\"retry\":{index}}}\n"))?;
        } else {
            self.append(&format!("{{\"retry\":{index},\"set\":false}}\n"))?;
        }
        self.slots[index as usize].retry = retry;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

#[cfg(unix)]
fn lock_exclusive(f: &File, path: &Path) -> Result<(), JournalError> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(JournalError(format!(
            "journal {}: in use by another host (cannot lock it)",
            path.display()
        )))
    }
}

#[cfg(not(unix))]
fn lock_exclusive(_f: &File, _path: &Path) -> Result<(), JournalError> {
    Ok(())
}

/// Makes a newly created file's directory entry durable.
pub(crate) fn sync_parent_dir(path: &Path) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host killed while writing the journal's header line leaves a file
    /// with no complete line; reopening it for writing starts a fresh journal
    /// instead of failing (found by the SIGKILL crash test).
    #[test]
    fn regression_crash_torn_header_line() {
        let dir = std::env::temp_dir().join(format!("finvm-torn-header-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.jsonl");
        std::fs::write(&path, b"{\"finvmJournal\":1,\"ru").unwrap();
        let p = path.to_str().unwrap();
        let j =
            FileJournal::open(p, Some("r1"), OpenMode::Write).expect("a torn header starts over");
        assert_eq!(j.info.run, "r1");
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"finvmJournal\":1") && text.ends_with('\n'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
