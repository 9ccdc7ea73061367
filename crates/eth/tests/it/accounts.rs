//! Accounts in real keystore directories: created, reloaded, found by address, refused with
//! one-line errors, and geth's own key files read.

use std::path::Path;

use alloy::primitives::{Address, address};
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
