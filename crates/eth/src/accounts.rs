//! The node's Ethereum account, as go-livepeer operators have it: a Web3 Secret Storage V3 key
//! (scrypt, the JSON geth and go-livepeer write, in `UTC--<timestamp>--<address-hex>` files) in
//! a keystore directory, chosen by `-ethAcctAddr`, unlocked with `-ethPassword`, and created on
//! first start when the keystore holds none (see go-livepeer eth/accountmanager.go and the
//! keystore set-up in cmd/livepeer/starter).
//!
//! Encryption and decryption are alloy's keystore support (the `eth-keystore` crate); nothing
//! here derives keys itself. Decrypting runs scrypt, about a second at geth's standard
//! n = 2^18, so [`open_account`] does all of its work on a blocking thread.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use alloy::signers::local::{LocalSignerError, PrivateKeySigner};
use tracing::{debug, info, warn};

use crate::EthError;

/// The keystore directory under `-dataDir` when `-ethKeystorePath` is not given (go-livepeer's
/// `<dataDir>/keystore`).
pub const DEFAULT_KEYSTORE_DIR: &str = "keystore";

/// Which account to use and how to unlock it: the `-ethAcctAddr`, `-ethKeystorePath` and
/// `-ethPassword` flags, resolved.
#[derive(Clone)]
pub struct AccountConfig {
    /// `-ethAcctAddr`: the account to use; `None` takes the keystore's only key, or creates
    /// one in an empty keystore.
    pub address: Option<Address>,
    /// `-ethKeystorePath`: a keystore directory (created when missing) or one key file.
    pub keystore: PathBuf,
    /// The password (see [`password_from_flag`]); `None` asks on the terminal when standard
    /// input is one, and is [`EthError::NoPassword`] otherwise.
    pub password: Option<String>,
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("address", &self.address)
            .field("keystore", &self.keystore)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// An unlocked account.
#[derive(Debug, Clone)]
pub struct Account {
    /// The key, ready to sign transactions and tickets.
    pub signer: PrivateKeySigner,
    /// Its key file.
    pub path: PathBuf,
    /// Whether it was created by this start (the operator has to fund it).
    pub created: bool,
}

impl Account {
    /// The account's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }
}

/// One key file of a keystore, by the address its JSON declares (not yet decrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// The `address` field of the file.
    pub address: Address,
    /// The file.
    pub path: PathBuf,
}

/// The password an `-ethPassword` value names, as go-livepeer reads it: when the value is the
/// path of an existing file, the file's first line (without its line ending); otherwise the
/// value itself.
///
/// Errors: [`EthError::Password`] when the file exists but cannot be read.
pub fn password_from_flag(value: &str) -> Result<String, EthError> {
    let path = Path::new(value);
    if !path.is_file() {
        return Ok(value.to_string());
    }
    let text = std::fs::read_to_string(path).map_err(|e| EthError::Password {
        source_name: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let first = text.lines().next().unwrap_or_default();
    Ok(first.strip_suffix('\r').unwrap_or(first).to_string())
}

/// The keys of a keystore, sorted by file name: every file of the directory that is V3 JSON
/// with an `address` (others are skipped with a debug log, as geth skips them), or the one
/// file `keystore` names. A directory that does not exist holds no keys.
///
/// Errors: [`EthError::Keystore`] when the directory cannot be listed, [`EthError::KeyFile`]
/// when `keystore` is a file that is not a key.
pub fn list_keys(keystore: &Path) -> Result<Vec<KeyFile>, EthError> {
    if keystore.is_file() {
        return read_key_header(keystore).map(|key| vec![key]);
    }
    let entries = match std::fs::read_dir(keystore) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(EthError::Keystore {
                path: keystore.to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            // geth skips editor backups, dotfiles and subdirectories.
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            path.is_file() && !name.starts_with('.') && !name.ends_with('~')
        })
        .collect();
    paths.sort();
    let mut keys = Vec::new();
    for path in paths {
        match read_key_header(&path) {
            Ok(key) => keys.push(key),
            Err(err) => debug!(%err, "skipping a file of the keystore"),
        }
    }
    Ok(keys)
}

/// The `address` a key file declares.
fn read_key_header(path: &Path) -> Result<KeyFile, EthError> {
    #[derive(serde::Deserialize)]
    struct Header {
        address: String,
        version: u8,
    }
    let bad = |reason: String| EthError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let header: Header = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a Web3 Secret Storage key with an address: {e}"
        ))
    })?;
    if header.version != 3 {
        return Err(bad(format!(
            "version {} (only version 3 is supported)",
            header.version
        )));
    }
    let address = header
        .address
        .parse()
        .map_err(|e| bad(format!("address {:?}: {e}", header.address)))?;
    Ok(KeyFile {
        address,
        path: path.to_path_buf(),
    })
}

/// Decrypts `key` with `password` and checks that it is the key of the address the file
/// declares. Runs scrypt: call it from a blocking thread.
///
/// Errors: [`EthError::WrongPassword`] when the MAC does not match, [`EthError::KeyFile`] when
/// the file is unreadable, malformed or holds another address's key.
pub fn decrypt_key(key: &KeyFile, password: &str) -> Result<PrivateKeySigner, EthError> {
    let signer = PrivateKeySigner::decrypt_keystore(&key.path, password).map_err(|e| {
        if let LocalSignerError::EthKeystoreError(eth_keystore::KeystoreError::MacMismatch) = e {
            return EthError::WrongPassword {
                address: key.address,
                path: key.path.clone(),
            };
        }
        EthError::KeyFile {
            path: key.path.clone(),
            reason: e.to_string(),
        }
    })?;
    if signer.address() != key.address {
        return Err(EthError::KeyFile {
            path: key.path.clone(),
            reason: format!(
                "it declares address {} but holds the key of {}",
                key.address,
                signer.address()
            ),
        });
    }
    Ok(signer)
}

/// Creates a new random account in the keystore directory `dir` (created, mode 0700, when
/// missing), encrypted with `password` at the library's default scrypt parameters, in a file
/// named as geth names them (`UTC--<timestamp>--<address-hex>`, mode 0600) with the `address`
/// field geth and go-livepeer index keys by.
///
/// Errors: [`EthError::Keystore`] when the directory or file cannot be written.
pub fn create_key(dir: &Path, password: &str) -> Result<(KeyFile, PrivateKeySigner), EthError> {
    import_key(dir, &PrivateKeySigner::random(), password)
}

/// Writes `key` into the keystore directory `dir` as [`create_key`] writes a new one (the
/// devnet gives each node its dev account this way).
///
/// Errors: [`EthError::Keystore`] when the directory or file cannot be written.
pub fn import_key(
    dir: &Path,
    key: &PrivateKeySigner,
    password: &str,
) -> Result<(KeyFile, PrivateKeySigner), EthError> {
    let failed = |reason: String| EthError::Keystore {
        path: dir.to_path_buf(),
        reason,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| failed(e.to_string()))?;
    let fresh = key;
    let name = key_file_name(fresh.address(), time::OffsetDateTime::now_utc());
    // eth-keystore takes rand 0.8's traits, which rand_core 0.6's OsRng implements.
    let mut rng = alloy::signers::k256::elliptic_curve::rand_core::OsRng;
    let (signer, _uuid) =
        PrivateKeySigner::encrypt_keystore(dir, &mut rng, fresh.to_bytes(), password, Some(&name))
            .map_err(|e| failed(e.to_string()))?;
    let path = dir.join(&name);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| failed(e.to_string()))?;
    }
    Ok((
        KeyFile {
            address: signer.address(),
            path,
        },
        signer,
    ))
}

/// geth's key file name: `UTC--2016-03-22T12-57-55.920751759Z--<address, lowercase hex>`
/// (see go-ethereum accounts/keystore/key.go `keyFileName`; the fraction is nanoseconds
/// without trailing zeros).
pub fn key_file_name(address: Address, at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let nanos = format!("{:09}", at.nanosecond());
    let nanos = nanos.trim_end_matches('0');
    let fraction = if nanos.is_empty() {
        String::new()
    } else {
        format!(".{nanos}")
    };
    format!(
        "UTC--{:04}-{:02}-{:02}T{:02}-{:02}-{:02}{fraction}Z--{}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        alloy::hex::encode(address)
    )
}

/// What the keystore says to do.
enum Choice {
    /// Unlock this key.
    Existing(KeyFile),
    /// The keystore directory holds no key: create one there.
    Create(PathBuf),
}

/// Picks the key for `address` (or the only key) among `keystore`'s.
fn choose(keystore: &Path, address: Option<Address>) -> Result<Choice, EthError> {
    let keys = list_keys(keystore)?;
    let available = || keys.iter().map(|k| k.address).collect::<Vec<_>>();
    match address {
        Some(address) => match keys.iter().find(|k| k.address == address) {
            Some(key) => Ok(Choice::Existing(key.clone())),
            None => Err(EthError::AccountNotFound {
                address,
                keystore: keystore.to_path_buf(),
                available: available(),
            }),
        },
        None => match keys.as_slice() {
            [] => Ok(Choice::Create(keystore.to_path_buf())),
            [only] => Ok(Choice::Existing(only.clone())),
            _ => Err(EthError::AmbiguousAccount {
                keystore: keystore.to_path_buf(),
                available: available(),
            }),
        },
    }
}

/// The password: the configured one, or asked on the terminal (twice, to confirm, for a new
/// account).
fn password(config: &AccountConfig, creating: bool) -> Result<String, EthError> {
    if let Some(password) = &config.password {
        return Ok(password.clone());
    }
    if !std::io::stdin().is_terminal() {
        return Err(EthError::NoPassword {
            keystore: config.keystore.clone(),
        });
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text).map_err(|e| EthError::Password {
            source_name: "the terminal".into(),
            reason: e.to_string(),
        })
    };
    if !creating {
        return prompt("Password of the account key: ");
    }
    loop {
        let first = prompt("Password for the new account key: ")?;
        if prompt("Repeat the password: ")? == first {
            return Ok(first);
        }
        eprintln!("The passwords differ; try again.");
    }
}

/// Opens the account the config names, on a blocking thread: the key for
/// [`AccountConfig::address`] in the keystore, or its only key when no address is given; in a
/// keystore directory with no key at all (and no address asked for), a new account encrypted
/// with the password, logged with a request to fund it.
///
/// This follows go-livepeer eth/accountmanager.go `NewAccountManager`, but refuses where it
/// guesses: go-livepeer takes the first of several keys and creates a new account when
/// `-ethAcctAddr` is not in the keystore; here both are errors naming the keys there.
///
/// Errors: [`EthError::AccountNotFound`], [`EthError::AmbiguousAccount`],
/// [`EthError::NoPassword`], [`EthError::WrongPassword`], [`EthError::KeyFile`],
/// [`EthError::Keystore`], [`EthError::Password`]; each displays as one line.
pub async fn open_account(config: AccountConfig) -> Result<Account, EthError> {
    match tokio::task::spawn_blocking(move || open_account_blocking(&config)).await {
        Ok(result) => result,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

/// [`open_account`] on the calling thread (which it blocks for the scrypt run, and on the
/// terminal prompt).
pub fn open_account_blocking(config: &AccountConfig) -> Result<Account, EthError> {
    match choose(&config.keystore, config.address)? {
        Choice::Existing(key) => {
            let password = password(config, false)?;
            let signer = decrypt_key(&key, &password)?;
            Ok(Account {
                signer,
                path: key.path,
                created: false,
            })
        }
        Choice::Create(dir) => {
            info!(keystore = %dir.display(), "no account key found; creating a new account");
            let password = password(config, true)?;
            let (key, signer) = create_key(&dir, &password)?;
            warn!(
                address = %key.address,
                key_file = %key.path.display(),
                "created a new account; fund {} with ETH for gas before it can transact",
                key.address
            );
            Ok(Account {
                signer,
                path: key.path,
                created: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_names_are_geths() {
        let address: Address = "0x7ef5a6135f1fd6a02593eedc869c6d41d934aef8"
            .parse()
            .expect("valid");
        let cases = [
            (
                1_458_651_475_920_751_759_i128,
                "UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8",
            ),
            (
                1_458_651_475_500_000_000,
                "UTC--2016-03-22T12-57-55.5Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8",
            ),
            (
                1_458_651_475_000_000_000,
                "UTC--2016-03-22T12-57-55Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8",
            ),
        ];
        for (nanos, want) in cases {
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).expect("valid");
            assert_eq!(key_file_name(address, at), want);
        }
    }
}
