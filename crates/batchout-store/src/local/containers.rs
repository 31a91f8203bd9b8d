//! Containers of the local directory store: the folders in the root, and the
//! metadata recorded on them.
//!
//! A container's metadata cannot live inside its folder, where every file is
//! a blob, so it is kept beside the containers, in
//! `<root>/.batchout-containers/<container>`: one `name=value` line per entry
//! (names are identifiers and values printable ASCII, so neither holds `=`
//! or a line break where it matters). It is written aside and renamed into
//! place, like a blob. A container name never starts with `.`, so the folder
//! is never taken for a container.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use super::LocalStore;
use super::paths::Entry;
use crate::{ContainerInfo, ContainerMetadata, ContainerName, Error, Result};

/// The folder of container metadata, below the root.
const METADATA_DIR: &str = ".batchout-containers";

impl LocalStore {
    /// Creates the container if needed, then records `metadata` on it.
    pub(super) fn create_container_with_blocking(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
    ) -> Result<bool> {
        crate::listing::check_metadata(metadata)?;
        let created = self.create_container_blocking(container)?;
        if !metadata.is_empty() {
            let mut recorded = self.metadata_of(container)?;
            let before = recorded.clone();
            recorded.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
            if recorded != before {
                self.write_metadata(container, &recorded)?;
            }
        }
        Ok(created)
    }

    /// The containers in the root, sorted, with their metadata.
    pub(super) fn list_containers_blocking(&self) -> Result<Vec<ContainerInfo>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(Error::io("list", &self.root, err)),
        };
        let mut containers = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| Error::io("list", &self.root, err))?;
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|name| ContainerName::parse(name).ok())
            else {
                continue;
            };
            // A folder, reached without a link; anything else is not a container.
            let Ok(Entry::Dir) = Entry::at(&entry.path()) else {
                continue;
            };
            let mut info = ContainerInfo::new(name);
            info.last_modified = entry.metadata().ok().and_then(|m| m.modified().ok());
            info.metadata = self.metadata_of(&info.name)?;
            containers.push(info);
        }
        containers.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(containers)
    }

    fn metadata_path(&self, container: &ContainerName) -> PathBuf {
        self.root.join(METADATA_DIR).join(container.as_str())
    }

    /// The metadata recorded on a container: none when nothing was recorded.
    /// Lines that are not `name=value` with a valid name are skipped.
    fn metadata_of(&self, container: &ContainerName) -> Result<ContainerMetadata> {
        let path = self.metadata_path(container);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok(ContainerMetadata::new());
            }
            Err(err) => return Err(Error::io("read", path, err)),
        };
        Ok(text
            .lines()
            .filter_map(|line| line.split_once('='))
            .filter(|(name, value)| {
                crate::listing::is_metadata_name(name) && crate::listing::is_metadata_value(value)
            })
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
    }

    /// Records a container's metadata whole: written aside, renamed into place.
    fn write_metadata(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
    ) -> Result<()> {
        let dir = self.root.join(METADATA_DIR);
        fs::create_dir_all(&dir).map_err(|err| Error::io("create", &dir, err))?;
        let path = self.metadata_path(container);
        let mut temp =
            tempfile::NamedTempFile::new_in(&dir).map_err(|err| Error::io("write", &dir, err))?;
        let mut text = String::new();
        for (name, value) in metadata {
            text.push_str(name);
            text.push('=');
            text.push_str(value);
            text.push('\n');
        }
        temp.write_all(text.as_bytes())
            .map_err(|err| Error::io("write", temp.path().to_owned(), err))?;
        if self.sync == Some(true) {
            temp.as_file()
                .sync_all()
                .map_err(|err| Error::io("sync", temp.path().to_owned(), err))?;
        }
        temp.persist(&path)
            .map_err(|err| Error::io("write", &path, err.error))?;
        Ok(())
    }
}
