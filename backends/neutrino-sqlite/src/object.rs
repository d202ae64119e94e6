//! [`LocalObjectStore`]: the object-store port over a folder.
//!
//! Each object is one file in the bucket folder, written to a temporary file and
//! renamed into place, so a reader sees the old object or the new one and a crash
//! leaves no half-written object. The file name is the key percent-encoded
//! (everything but `A-Za-z0-9-_.`), so no key can name a path outside the folder
//! or collide with another key's file; keys whose encoding would be too long for
//! a file name are stored under the SHA-256 of the key. A file holds a small
//! header (the key, content type and metadata as JSON) followed by the data.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use neutrino_core::object::{
    self, ListedObject, Object, ObjectMeta, ObjectPage, ObjectStore, PutOptions,
};
use neutrino_core::trace::{Port, port_span};
use neutrino_core::{Error, Result};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::error::io;

const BACKEND: &str = "local";
const MAGIC: &[u8; 8] = b"NNOOBJ1\n";
/// Longest encoded key used as a file name as it is (file names are limited to
/// 255 bytes on common file systems).
const MAX_PLAIN_NAME: usize = 200;
/// Prefix of temporary files; `+` is always percent-encoded in object file names.
const TMP_PREFIX: &str = "+tmp-";
/// Prefix of files named by the key's hash.
const HASH_PREFIX: &str = "+h-";

const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

#[derive(Serialize, Deserialize)]
struct Header {
    key: String,
    #[serde(
        rename = "contentType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    content_type: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// An [`ObjectStore`] over one bucket folder.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> neutrino::Result<()> {
/// use neutrino::object::{ObjectStore, PutOptions};
/// use neutrino::sqlite::LocalObjectStore;
/// let dir = tempfile::tempdir().unwrap();
/// let bucket = LocalObjectStore::open(dir.path()).await?;
/// bucket.put("avatars/u1.png", vec![1, 2, 3].into(), &PutOptions::default()).await?;
/// assert_eq!(bucket.get("avatars/u1.png").await?.data.as_ref(), &[1, 2, 3]);
/// assert!(bucket.put("../escape", vec![].into(), &PutOptions::default()).await.is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    dir: PathBuf,
    label: String,
}

fn file_name(key: &str) -> String {
    let enc = utf8_percent_encode(key, KEEP).to_string();
    if enc.len() <= MAX_PLAIN_NAME {
        enc
    } else {
        format!(
            "{HASH_PREFIX}{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    }
}

fn corrupt(path: &Path, why: &str) -> Error {
    Error::Decode {
        what: format!("object file {}", path.display()),
        reason: why.to_owned(),
    }
}

/// Reads the header of an object file; returns it, the data offset and the file.
fn read_header(path: &Path) -> std::io::Result<Option<(Header, u64, fs::File)>> {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut fixed = [0u8; 12];
    f.read_exact(&mut fixed)?;
    if &fixed[..8] != MAGIC {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "bad magic",
        ));
    }
    let len = u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]) as usize;
    let mut json = vec![0u8; len];
    f.read_exact(&mut json)?;
    let header: Header = serde_json::from_slice(&json)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(Some((header, 12 + len as u64, f)))
}

fn meta_of(header: Header, size: u64, modified: SystemTime) -> ObjectMeta {
    ObjectMeta {
        key: header.key,
        size,
        last_modified: modified,
        content_type: header.content_type,
        metadata: header.metadata,
    }
}

fn head_blocking(dir: &Path, key: &str) -> Result<ObjectMeta> {
    let path = dir.join(file_name(key));
    let (header, offset, f) = read_header(&path)
        .map_err(|e| decode_or_io(&path, e))?
        .ok_or_else(|| Error::not_found("object", key))?;
    let md = f.metadata().map_err(|e| io(BACKEND, e))?;
    let modified = md.modified().map_err(|e| io(BACKEND, e))?;
    Ok(meta_of(header, md.len().saturating_sub(offset), modified))
}

fn decode_or_io(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
            corrupt(path, &e.to_string())
        }
        _ => io(BACKEND, e),
    }
}

fn get_blocking(dir: &Path, key: &str) -> Result<Object> {
    let path = dir.join(file_name(key));
    let (header, offset, mut f) = read_header(&path)
        .map_err(|e| decode_or_io(&path, e))?
        .ok_or_else(|| Error::not_found("object", key))?;
    let md = f.metadata().map_err(|e| io(BACKEND, e))?;
    let modified = md.modified().map_err(|e| io(BACKEND, e))?;
    let mut data = Vec::with_capacity(md.len().saturating_sub(offset) as usize);
    f.read_to_end(&mut data).map_err(|e| io(BACKEND, e))?;
    let size = data.len() as u64;
    Ok(Object {
        meta: meta_of(header, size, modified),
        data: Bytes::from(data),
    })
}

fn put_blocking(dir: &Path, key: &str, data: &[u8], opts: &PutOptions) -> Result<ObjectMeta> {
    let header = Header {
        key: key.to_owned(),
        content_type: opts.content_type.clone(),
        metadata: opts.metadata.clone(),
    };
    let json = serde_json::to_vec(&header).map_err(|e| Error::backend(BACKEND, false, e))?;
    let json_len = u32::try_from(json.len())
        .map_err(|_| Error::invalid("object metadata", "header too large"))?;
    let tmp = dir.join(format!("{TMP_PREFIX}{}", neutrino_core::ids::generate_id()));
    let write = || -> std::io::Result<SystemTime> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&json_len.to_le_bytes())?;
        f.write_all(&json)?;
        f.write_all(data)?;
        f.sync_data()?;
        let modified = f.metadata()?.modified()?;
        fs::rename(&tmp, dir.join(file_name(key)))?;
        Ok(modified)
    };
    match write() {
        Ok(modified) => Ok(meta_of(header, data.len() as u64, modified)),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() {
                return Err(Error::not_found("bucket", dir.display().to_string()));
            }
            Err(io(BACKEND, e))
        }
    }
}

fn delete_blocking(dir: &Path, key: &str) -> Result<()> {
    match fs::remove_file(dir.join(file_name(key))) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(BACKEND, e)),
    }
}

fn list_blocking(
    dir: &Path,
    prefix: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<ObjectPage> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(BACKEND, e))? {
        let entry = entry.map_err(|e| io(BACKEND, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(TMP_PREFIX) {
            continue;
        }
        let key = if name.starts_with(HASH_PREFIX) {
            match read_header(&entry.path()) {
                Ok(Some((h, _, _))) => h.key,
                Ok(None) => continue, // deleted meanwhile
                Err(e) => return Err(decode_or_io(&entry.path(), e)),
            }
        } else {
            match percent_decode_str(name).decode_utf8() {
                Ok(k) => k.into_owned(),
                Err(_) => return Err(corrupt(&entry.path(), "file name is not an encoded key")),
            }
        };
        if key.starts_with(prefix) && cursor.is_none_or(|c| key.as_str() > c) {
            found.push((key, entry.path()));
        }
    }
    found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let more = found.len() > limit;
    found.truncate(limit);
    let mut objects = Vec::with_capacity(found.len());
    for (key, path) in found {
        match read_header(&path) {
            Ok(Some((_, offset, f))) => {
                let md = f.metadata().map_err(|e| io(BACKEND, e))?;
                objects.push(ListedObject {
                    key,
                    size: md.len().saturating_sub(offset),
                    last_modified: md.modified().map_err(|e| io(BACKEND, e))?,
                });
            }
            Ok(None) => {} // deleted meanwhile
            Err(e) => return Err(decode_or_io(&path, e)),
        }
    }
    let cursor = if more {
        objects.last().map(|o| o.key.clone())
    } else {
        None
    };
    Ok(ObjectPage { objects, cursor })
}

impl LocalObjectStore {
    /// The bucket stored in folder `dir`, which must exist.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        let d = dir.clone();
        let is_dir = blocking(move || Ok(d.is_dir())).await?;
        if !is_dir {
            return Err(Error::not_found("bucket", dir.display().to_string()));
        }
        let label = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self { dir, label })
    }

    fn span(&self, op: &'static str) -> tracing::Span {
        port_span(Port::Object, BACKEND, op, &self.label)
    }
}

/// Runs blocking file I/O on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::backend(BACKEND, false, e))?
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put(&self, key: &str, data: Bytes, opts: &PutOptions) -> Result<ObjectMeta> {
        object::validate_key(key)?;
        opts.validate()?;
        let (dir, key, opts) = (self.dir.clone(), key.to_owned(), opts.clone());
        blocking(move || put_blocking(&dir, &key, &data, &opts))
            .instrument(self.span("put"))
            .await
    }

    async fn get(&self, key: &str) -> Result<Object> {
        object::validate_key(key)?;
        let (dir, key) = (self.dir.clone(), key.to_owned());
        blocking(move || get_blocking(&dir, &key))
            .instrument(self.span("get"))
            .await
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        object::validate_key(key)?;
        let (dir, key) = (self.dir.clone(), key.to_owned());
        blocking(move || head_blocking(&dir, &key))
            .instrument(self.span("head"))
            .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        object::validate_key(key)?;
        let (dir, key) = (self.dir.clone(), key.to_owned());
        blocking(move || delete_blocking(&dir, &key))
            .instrument(self.span("delete"))
            .await
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ObjectPage> {
        object::validate_list(prefix, limit)?;
        let (dir, prefix, cursor) = (
            self.dir.clone(),
            prefix.to_owned(),
            cursor.map(str::to_owned),
        );
        blocking(move || list_blocking(&dir, &prefix, cursor.as_deref(), limit))
            .instrument(self.span("list"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape_or_collide() {
        assert_eq!(file_name("a/b c.txt"), "a%2Fb%20c.txt");
        assert_eq!(file_name("..."), "...");
        assert!(!file_name("+tmp-x").starts_with(TMP_PREFIX));
        assert!(!file_name("+h-x").starts_with(HASH_PREFIX));
        let long = "é".repeat(300);
        let n = file_name(&long);
        assert!(n.starts_with(HASH_PREFIX) && n.len() < 255, "{n}");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_a_decode_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::open(dir.path()).await.unwrap();
        std::fs::write(dir.path().join("broken"), b"not an object").unwrap();
        let e = store.get("broken").await.unwrap_err();
        assert!(matches!(e, Error::Decode { .. }), "{e:?}");
        std::fs::write(dir.path().join("short"), b"NN").unwrap();
        let e = store.head("short").await.unwrap_err();
        assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn opening_a_missing_folder_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let e = LocalObjectStore::open(dir.path().join("nope"))
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
    }
}
