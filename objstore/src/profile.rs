//! The AWS shared files: static keys of a profile in `~/.aws/credentials`
//! and its region in `~/.aws/config`. Only what `object_store` does not read
//! itself: SSO, `credential_process` and role chaining are not supported
//! (use the environment variables, or web identity / instance roles).

use std::io;
use std::path::PathBuf;

pub(crate) struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn profile_name() -> String {
    env("AWS_PROFILE").unwrap_or_else(|| "default".into())
}

fn aws_file(var: &str, name: &str) -> Option<PathBuf> {
    env(var).map(PathBuf::from).or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws").join(name)))
}

/// The `key = value` pairs of section `section` of an INI text.
fn section(text: &str, section: &str) -> Option<Vec<(String, String)>> {
    let mut found = None;
    let mut cur: Option<bool> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let here = name.trim() == section;
            if here {
                found.get_or_insert_with(Vec::new);
            }
            cur = Some(here);
            continue;
        }
        if cur == Some(true) {
            if let Some((k, v)) = line.split_once('=') {
                found.get_or_insert_with(Vec::new).push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    found
}

fn read(path: &PathBuf) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))),
    }
}

fn get(kv: &[(String, String)], k: &str) -> Option<String> {
    kv.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
}

pub(crate) fn credentials() -> io::Result<Option<Credentials>> {
    let Some(path) = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials") else { return Ok(None) };
    let Some(text) = read(&path)? else { return Ok(None) };
    Ok(parse_credentials(&text, &profile_name()))
}

fn parse_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let kv = section(text, profile)?;
    Some(Credentials {
        access_key_id: get(&kv, "aws_access_key_id")?,
        secret_access_key: get(&kv, "aws_secret_access_key")?,
        session_token: get(&kv, "aws_session_token"),
    })
}

pub(crate) fn region() -> io::Result<Option<String>> {
    let Some(path) = aws_file("AWS_CONFIG_FILE", "config") else { return Ok(None) };
    let Some(text) = read(&path)? else { return Ok(None) };
    Ok(parse_region(&text, &profile_name()))
}

fn parse_region(text: &str, profile: &str) -> Option<String> {
    // `[default]`, but `[profile NAME]` for the others.
    let name = if profile == "default" { "default".to_string() } else { format!("profile {profile}") };
    get(&section(text, &name)?, "region")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_the_shared_files() {
        let creds = "[default]\naws_access_key_id = AK1\naws_secret_access_key=S1\n\n# note\n[work]\naws_access_key_id = AK2\naws_secret_access_key = S2\naws_session_token = T2\n[partial]\naws_access_key_id = AK3\n";
        let d = parse_credentials(creds, "default").unwrap();
        assert_eq!((d.access_key_id.as_str(), d.secret_access_key.as_str(), d.session_token), ("AK1", "S1", None));
        let w = parse_credentials(creds, "work").unwrap();
        assert_eq!((w.access_key_id.as_str(), w.session_token.as_deref()), ("AK2", Some("T2")));
        assert!(parse_credentials(creds, "partial").is_none(), "a profile without a secret is not used");
        assert!(parse_credentials(creds, "missing").is_none());
        let config = "[default]\nregion = eu-west-1\n[profile work]\nregion = us-west-2\n";
        assert_eq!(parse_region(config, "default").as_deref(), Some("eu-west-1"));
        assert_eq!(parse_region(config, "work").as_deref(), Some("us-west-2"));
        assert_eq!(parse_region(config, "other"), None);
    }
}
