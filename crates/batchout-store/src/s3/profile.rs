//! The AWS shared config and credentials files (`~/.aws/config`,
//! `~/.aws/credentials`, or the files `AWS_CONFIG_FILE` and
//! `AWS_SHARED_CREDENTIALS_FILE` name), read as the AWS CLI reads them: INI
//! sections, `[NAME]` in the credentials file and `[profile NAME]` in the
//! config file (`[default]` in both), nested settings left out.

use std::path::PathBuf;

use crate::EnvLookup;

/// One profile of the shared config and credentials files: its settings in
/// each.
#[derive(Debug, Default, Clone)]
pub(crate) struct Profile {
    /// Its name (`default` when none is given).
    pub(crate) name: String,
    /// The credentials file read.
    pub(crate) credentials_file: PathBuf,
    /// The config file read.
    pub(crate) config_file: PathBuf,
    /// Its section of the credentials file.
    credentials: Vec<(String, String)>,
    /// Its section of the config file.
    config: Vec<(String, String)>,
}

impl Profile {
    /// The profile `AWS_PROFILE` names (else `default`), from the files the
    /// variables name (else `~/.aws/credentials` and `~/.aws/config`). A
    /// file that does not exist has no profiles.
    pub(crate) fn load(env: EnvLookup<'_>) -> std::result::Result<Self, String> {
        let named = env("AWS_PROFILE").or_else(|| env("AWS_DEFAULT_PROFILE"));
        let explicit = named.is_some();
        let name = named.unwrap_or_else(|| "default".to_owned());
        let profile = Self::named(env, &name)?;
        if explicit && !profile.exists() {
            return Err(format!(
                "the profile {name} (AWS_PROFILE) is in neither {} nor {}",
                profile.credentials_file.display(),
                profile.config_file.display()
            ));
        }
        Ok(profile)
    }

    /// The profile `name`, empty when the files do not have it.
    pub(crate) fn named(env: EnvLookup<'_>, name: &str) -> std::result::Result<Self, String> {
        let home = env("HOME").map(PathBuf::from).unwrap_or_default();
        let credentials_file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map_or_else(|| home.join(".aws/credentials"), PathBuf::from);
        let config_file =
            env("AWS_CONFIG_FILE").map_or_else(|| home.join(".aws/config"), PathBuf::from);
        let read = |path: &PathBuf| match std::fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        };
        let credentials = section(&read(&credentials_file)?, name);
        let config_name = if name == "default" {
            "default".to_owned()
        } else {
            format!("profile {name}")
        };
        let config = section(&read(&config_file)?, &config_name);
        Ok(Self {
            name: name.to_owned(),
            credentials_file,
            config_file,
            credentials,
            config,
        })
    }

    /// The settings of another section of the config file (`sso-session
    /// NAME`), empty when it has none.
    pub(crate) fn config_section(&self, header: &str) -> std::result::Result<Settings, String> {
        let text = match std::fs::read_to_string(&self.config_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", self.config_file.display())),
        };
        Ok(Settings(section(&text, header)))
    }

    /// Whether either file has a section for it.
    pub(crate) fn exists(&self) -> bool {
        !self.credentials.is_empty() || !self.config.is_empty()
    }

    /// A setting of the credentials file's section, else of the config's.
    pub(crate) fn credential(&self, key: &str) -> Option<String> {
        lookup(&self.credentials, key).or_else(|| self.config(key))
    }

    /// A setting of the config file's section.
    pub(crate) fn config(&self, key: &str) -> Option<String> {
        lookup(&self.config, key)
    }
}

/// The settings of one section.
#[derive(Debug, Default, Clone)]
pub(crate) struct Settings(Vec<(String, String)>);

impl Settings {
    /// A setting, if set and not empty.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        lookup(&self.0, key)
    }
}

fn lookup(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// The `key = value` settings of the INI section `[name]` (all of its
/// occurrences, in order), comments and nested settings left out.
fn section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let header = header.split(']').next().unwrap_or_default();
            inside = header.split_whitespace().collect::<Vec<_>>().join(" ") == name;
            continue;
        }
        // An indented line continues a nested setting (`s3 =` then its own
        // lines); none of those is read.
        if !inside || line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((key, value)) = trimmed.split_once('=') {
            pairs.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    pairs
}
