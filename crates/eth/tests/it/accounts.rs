//! Accounts in real keystore directories: created, reloaded, found by address, refused with
//! one-line errors, geth's own key files read, and key files exchanged both ways with an
//! independent implementation (Python's eth-account, in the venv `scripts/setup.sh` makes).

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, address};
use livepeer_eth::EthError;
use livepeer_eth::accounts::{
    AccountConfig, create_key, decrypt_key, list_keys, open_account, password_from_flag,
};

/// A key geth wrote (go-ethereum accounts/keystore/testdata/keystore, password "foobar",
/// scrypt with geth's test parameters n=8, r=8, p=16).
const GETH_KEY: &str = r#"{"address":"7ef5a6135f1fd6a02593eedc869c6d41d934aef8","crypto":{"cipher":"aes-128-ctr","ciphertext":"1d0839166e7a15b9c1333fc865d69858b22df26815ccf601b28219b6192974e1","cipherparams":{"iv":"8df6caa7ff1b00c4e871f002cb7921ed"},"kdf":"scrypt","kdfparams":{"dklen":32,"n":8,"p":16,"r":8,"salt":"e5e6ef3f4ea695f496b643ebd3f75c0aa58ef4070e90c80c5d3fb0241bf1595c"},"mac":"6d16dfde774845e4585357f24bce530528bc69f4f84e1e22880d34fa45c273e5"},"id":"950077c7-71e3-4c44-a4a1-143919141ed4","version":3}"#;
const GETH_KEY_NAME: &str =
    "UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8";
const GETH_ADDRESS: Address = address!("7ef5a6135f1fd6a02593eedc869c6d41d934aef8");

/// The venv interpreter with eth-account, from the workspace root (see `scripts/setup.sh`).
const ETH_ACCOUNT_PYTHON: &str = ".setup/pyenv/bin/python";

/// Decrypts the key file `sys.argv[1]` with the password `sys.argv[2]`; prints the key and
/// its checksummed address as JSON, or exits 3 with the reason when eth-account refuses.
const ETH_ACCOUNT_DECRYPT: &str = r#"
import json, sys
from eth_account import Account
with open(sys.argv[1]) as f:
    keyfile = json.load(f)
try:
    key = Account.decrypt(keyfile, sys.argv[2])
except ValueError as e:
    print(e, file=sys.stderr)
    sys.exit(3)
print(json.dumps({"key": bytes(key).hex(), "address": Account.from_key(key).address}))
"#;

/// Creates a random account and writes it, encrypted with the password `sys.argv[2]` by the KDF
/// `sys.argv[3]` at `sys.argv[4]` iterations, into the directory `sys.argv[1]` under a geth
/// name (`UTC--<time>--<address-hex>`); prints the key, its address and the file as JSON.
const ETH_ACCOUNT_ENCRYPT: &str = r#"
import datetime, json, os, sys
from eth_account import Account
account = Account.create()
keyfile = Account.encrypt(account.key, sys.argv[2], kdf=sys.argv[3], iterations=int(sys.argv[4]))
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
path = os.path.join(sys.argv[1], "UTC--" + now + "--" + account.address[2:].lower())
with open(path, "w") as f:
    json.dump(keyfile, f)
print(json.dumps({"key": bytes(account.key).hex(), "address": account.address, "path": path}))
"#;

/// A key as eth-account has it.
#[derive(Debug, PartialEq, Eq)]
struct EthAccountKey {
    key: B256,
    address: Address,
}

/// Runs `script` with `args` under the venv's interpreter: its standard output on success,
/// `Err` with its standard error when it exits 3 (eth-account refused), a panic otherwise.
async fn eth_account(script: &str, args: &[&std::ffi::OsStr]) -> Result<serde_json::Value, String> {
    // Found at run time (cargo sets CARGO_MANIFEST_DIR for the test process), never through a
    // path compiled in: build artifacts are shared between checkouts.
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| Path::new(&d).join("../.."))
        .unwrap_or_else(|| Path::new("../..").to_path_buf());
    let python = root.join(ETH_ACCOUNT_PYTHON);
    assert!(
        python.is_file(),
        "{ETH_ACCOUNT_PYTHON} is missing: run `make test` or `scripts/setup.sh`, which install \
         eth-account there for these tests"
    );
    let out = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("must succeed");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(serde_json::from_slice(&out.stdout).expect("must succeed")),
        Some(3) => Err(stderr),
        _ => panic!(
            "{ETH_ACCOUNT_PYTHON} failed ({}); re-run `scripts/setup.sh` if eth-account is \
             missing:\n{stderr}",
            out.status
        ),
    }
}

/// eth-account's decryption of the key file at `path`, or its refusal.
async fn eth_account_decrypt(path: &Path, password: &str) -> Result<EthAccountKey, String> {
    let out = eth_account(ETH_ACCOUNT_DECRYPT, &[path.as_os_str(), password.as_ref()]).await?;
    Ok(eth_account_key(&out))
}

fn eth_account_key(out: &serde_json::Value) -> EthAccountKey {
    let field = |name: &str| out[name].as_str().expect("must succeed").to_string();
    EthAccountKey {
        key: field("key").parse().expect("must succeed"),
        address: field("address").parse().expect("must succeed"),
    }
}

fn config(keystore: &Path, address: Option<Address>, password: &str) -> AccountConfig {
    AccountConfig {
        address,
        keystore: keystore.to_path_buf(),
        password: Some(password.into()),
    }
}

#[tokio::test]
async fn a_new_account_is_created_once_and_reloads_with_its_password() {
    let tmp = tempfile::tempdir().expect("must succeed");
    let keystore = tmp.path().join("keystore");

    let created = open_account(config(&keystore, None, "s3cret"))
        .await
        .expect("must succeed");
    assert!(created.created);
    let name = created
        .path
        .file_name()
        .expect("must succeed")
        .to_str()
        .expect("must succeed");
    assert!(name.starts_with("UTC--"), "{name}");
    assert!(
        name.ends_with(&format!("--{}", alloy::hex::encode(created.address()))),
        "{name}"
    );
    // The JSON geth and go-livepeer index by address: V3, scrypt, with the address field.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&created.path).expect("must succeed"))
            .expect("must succeed");
    assert_eq!(json["version"], 3);
    assert_eq!(json["crypto"]["kdf"], "scrypt");
    assert_eq!(
        json["address"]
            .as_str()
            .expect("must succeed")
            .parse::<Address>()
            .expect("must succeed"),
        created.address()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&created.path)
            .expect("must succeed")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    }

    // A second start finds it instead of creating another, by address or as the only key.
    for address in [None, Some(created.address())] {
        let reloaded = open_account(config(&keystore, address, "s3cret"))
            .await
            .expect("must succeed");
        assert!(!reloaded.created);
        assert_eq!(reloaded.address(), created.address());
        assert_eq!(reloaded.path, created.path);
    }
    assert_eq!(list_keys(&keystore).expect("must succeed").len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_one_line_naming_the_account() {
    let tmp = tempfile::tempdir().expect("must succeed");
    let (key, _) = create_key(tmp.path(), "right").expect("must succeed");

    let err = open_account(config(tmp.path(), None, "wrong"))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&err, EthError::WrongPassword { address, path } if *address == key.address && *path == key.path),
        "{err:?}"
    );
    let line = err.to_string();
    assert!(
        line.starts_with(&format!("wrong password for account {}", key.address)),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
}

#[tokio::test]
async fn a_key_file_geth_wrote_is_read() {
    let tmp = tempfile::tempdir().expect("must succeed");
    let path = tmp.path().join(GETH_KEY_NAME);
    std::fs::write(&path, GETH_KEY).expect("must succeed");

    // Through the directory, by address, and as -ethKeystorePath naming the file itself.
    for (keystore, address) in [
        (tmp.path(), Some(GETH_ADDRESS)),
        (tmp.path(), None),
        (path.as_path(), None),
    ] {
        let account = open_account(config(keystore, address, "foobar"))
            .await
            .expect("must succeed");
        assert_eq!(account.address(), GETH_ADDRESS);
        assert_eq!(account.path, path);
        assert!(!account.created);
    }
    let err = decrypt_key(&list_keys(&path).expect("must succeed")[0], "foobaz")
        .expect_err("must be refused");
    assert!(matches!(err, EthError::WrongPassword { .. }), "{err:?}");
}

#[tokio::test]
async fn several_keys_and_no_address_is_an_error_listing_them() {
    let tmp = tempfile::tempdir().expect("must succeed");
    let (a, _) = create_key(tmp.path(), "pw").expect("must succeed");
    std::fs::write(tmp.path().join(GETH_KEY_NAME), GETH_KEY).expect("must succeed");
    // Not a key: skipped, as geth skips it.
    std::fs::write(tmp.path().join("README"), "not a key").expect("must succeed");

    let err = open_account(config(tmp.path(), None, "pw"))
        .await
        .expect_err("must be refused");
    let EthError::AmbiguousAccount { available, .. } = &err else {
        panic!("{err:?}");
    };
    let mut want = vec![a.address, GETH_ADDRESS];
    let mut got = available.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let line = err.to_string();
    for address in &want {
        assert!(line.contains(&address.to_string()), "{line}");
    }
    assert!(line.contains("-ethAcctAddr"), "{line}");

    // Naming one of them picks it.
    let chosen = open_account(config(tmp.path(), Some(GETH_ADDRESS), "foobar"))
        .await
        .expect("must succeed");
    assert_eq!(chosen.address(), GETH_ADDRESS);
}

#[tokio::test]
async fn an_account_not_in_the_keystore_is_an_error_not_a_new_key() {
    let tmp = tempfile::tempdir().expect("must succeed");
    std::fs::write(tmp.path().join(GETH_KEY_NAME), GETH_KEY).expect("must succeed");
    let missing = address!("00000000000000000000000000000000000000aa");

    let err = open_account(config(tmp.path(), Some(missing), "foobar"))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&err, EthError::AccountNotFound { address, available, .. } if *address == missing && available == &[GETH_ADDRESS]),
        "{err:?}"
    );
    assert!(err.to_string().contains(&GETH_ADDRESS.to_string()));
    assert_eq!(
        list_keys(tmp.path()).expect("must succeed").len(),
        1,
        "nothing created"
    );
}

#[tokio::test]
async fn an_unreadable_key_file_is_one_line_naming_it() {
    let tmp = tempfile::tempdir().expect("must succeed");
    let path = tmp.path().join("key.json");
    std::fs::write(&path, "{ not json").expect("must succeed");

    let err = open_account(config(&path, None, "pw"))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(&err, EthError::KeyFile { path: p, .. } if *p == path),
        "{err:?}"
    );
    let line = err.to_string();
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn eth_password_is_the_value_or_the_first_line_of_the_file_it_names() {
    let tmp = tempfile::tempdir().expect("must succeed");
    let file = tmp.path().join("password.txt");
    let cases = [
        ("hunter2\nsecond line\n", "hunter2"),
        ("windows\r\n", "windows"),
        ("no newline", "no newline"),
        ("", ""),
    ];
    for (contents, want) in cases {
        std::fs::write(&file, contents).expect("must succeed");
        assert_eq!(
            password_from_flag(file.to_str().expect("must succeed")).expect("must succeed"),
            want
        );
    }
    // Not a file: the value is the password.
    let absent = tmp.path().join("absent");
    assert_eq!(
        password_from_flag(absent.to_str().expect("must succeed")).expect("must succeed"),
        absent.to_str().expect("must succeed")
    );
    assert_eq!(password_from_flag("plain").expect("must succeed"), "plain");
}

#[tokio::test]
async fn keys_our_node_writes_are_read_by_eth_account() {
    let tmp = tempfile::tempdir().expect("must succeed");
    let (written, written_signer) =
        create_key(&tmp.path().join("created"), "s3cret").expect("must succeed");
    let opened = open_account(config(&tmp.path().join("opened"), None, "s3cret"))
        .await
        .expect("must succeed");
    assert!(opened.created);

    for (path, signer) in [
        (written.path, written_signer),
        (opened.path.clone(), opened.signer.clone()),
    ] {
        let decrypted = eth_account_decrypt(&path, "s3cret")
            .await
            .expect("eth-account decrypts the key file");
        assert_eq!(
            decrypted,
            EthAccountKey {
                key: signer.to_bytes(),
                address: signer.address(),
            },
            "{}",
            path.display()
        );
        let refused = eth_account_decrypt(&path, "s3cre")
            .await
            .expect_err("eth-account refuses a wrong password");
        assert!(refused.contains("MAC mismatch"), "{refused}");
    }
}

#[tokio::test]
async fn keys_eth_account_writes_are_read_by_our_node() {
    // Both KDFs of Web3 Secret Storage, at iteration counts that keep a debug build quick.
    for (kdf, iterations) in [("scrypt", "8192"), ("pbkdf2", "1000")] {
        let tmp = tempfile::tempdir().expect("must succeed");
        let out = eth_account(
            ETH_ACCOUNT_ENCRYPT,
            &[
                tmp.path().as_os_str(),
                "s3cret".as_ref(),
                kdf.as_ref(),
                iterations.as_ref(),
            ],
        )
        .await
        .expect("eth-account writes a key file");
        let want = eth_account_key(&out);
        let path = PathBuf::from(out["path"].as_str().expect("must succeed"));

        // As the keystore's only key and by the (checksummed, in its file) address.
        for address in [None, Some(want.address)] {
            let account = open_account(config(tmp.path(), address, "s3cret"))
                .await
                .unwrap_or_else(|e| panic!("{kdf}: {e}"));
            assert_eq!(account.address(), want.address, "{kdf}");
            assert_eq!(account.signer.to_bytes(), want.key, "{kdf}");
            assert_eq!(account.path, path, "{kdf}");
            assert!(!account.created, "{kdf}");
        }

        let err = open_account(config(tmp.path(), None, "s3cre"))
            .await
            .expect_err("must be refused");
        assert!(
            matches!(&err, EthError::WrongPassword { address, path: p } if *address == want.address && *p == path),
            "{kdf}: {err:?}"
        );
        let key = &list_keys(&path).expect("must succeed")[0];
        let err = decrypt_key(key, "").expect_err("must be refused");
        assert!(
            matches!(err, EthError::WrongPassword { .. }),
            "{kdf}: {err:?}"
        );
    }
}
